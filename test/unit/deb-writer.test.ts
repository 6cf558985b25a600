// The .deb writer against the real dpkg-deb: --info, --contents and -x accept
// gzip and xz debs, the payload bytes and md5sums match the staged tree, the
// same spec gives the same bytes, and the control file matches its golden copy.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { lxl, missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { makeSpecDir } from './deb-fixtures.js';

const skip = missingTools('dpkg-deb', 'md5sum', 'xz');
const GOLDEN = new URL('../golden/deb/', import.meta.url).pathname;

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function pack(format: string, specPath: string, out: string, ...extra: string[]): Promise<string> {
  const r = await lxl(['pack', format, '--spec', specPath, '--out', out, ...extra]);
  const written = r.stdout.trim();
  assert.ok(existsSync(written), `lxl printed the written path: ${written}`);
  return written;
}

for (const compression of ['gzip', 'xz'] as const) {
  test(`deb (${compression}): dpkg-deb --info, --contents and -x accept it and see the staged tree`, { skip }, async () => {
    const dir = await tempDir();
    const specPath = await makeSpecDir(dir, { depends: ['kmod (>= 29)', 'busybox | coreutils'], provides: ['linux-image'] });
    const deb = await pack('deb', specPath, path.join(dir, 'out'), '--compression', compression);
    assert.equal(path.basename(deb), 'hello-legacy_1.0+1~x1_amd64.deb');

    const info = await run('dpkg-deb', ['--info', deb]);
    assert.match(info.stdout, /new Debian package, version 2\.0/);
    const ext = compression === 'gzip' ? 'gz' : 'xz';
    const members = (await run('ar', ['t', deb])).stdout.trim().split('\n');
    assert.deepEqual(members, ['debian-binary', `control.tar.${ext}`, `data.tar.${ext}`]);
    const field = async (f: string): Promise<string> => (await run('dpkg-deb', ['--field', deb, f])).stdout.trim();
    assert.equal(await field('Package'), 'hello-legacy');
    assert.equal(await field('Architecture'), 'amd64');
    assert.equal(await field('Depends'), 'kmod (>= 29), busybox | coreutils');
    assert.equal(await field('Provides'), 'linux-image');

    const contents = (await run('dpkg-deb', ['--contents', deb])).stdout.trim().split('\n');
    const names = contents.map((l) => l.split(/\s+/)[5]);
    assert.equal(names[0], './');
    assert.deepEqual(names, [...names].sort(), 'entries are sorted');
    for (const l of contents) assert.match(l, /^\S+ root\/root\s+\d+ 2023-11-14 22:13 \.\//, `root-owned, clamped mtime: ${l}`);
    assert.ok(contents.some((l) => l.startsWith('lrwxrwxrwx') && l.endsWith('config-link -> /boot/config-6.1.0-lxl-test')));
    assert.ok(contents.some((l) => l.startsWith('-rwxr-xr-x') && l.endsWith('./usr/share/doc/hello-legacy/tool.sh')));
    assert.ok(contents.some((l) => l.includes('with-a-rather-long-directory-name-to-pass-one-hundred-bytes/xen-blkfront-legacy-test-module-name.ko')));

    const x = path.join(dir, 'x');
    await run('dpkg-deb', ['-x', deb, x]);
    const diff = await run('diff', ['-r', '--no-dereference', path.join(dir, 'tree'), x], { allowFail: true });
    assert.equal(diff.code, 0, `extracted tree equals the staged tree:\n${diff.stdout}`);

    const ctl = path.join(dir, 'ctl');
    await run('dpkg-deb', ['-e', deb, ctl]);
    assert.deepEqual((await readdir(ctl)).sort(), ['control', 'md5sums', 'postinst', 'postrm', 'preinst', 'prerm']);
    const md5 = await run('md5sum', ['-c', path.join(ctl, 'md5sums')], { cwd: x });
    assert.equal(md5.stdout.trim().split('\n').length, 7, 'every regular file is in md5sums and matches');
  });

  test(`deb and tar (${compression}): the same spec packed twice gives the same sha256`, { skip }, async () => {
    const dir = await tempDir();
    const specPath = await makeSpecDir(dir);
    for (const format of ['deb', 'tar']) {
      const a = await pack(format, specPath, path.join(dir, `a-${format}`), '--compression', compression);
      const b = await pack(format, specPath, path.join(dir, `b-${format}`), '--compression', compression);
      assert.equal(path.basename(a), path.basename(b));
      assert.equal(await sha256(a), await sha256(b), `${format} ${compression} is reproducible`);
    }
  });
}

test('deb: SOURCE_DATE_EPOCH from the environment clamps mtimes when the spec has none', { skip }, async () => {
  const dir = await tempDir();
  const specPath = await makeSpecDir(dir, { sourceDateEpoch: undefined });
  const r = await lxl(['pack', 'deb', '--spec', specPath, '--out', path.join(dir, 'o')], { env: { ...process.env, SOURCE_DATE_EPOCH: '1234567890' } });
  const contents = (await run('dpkg-deb', ['--contents', r.stdout.trim()])).stdout.trim().split('\n');
  for (const l of contents) assert.match(l, / 2009-02-13 23:31 /, l);
});

test('deb: an epoch stays in Version but not in the file name; arch all and i386 map to Debian names', { skip }, async () => {
  const dir = await tempDir();
  const specPath = await makeSpecDir(dir, { version: '2:1.0-1', arch: 'all' });
  const deb = await pack('deb', specPath, path.join(dir, 'o'));
  assert.equal(path.basename(deb), 'hello-legacy_1.0-1_all.deb');
  assert.equal((await run('dpkg-deb', ['--field', deb, 'Version'])).stdout.trim(), '2:1.0-1');
  const spec2 = await makeSpecDir(path.join(dir, 'i'), { arch: 'i386' });
  const deb2 = await pack('deb', spec2, path.join(dir, 'o2'));
  assert.equal((await run('dpkg-deb', ['--field', deb2, 'Architecture'])).stdout.trim(), 'i386');
});

test('deb: conffiles lists files under etc/', { skip }, async () => {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'tree/etc/kernel'), { recursive: true });
  await writeFile(path.join(dir, 'tree/etc/kernel/lxl.conf'), 'x=1\n');
  const specPath = await makeSpecDir(dir);
  const deb = await pack('deb', specPath, path.join(dir, 'o'));
  const r = await run('dpkg-deb', ['--info', deb, 'conffiles']);
  assert.equal(r.stdout, '/etc/kernel/lxl.conf\n');
});

