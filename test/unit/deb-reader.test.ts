// inspectDeb against our own debs, Debian's real `hello` (apt-get download),
// and broken or hostile ones: truncated, bad magic, wrong member order, a
// `..` or absolute path in data.tar, a bad control file.

import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { inspectDeb } from '../../repo-layout/deb/deb-reader.js';
import { hasCode } from '../../repo-layout/errors.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { debianDeb, makeSpecDir } from './deb-fixtures.js';

const skip = missingTools('dpkg-deb', 'ar', 'tar', 'apt-get', 'zstd');

async function ourDeb(dir: string, compression = 'gzip'): Promise<string> {
  const specPath = await makeSpecDir(dir);
  return (await lxl(['pack', 'deb', '--compression', compression, '--spec', specPath, '--out', path.join(dir, 'out')])).stdout.trim();
}

/** dpkg-deb --contents as [path, type letter, size, link target] rows, for comparison. */
async function dpkgListing(deb: string): Promise<Array<[string, string, number, string | undefined]>> {
  const lines = (await run('dpkg-deb', ['--contents', deb])).stdout.trim().split('\n');
  return lines
    .map((l) => {
      const m = /^(\S)\S+ \S+\s+(\d+) \S+ \S+ \.\/(.*?)(?: -> (.*))?$/.exec(l)!;
      return [m[3].replace(/\/$/, ''), m[1], Number(m[2]), m[4]] as [string, string, number, string | undefined];
    })
    .filter(([p]) => p !== '');
}

async function rejects(file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(inspectDeb(file, { listFiles: true }), (err: unknown) => {
    assert.ok(hasCode(err, 'E_FORMAT'), `FormatError, got ${String(err)}`);
    assert.match((err as Error).message, pattern);
    return true;
  });
}

for (const compression of ['gzip', 'xz']) {
  test(`inspectDeb reads our ${compression} deb: control and the same file list as dpkg-deb --contents`, { skip }, async () => {
    const dir = await tempDir();
    const deb = await ourDeb(dir, compression);
    const info = await inspectDeb(deb, { listFiles: true });
    assert.deepEqual(info.compression, { control: compression, data: compression });
    assert.equal(info.control.get('Package'), 'hello-legacy');
    assert.equal(info.controlText, (await run('dpkg-deb', ['--info', deb, 'control'])).stdout);
    const letter = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', other: '?' } as const;
    const ours = info.files.map((f) => [f.path, letter[f.type], f.size, f.linkTarget]);
    assert.deepEqual(ours, await dpkgListing(deb));
  });
}

test("inspectDeb reads Debian's own hello .deb (xz members)", { skip }, async () => {
  const deb = await debianDeb('hello');
  const info = await inspectDeb(deb, { listFiles: true });
  assert.equal(info.control.get('Package'), 'hello');
  assert.equal(info.control.get('Version'), (await run('dpkg-deb', ['--field', deb, 'Version'])).stdout.trim());
  assert.deepEqual(
    info.files.map((f) => f.path),
    (await dpkgListing(deb)).map(([p]) => p),
  );
  assert.ok(info.files.some((f) => f.path === 'usr/bin/hello' && f.type === 'file' && f.mode === 0o755));
});

test('inspectDeb reads a zstd deb built by dpkg-deb -Zzstd', { skip }, async () => {
  const dir = await tempDir();
  await run('dpkg-deb', ['-R', await debianDeb('hello'), path.join(dir, 'root')]);
  const deb = path.join(dir, 'hello-zstd.deb');
  await run('dpkg-deb', ['--root-owner-group', '-Zzstd', '-b', path.join(dir, 'root'), deb]);
  const info = await inspectDeb(deb, { listFiles: true });
  assert.deepEqual(info.compression, { control: 'zstd', data: 'zstd' });
  assert.equal(info.files.length, (await dpkgListing(deb)).length);
});

