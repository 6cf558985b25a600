// The kernel packages made from a fake staged tree, checked with the real
// tools: dpkg-deb, dpkg -i in a bookworm chroot (maintainer scripts, depmod,
// /etc/kernel/postinst.d hooks), rpm -qp / rpm -i --root, tar; and
// reproducibility (same inputs twice give the same sha256 for every file).

import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { writeKernelPackages, type BuiltArtifact } from '../../builders/kernel-packages.js';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { FAKE_KREL, makeFakeStage } from './builder-fixtures.js';

const VERSION = '6.1.999+1~legacy1';
const EPOCH = 1_700_000_000;

async function build(dir: string, arch: 'x86_64' | 'i386' = 'x86_64'): Promise<BuiltArtifact[]> {
  const stage = await makeFakeStage(path.join(dir, 'stage'));
  return writeKernelPackages({ stageDir: stage, krel: FAKE_KREL, arch, version: VERSION, sourceDateEpoch: EPOCH }, path.join(dir, 'out'));
}

const find = (arts: BuiltArtifact[], re: RegExp): BuiltArtifact => {
  const a = arts.find((x) => re.test(path.relative(path.dirname(path.dirname(x.file)), x.file)));
  assert.ok(a, `no artifact matches ${re}: ${arts.map((x) => x.filename).join(', ')}`);
  return a;
};

test('writes the six kernel packages with DESIGN.md §2 names', async () => {
  const arts = await build(await tempDir());
  assert.deepEqual(
    arts.map((a) => path.relative(path.dirname(path.dirname(a.file)), a.file)).sort(),
    [
      `deb/linux-image-${FAKE_KREL}_${VERSION}_amd64.deb`,
      `deb/linux-xen-legacy_${VERSION}_amd64.deb`,
      `rpm-el5/kernel-xen-legacy-6.1.999+1.legacy1-1.x86_64.rpm`,
      `rpm/kernel-xen-legacy-${VERSION}-1.x86_64.rpm`,
      `tarballs/linux-xen-legacy-${FAKE_KREL}-x86_64.tar.gz`,
      `tarballs/linux-xen-legacy-${FAKE_KREL}-x86_64.tar.xz`,
    ].sort(),
  );
  for (const a of arts) assert.equal(a.size, (await stat(a.file)).size);
});

test('dpkg-deb reads the image and meta debs: fields, files, scripts', { skip: missingTools('dpkg-deb') }, async () => {
  const arts = await build(await tempDir());
  const image = find(arts, /^deb\/linux-image-/).file;
  const meta = find(arts, /^deb\/linux-xen-legacy_/).file;
  const field = async (f: string, name: string) => (await run('dpkg-deb', ['-f', f, name])).stdout.trim();
  assert.equal(await field(image, 'Package'), `linux-image-${FAKE_KREL}`);
  assert.equal(await field(image, 'Version'), VERSION);
  assert.equal(await field(meta, 'Depends'), `linux-image-${FAKE_KREL} (= ${VERSION})`);
  const files = (await run('dpkg-deb', ['-c', image])).stdout;
  for (const p of [`./boot/vmlinuz-${FAKE_KREL}`, `./boot/System.map-${FAKE_KREL}`, `./boot/config-${FAKE_KREL}`, `./lib/modules/${FAKE_KREL}/modules.builtin`]) {
    assert.ok(files.includes(p), `${p} missing from\n${files}`);
  }
  assert.ok(!files.includes(`${FAKE_KREL}/modules.dep`), 'depmod output must not be packaged');
  const dir = await tempDir();
  await run('dpkg-deb', ['-e', image, dir]);
  assert.match(await readFile(path.join(dir, 'postinst'), 'utf8'), /run-parts --report --exit-on-error --arg=\$version \\\n\s+--arg=\$image_path \/etc\/kernel\/postinst\.d/);
  await run('sh', ['-n', path.join(dir, 'postinst')]);
});

test('dpkg -i in a bookworm chroot: depmod and the postinst.d hooks run; the meta package needs the exact image version', { skip: chrootUnavailable(), timeout: 20 * 60_000 }, async () => {
  const arts = await build(await tempDir());
  const c = await makeChroot('bookworm', { include: ['kmod'] });
  try {
    for (const d of ['postinst.d', 'postrm.d']) {
      await mkdir(path.join(c.root, 'etc/kernel', d), { recursive: true });
      const hook = path.join(c.root, 'etc/kernel', d, 'zz-lxl-test');
      await writeFile(hook, `#!/bin/sh\necho "$0 $* [$DEB_MAINT_PARAMS]" >> /tmp/hook-${d}\n`);
      await chmod(hook, 0o755);
    }
    await copyFile(find(arts, /^deb\/linux-image-/).file, path.join(c.root, 'tmp/image.deb'));
    await copyFile(find(arts, /^deb\/linux-xen-legacy_/).file, path.join(c.root, 'tmp/meta.deb'));
    // The meta package alone must not configure: it needs the exact image version.
    const alone = await c.run(['dpkg', '-i', '/tmp/meta.deb'], { allowFail: true });
    assert.notEqual(alone.code, 0);
    assert.match(alone.stderr, new RegExp(`depends on linux-image-${FAKE_KREL.replace(/\./g, '\\.')} \\(= ${VERSION.replace(/[.+]/g, '\\$&')}\\)`));
    await c.run(['dpkg', '-i', '/tmp/image.deb', '/tmp/meta.deb']);
    const hook = await readFile(path.join(c.root, 'tmp/hook-postinst.d'), 'utf8');
    // dpkg runs postinst as `configure <old version>`, empty on a first install.
    assert.match(hook.trim(), new RegExp(`^/etc/kernel/postinst\\.d/zz-lxl-test ${FAKE_KREL} /boot/vmlinuz-${FAKE_KREL} \\[configure ?\\]$`));
    assert.ok((await stat(path.join(c.root, 'boot', `vmlinuz-${FAKE_KREL}`))).isFile());
    // depmod ran: modules.dep exists although the package does not ship it.
    assert.ok((await stat(path.join(c.root, 'lib/modules', FAKE_KREL, 'modules.dep'))).isFile());
    assert.ok((await stat(path.join(c.root, 'lib/modules', FAKE_KREL, 'modules.builtin.bin'))).isFile());
    const status = (await c.run(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'linux-xen-legacy'])).stdout;
    assert.equal(status, `install ok installed ${VERSION}`);
    await c.run(['dpkg', '--purge', 'linux-xen-legacy', `linux-image-${FAKE_KREL}`]);
    assert.match(await readFile(path.join(c.root, 'tmp/hook-postrm.d'), 'utf8'), new RegExp(`${FAKE_KREL} /boot/vmlinuz-${FAKE_KREL} \\[purge\\]`));
    await assert.rejects(stat(path.join(c.root, 'lib/modules', FAKE_KREL)));
  } finally {
    await removeChroot(c);
  }
});

