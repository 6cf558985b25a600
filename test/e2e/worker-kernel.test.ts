// The real kernel through a running `lxl server` (own process, signing with the
// test key): `lxl worker` packages the minimal x86_64 6.1 build (the kernel
// engineer's cached build, test/support/kernel-cache.ts), uploads, an admin
// publishes; then, with signature checks on, apt-get in a bookworm chroot
// installs linux-xen-legacy (depmod and the /etc/kernel/postinst.d hooks run)
// and dnf --installroot installs kernel-xen-legacy; the image taken from the
// published .deb boots as a legacy Xen PV guest under QEMU TCG (DESIGN.md §8).
// Another test runs the full pipeline once (source, patches, config, make) through the worker and checks
// that its packages are byte-identical to those made from the cached build. Both compile through ccache
// when it is installed, so the second takes most objects from the first.

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { ccacheLinks } from '../../builders/kernel-build.js';
import { cachedKernel, kernelBuildUnavailable } from '../support/kernel-cache.js';
import { api, spawnRepoServer, type RepoServer } from '../support/server-harness.js';
import { runXenGuest } from '../support/xen-guest.js';
import { xenUnavailable } from '../support/xen-host.js';
import { tempDir } from '../support/tmp.js';
import { CACHE_DIR } from '../support/chroot.js';
import { packRpm, shellSpec } from './rpm-fixture.js';
import { assertFullBuildLog, assertSameAsCachedBuild } from '../support/full-build-checks.js';

const VERSION = '6.1.192+1~legacy1';
const skipKernel = kernelBuildUnavailable() ?? missingTools('tar', 'xz', 'patch', 'gpgv');
const servers: RepoServer[] = [];
after(async () => {
  for (const s of servers) await s.dispose();
});

async function serverWithRepo(): Promise<RepoServer> {
  const fx = await spawnRepoServer('lxl-worker-server-');
  servers.push(fx);
  return fx;
}

async function waitJobDone(url: string, id: string): Promise<Record<string, any>> {
  const j = (await api(url, 'GET', `/api/v1/jobs/${id}`)).json.job;
  assert.ok(j.state === 'succeeded' || j.state === 'failed', `job still ${j.state}`);
  return j;
}