test('deb: the control file matches test/golden/deb/control (UPDATE_GOLDEN=1 rewrites it)', { skip }, async () => {
  const dir = await tempDir();
  const specPath = await makeSpecDir(dir, { depends: ['kmod', 'linux-base (>= 4.3~)'], conflicts: ['hello-legacy-old'], breaks: ['grub (<< 2)'], replaces: ['hello-legacy-old'], provides: ['hello'], recommends: ['busybox'], homepage: 'https://example.org/' });
  const deb = await pack('deb', specPath, path.join(dir, 'o'));
  const control = (await run('dpkg-deb', ['--info', deb, 'control'])).stdout;
  const masked = control; // the fixture's sizes are fixed, so Installed-Size is too
  const golden = path.join(GOLDEN, 'control');
  if (process.env.UPDATE_GOLDEN) {
    await mkdir(GOLDEN, { recursive: true });
    await writeFile(golden, masked);
  }
  assert.equal(masked, await readFile(golden, 'utf8'));
});

test('deb and tar writers reject a staged file whose size changed after the spec was read, leaving no temp file', async () => {
  const { loadSpecFile } = await import('../../repo-layout/model.js');
  const { debPackager } = await import('../../repo-layout/deb/deb-writer.js');
  const { tarPackager } = await import('../../repo-layout/tarball/tarball-writer.js');
  const { createWriteStream } = await import('node:fs');
  for (const packager of [debPackager, tarPackager]) {
    const dir = await tempDir();
    const specPath = await makeSpecDir(dir);
    const spec = await loadSpecFile(specPath);
    await writeFile(path.join(dir, 'tree/boot/System.map-6.1.0-lxl-test'), 'short\n');
    const outDir = path.join(dir, 'o');
    await mkdir(outDir);
    const out = createWriteStream(path.join(outDir, 'pkg'));
    out.on('error', () => {});
    await assert.rejects(packager.write(spec, out, { tmpDir: outDir } as object), /size changed while packing/);
    assert.equal(out.destroyed, true, `${packager.format}: out is destroyed`);
    assert.deepEqual((await readdir(outDir)).filter((f) => f !== 'pkg'), [], `${packager.format}: no temp file left`);
  }
});