test("Installed-Size of a repack of Debian's hello equals the Installed-Size dpkg-gencontrol gave it", { skip }, async () => {
  const dir = await tempDir();
  const hello = await debianDeb('hello');
  await run('dpkg-deb', ['-R', hello, path.join(dir, 'tree')]);
  const scripts: Record<string, string> = {};
  for (const s of ['preinst', 'postinst', 'prerm', 'postrm']) {
    const from = path.join(dir, 'tree/DEBIAN', s);
    const to = path.join(dir, s);
    if (await rename(from, to).then(() => true, () => false)) scripts[s] = s;
  }
  await rm(path.join(dir, 'tree/DEBIAN'), { recursive: true });
  const spec = { name: 'hello', version: '1.0', arch: 'x86_64', maintainer: 'x <x@example.org>', summary: 's', root: 'tree', scripts };
  await writeFile(path.join(dir, 'spec.json'), JSON.stringify(spec));
  const deb = (await lxl(['pack', 'deb', '--spec', path.join(dir, 'spec.json'), '--out', path.join(dir, 'out')])).stdout.trim();
  const field = async (f: string): Promise<string> => (await run('dpkg-deb', ['--field', f === 'ours' ? deb : hello, 'Installed-Size'])).stdout.trim();
  assert.equal(await field('ours'), await field('debian'));
});

test('inspectDeb rejects a truncated deb, a bad magic and an empty file', { skip }, async () => {
  const dir = await tempDir();
  const deb = await ourDeb(dir);
  const cut = path.join(dir, 'cut.deb');
  await copyFile(deb, cut);
  const size = (await readFile(deb)).length;
  await truncate(cut, size - 1000);
  await rejects(cut, /truncated/);
  await truncate(cut, 100);
  await rejects(cut, /truncated/);
  const bad = path.join(dir, 'bad.deb');
  await writeFile(bad, Buffer.concat([Buffer.from('!<arcx>\n'), (await readFile(deb)).subarray(8)]));
  await rejects(bad, /bad ar magic/);
  await writeFile(bad, '');
  await rejects(bad, /bad ar magic/);
});

test('inspectDeb rejects members in the wrong order and a bad control file', { skip }, async () => {
  const dir = await tempDir();
  const deb = await ourDeb(dir);
  const parts = path.join(dir, 'parts');
  await mkdir(parts);
  await run('ar', ['x', deb], { cwd: parts });
  const wrong = path.join(dir, 'wrong.deb');
  await run('ar', ['qc', wrong, 'debian-binary', 'data.tar.gz', 'control.tar.gz'], { cwd: parts });
  await rejects(wrong, /wrong order/);

  const ctl = path.join(dir, 'ctl');
  await mkdir(ctl);
  await writeFile(path.join(ctl, 'control'), 'Package: broken\nthis is not a field\n');
  await run('tar', ['-czf', path.join(parts, 'control.tar.gz'), '-C', ctl, './control']);
  const badCtl = path.join(dir, 'badctl.deb');
  await run('ar', ['qc', badCtl, 'debian-binary', 'control.tar.gz', 'data.tar.gz'], { cwd: parts });
  await rejects(badCtl, /bad control file/);
});

for (const [what, member, pattern] of [
  ['a ".." path', '../escape', /escapes the root/],
  ['an absolute path', '/etc/escape', /absolute path/],
] as const) {
  test(`inspectDeb rejects a data.tar with ${what}`, { skip }, async () => {
    const dir = await tempDir();
    const deb = await ourDeb(dir);
    const parts = path.join(dir, 'parts');
    await mkdir(path.join(parts, 'sub'), { recursive: true });
    await run('ar', ['x', deb], { cwd: parts });
    await writeFile(path.join(dir, 'escape'), 'owned\n');
    // GNU tar keeps "../" and "/" only with -P; --transform names the member as a hostile upload would.
    const transform = member.startsWith('/') ? 's,^escape$,/etc/escape,' : 's,^escape$,../escape,';
    await run('tar', ['-czPf', path.join(parts, 'data.tar.gz'), '-C', dir, `--transform=${transform}`, 'escape']);
    const listing = (await run('tar', ['-tzPf', path.join(parts, 'data.tar.gz')])).stdout.trim();
    assert.equal(listing, member, 'the crafted tar really holds the hostile name');
    const evil = path.join(dir, 'evil.deb');
    await run('ar', ['qc', evil, 'debian-binary', 'control.tar.gz', 'data.tar.gz'], { cwd: parts });
    await rejects(evil, pattern);
    await assert.rejects(inspectDeb(evil), pattern, 'paths are checked even without listFiles');
  });
}