async function publish(url: string, admin: string): Promise<void> {
  const res = await api(url, 'POST', '/api/v1/repos/main/publish', { token: admin });
  assert.equal(res.status, 202, res.text);
  for (let i = 0; i < 600; i++) {
    const p = (await api(url, 'GET', `/api/v1/publishes/${res.json.publish.id}`)).json.publish;
    if (p.state === 'succeeded') return;
    assert.notEqual(p.state, 'failed', JSON.stringify(p));
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('publish did not finish in 60 s');
}

/** The worker's packages of the cached minimal kernel, uploaded and published once for the tests below. */
let published: Promise<{ kernel: Awaited<ReturnType<typeof cachedKernel>>; fx: Awaited<ReturnType<typeof serverWithRepo>>; keyring: Buffer; krel: string }> | undefined;
function publishedKernel() {
  published ??= (async () => {
    const kernel = await cachedKernel({ arch: 'x86_64', flavour: 'minimal' });
    const fx = await serverWithRepo();
    const enq = await api(fx.server.url, 'POST', '/api/v1/jobs', { token: fx.admin, body: { repo: 'main', params: { line: '6.1', version: VERSION, flavour: 'minimal', arch: 'x86_64' } } });
    assert.equal(enq.status, 201, enq.text);
    const dir = await tempDir();
    await lxl(['worker', '--server', fx.server.url, '--token', fx.builder, '--once', '--work-dir', path.join(dir, 'work'), '--stage-from', kernel.stageDir], {
      env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
    });
    const job = await waitJobDone(fx.server.url, enq.json.job.id);
    assert.equal(job.state, 'succeeded', JSON.stringify(job));
    assert.equal(job.result.krel, kernel.krel);
    await publish(fx.server.url, fx.admin);
    const keyring = await readFile(path.join(fx.varDir, 'public', 'keys', 'linux-xen-legacy.gpg'));
    const krel = kernel.krel;
    return { kernel, fx, keyring, krel };
  })();
  return published;
}

test('the minimal 6.1 kernel: leased, packaged, uploaded, published; apt-get and dnf install it with signature checks', { skip: skipKernel, timeout: 30 * 60_000 }, async () => {
  const { kernel, fx, keyring, krel } = await publishedKernel();

  const skipApt = chrootUnavailable();
  if (skipApt) process.stdout.write(`# apt part skipped: ${skipApt}\n`);
  else {
    const c = await makeChroot('bookworm', { include: ['kmod'] });
    try {
      await rm(path.join(c.root, 'etc/apt/sources.list'), { force: true });
      await rm(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
      await mkdir(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true });
      await mkdir(path.join(c.root, 'etc/apt/keyrings'), { recursive: true });
      await writeFile(path.join(c.root, 'etc/apt/keyrings/lxl.gpg'), keyring);
      await writeFile(path.join(c.root, 'etc/apt/sources.list.d/lxl.list'), `deb [signed-by=/etc/apt/keyrings/lxl.gpg] ${fx.server.url}/apt/main testing main\n`);
      await mkdir(path.join(c.root, 'etc/kernel/postinst.d'), { recursive: true });
      const hook = path.join(c.root, 'etc/kernel/postinst.d/zz-lxl-test');
      await writeFile(hook, '#!/bin/sh\necho "$*" >> /tmp/postinst-hook\n');
      await chmod(hook, 0o755);
      const upd = await c.run(['apt-get', 'update']);
      assert.doesNotMatch(`${upd.stdout}${upd.stderr}`, /^(W|E):/m, upd.stdout + upd.stderr);
      await c.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', '--no-install-recommends', 'linux-xen-legacy']);
      assert.equal((await c.run(['dpkg-query', '-W', '-f=${Version}', `linux-image-${krel}`])).stdout, VERSION);
      assert.deepEqual(await readFile(path.join(c.root, 'boot', `vmlinuz-${krel}`)), await readFile(kernel.bzImage));
      assert.ok((await stat(path.join(c.root, 'lib/modules', krel))).isDirectory());
      assert.ok((await stat(path.join(c.root, 'lib/modules', krel, 'modules.dep'))).isFile(), 'depmod did not run');
      assert.equal((await readFile(path.join(c.root, 'tmp/postinst-hook'), 'utf8')).trim(), `${krel} /boot/vmlinuz-${krel}`);
    } finally {
      await removeChroot(c);
    }
  }

  const skipDnf = missingTools('dnf', 'rpm');
  if (skipDnf) process.stdout.write(`# dnf part skipped: ${skipDnf}\n`);
  else {
    const root = await tempDir('lxl-dnf-root-');
    const reposdir = path.join(root, 'no-repos');
    await mkdir(reposdir);
    const base = `${fx.server.url}/yum/main-testing/`;
    // The kernel's scriptlets need /bin/sh: a static busybox package provides it in the empty root, so %post really runs.
    const shell = await packRpm(await shellSpec(root, '/bin/busybox'), path.join(root, 'shell-rpm'));
    // The worker holds no key: the server signs the rpm with the repo key when it publishes, so both checks are on.
    const dnf = await run('dnf', ['-y', '--installroot', root, '--releasever', '9', '--setopt', `reposdir=${reposdir}`, '--setopt', `cachedir=${path.join(root, 'var/cache/dnf')}`, '--setopt', 'install_weak_deps=0', '--nodocs',
      '--repofrompath', `lxl,${base}`, '--setopt', 'lxl.gpgcheck=1', '--setopt', 'lxl.repo_gpgcheck=1', '--setopt', `lxl.gpgkey=${base}repodata/repomd.xml.key`, 'install', 'kernel-xen-legacy', shell], { timeoutMs: 300_000 });
    assert.doesNotMatch(dnf.stdout + dnf.stderr, /scriptlet failure|scriptlet failed/i, dnf.stdout + dnf.stderr);
    assert.equal((await run('rpm', ['--root', root, '-q', '--qf', '%{VERSION}-%{RELEASE}', 'kernel-xen-legacy'])).stdout, '6.1.192+1~legacy1-1');
    assert.deepEqual(await readFile(path.join(root, 'boot', `vmlinuz-${krel}`)), await readFile(kernel.bzImage));
    assert.ok((await stat(path.join(root, 'lib/modules', krel))).isDirectory());
  }
});

test('the kernel image from the published .deb boots as a legacy Xen PV guest: sda/sda1 and the console on tty1', { skip: skipKernel ?? xenUnavailable() ?? missingTools('dpkg-deb'), timeout: 30 * 60_000 }, async () => {
  const { fx, krel } = await publishedKernel();
  // What users download boots as a legacy PV guest: the image from the published .deb, fetched over HTTP.
  const index = await fetch(`${fx.server.url}/apt/main/dists/testing/main/binary-amd64/Packages.gz`);
  assert.equal(index.status, 200);
  const packages = gunzipSync(Buffer.from(await index.arrayBuffer())).toString('utf8');
  const stanza = packages.split('\n\n').find((p) => p.startsWith(`Package: linux-image-${krel}\n`));
  const filename = /^Filename: (.+)$/m.exec(stanza ?? '')?.[1];
  assert.ok(filename, `no linux-image-${krel} in Packages:\n${packages}`);
  const deb = await fetch(`${fx.server.url}/apt/main/${filename}`);
  assert.equal(deb.status, 200);
  const x = await tempDir('lxl-published-deb-');
  await writeFile(path.join(x, 'k.deb'), Buffer.from(await deb.arrayBuffer()));
  await run('dpkg-deb', ['-x', path.join(x, 'k.deb'), path.join(x, 'root')]);
  const r = await runXenGuest({ kernel: path.join(x, 'root/boot', `vmlinuz-${krel}`), extra: 'console=tty1' });
  const why = `blocks ${JSON.stringify([...r.blocks])} consoles ${JSON.stringify(r.consoles)}\n${r.guestLog.split('\n').slice(-40).join('\n')}`;
  assert.equal(r.blocks.get('sda'), '202:0', why);
  assert.equal(r.blocks.get('sda1'), '202:1', why);
  assert.match(r.consoles[0] ?? '', /^hvc0 .* 4:1$/, why);
  assert.match(r.nodes, /\/dev\/tty1$/m, why);
});

test('the full pipeline once through the worker (source, patches, config, make); same packages as from the cached build', { skip: skipKernel, timeout: 40 * 60_000 }, async (t) => {
  const kernel = await cachedKernel({ arch: 'x86_64', flavour: 'minimal' });
  const fx = await serverWithRepo();
  const enq = await api(fx.server.url, 'POST', '/api/v1/jobs', { token: fx.admin, body: { repo: 'main', params: { line: '6.1', version: VERSION, flavour: 'minimal', arch: 'x86_64' } } });
  assert.equal(enq.status, 201, enq.text);
  const dir = await tempDir();
  const started = Date.now();
  const ccache = ccacheLinks() !== undefined;
  await lxl(['worker', '--server', fx.server.url, '--token', fx.builder, '--once', '--work-dir', path.join(dir, 'work'), '--cache-dir', CACHE_DIR, ...(ccache ? ['--ccache'] : [])], { timeoutMs: 35 * 60_000 });
  t.diagnostic(`full worker build took ${Math.round((Date.now() - started) / 1000)} s`);
  const job = await waitJobDone(fx.server.url, enq.json.job.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  assertFullBuildLog(t, (await api(fx.server.url, 'GET', `/api/v1/jobs/${job.id}/log`)).text, ccache);
  await assertSameAsCachedBuild({ job, stageDir: kernel.stageDir, arch: 'x86_64', version: VERSION });
});