test('rpm -qp shows kernel = V-R and installonlypkg(kernel); rpm -i --root installs the files', { skip: missingTools('rpm') }, async () => {
  const arts = await build(await tempDir());
  for (const [re, evr] of [[/^rpm\//, '6.1.999+1~legacy1-1'], [/^rpm-el5\//, '6.1.999+1.legacy1-1']] as const) {
    const rpm = find(arts, re).file;
    const provides = (await run('rpm', ['-qp', '--provides', rpm])).stdout.split('\n');
    assert.ok(provides.includes(`kernel = ${evr}`), provides.join('\n'));
    assert.ok(provides.includes('installonlypkg(kernel)'), provides.join('\n'));
    const scripts = (await run('rpm', ['-qp', '--scripts', rpm])).stdout;
    assert.match(scripts, /kernel-install add \$version \$image_path/);
    assert.match(scripts, /new-kernel-pkg --package kernel-xen-legacy --mkinitrd --dracut --depmod --install \$version/);
  }
  const root = await tempDir();
  const rpm = find(arts, /^rpm\//).file;
  await run('rpm', ['-i', '--root', root, '--nodeps', '--ignorearch', rpm]);
  assert.equal((await run('rpm', ['-q', '--root', root, 'kernel-xen-legacy'])).stdout.trim(), 'kernel-xen-legacy-6.1.999+1~legacy1-1.x86_64');
  assert.ok((await stat(path.join(root, 'boot', `vmlinuz-${FAKE_KREL}`))).isFile());
  assert.ok((await stat(path.join(root, 'lib/modules', FAKE_KREL, 'modules.builtin'))).isFile());
  // A second kernel installs beside the first (installonly semantics come from dnf; rpm -i keeps both).
  await run('rpm', ['-V', '--root', root, '--nodeps', 'kernel-xen-legacy']);
});

test('the tarballs list boot/ and lib/modules/<krel>/, root-owned, with depmod files', { skip: missingTools('tar', 'xz') }, async () => {
  const arts = await build(await tempDir());
  for (const re of [/\.tar\.xz$/, /\.tar\.gz$/]) {
    const list = (await run('tar', ['-tvf', find(arts, re).file])).stdout;
    assert.match(list, new RegExp(`root/root .* \\./boot/vmlinuz-${FAKE_KREL}$`, 'm'));
    assert.match(list, new RegExp(`\\./lib/modules/${FAKE_KREL}/modules\\.dep$`, 'm'));
    for (const l of list.trim().split('\n')) assert.equal(l.split(/\s+/)[1], 'root/root', l);
  }
});

test('reproducible: the same inputs twice give the same sha256 for every package (deb, rpm, tarballs)', async () => {
  const a = await build(await tempDir());
  const b = await build(await tempDir());
  assert.equal(a.length, 6);
  assert.deepEqual(
    a.map((x) => [x.filename, x.sha256]),
    b.map((x) => [x.filename, x.sha256]),
  );
  const i386 = await build(await tempDir(), 'i386');
  assert.deepEqual(i386.map((x) => x.filename).filter((f) => f.endsWith('.deb') || f.endsWith('.rpm')), [
    `linux-image-${FAKE_KREL}_${VERSION}_i386.deb`,
    `linux-xen-legacy_${VERSION}_i386.deb`,
    `kernel-xen-legacy-${VERSION}-1.i686.rpm`,
    'kernel-xen-legacy-6.1.999+1.legacy1-1.i686.rpm',
  ]);
});

test('every maintainer script and scriptlet parses with sh -n (dash) and names the krel and image', { skip: missingTools('sh') }, async () => {
  const { debKernelScripts, rpmKernelScripts } = await import('../../builders/maintainer-scripts.js');
  const facts = { krel: FAKE_KREL, imagePath: `/boot/vmlinuz-${FAKE_KREL}` };
  const dir = await tempDir();
  for (const [kind, scripts] of [['deb', debKernelScripts(facts)], ['rpm', rpmKernelScripts(facts)]] as const) {
    for (const [name, body] of Object.entries(scripts)) {
      const f = path.join(dir, `${kind}-${name}`);
      await writeFile(f, body ?? '');
      await run('sh', ['-n', f]);
      assert.match(body ?? '', new RegExp(`^version=${FAKE_KREL.replace(/\./g, '\\.')}$`, 'm'));
    }
  }
  assert.throws(() => debKernelScripts({ krel: '6.1;rm -rf /', imagePath: '/boot/x' }), /unsafe characters/);
});
