// i386 through a running `lxl server` and `lxl worker`: the worker packages
// the cached minimal i386 6.1 build (test/support/kernel-cache.ts), uploads,
// an admin publishes; the published i386 .deb (binary-i386) and i686 .rpm
// carry the cached kernel image, and the rpm is signed by the server's key
// (rpm -K with only that key imported). A second test runs the whole
// pipeline (source, patches, config, make) for i386 through the worker,
// compiling through ccache, whose cache the cached build filled (as the
// x86_64 one does in worker-kernel.test.ts), and checks that its packages are
// byte-identical to those made from the cached build. Without ccache the
// build compiles every object (5-7 min on 2 CPUs): then it runs only with
// LXL_I386_FULL=1 (scripts/i386-through-worker.sh sets it).

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { CACHE_DIR } from '../support/chroot.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { ccacheLinks } from '../../builders/kernel-build.js';
import { assertFullBuildLog, assertSameAsCachedBuild } from '../support/full-build-checks.js';
import { cachedKernel, kernelBuildUnavailable } from '../support/kernel-cache.js';
import { api, spawnRepoServer, type RepoServer } from '../support/server-harness.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const VERSION = '6.1.192+1~legacy1';
const skipKernel = kernelBuildUnavailable() ?? missingTools('tar', 'xz', 'patch', 'dpkg-deb', 'rpm', 'rpmkeys', 'rpm2cpio', 'cpio');
const ccache = ccacheLinks() !== undefined;
const skipFull =
  ccache || process.env.LXL_I386_FULL === '1' ? skipKernel : 'ccache is not installed (apt-get install ccache) and LXL_I386_FULL is not 1: a full i386 build without it takes 5-7 min (scripts/i386-through-worker.sh runs it)';
const servers: RepoServer[] = [];
after(async () => {
  for (const s of servers) await s.dispose();
});

async function serverWithRepo(): Promise<RepoServer> {
  const fx = await spawnRepoServer('lxl-i386-server-');
  servers.push(fx);
  return fx;
}

/** Enqueues the i386 job, runs one worker pass with `workerArgs`, publishes; returns the job. */
async function buildAndPublish(fx: RepoServer, workerArgs: string[], timeoutMs: number): Promise<Record<string, any>> {
  const url = fx.server.url;
  const enq = await api(url, 'POST', '/api/v1/jobs', { token: fx.admin, body: { repo: 'main', params: { line: '6.1', version: VERSION, flavour: 'minimal', arch: 'i386' } } });
  assert.equal(enq.status, 201, enq.text);
  const dir = await tempDir('lxl-i386-worker-');
  await lxl(['worker', '--server', url, '--token', fx.builder, '--once', '--work-dir', path.join(dir, 'work'), ...workerArgs], {
    env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
    timeoutMs,
  });
  const job = (await api(url, 'GET', `/api/v1/jobs/${enq.json.job.id}`)).json.job;
  assert.equal(job.state, 'succeeded', JSON.stringify(job));
  const pub = await api(url, 'POST', '/api/v1/repos/main/publish', { token: fx.admin });
  assert.equal(pub.status, 202, pub.text);
  for (let i = 0; i < 1200; i++) {
    const p = (await api(url, 'GET', `/api/v1/publishes/${pub.json.publish.id}`)).json.publish;
    if (p.state === 'succeeded') return job;
    assert.notEqual(p.state, 'failed', JSON.stringify(p));
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('publish did not finish in 120 s');
}

async function fetchBytes(url: string): Promise<Buffer> {
  const r = await fetch(url);
  assert.equal(r.status, 200, url);
  return Buffer.from(await r.arrayBuffer());
}

/** Checks what guests download: the i386 deb and the signed i686 rpm hold `krel`'s image (equal to `bzImage` when given). */
async function checkPublished(fx: RepoServer, krel: string, bzImage?: Buffer): Promise<void> {
  const base = fx.server.url;
  const dir = await tempDir('lxl-i386-published-');
  // APT: linux-image-<krel> for i386 in binary-i386, and the meta package.
  const packages = gunzipSync(await fetchBytes(`${base}/apt/main/dists/testing/main/binary-i386/Packages.gz`)).toString('utf8');
  const stanza = packages.split('\n\n').find((p) => p.startsWith(`Package: linux-image-${krel}\n`));
  assert.ok(stanza, `no linux-image-${krel} in binary-i386/Packages:\n${packages}`);
  assert.match(stanza, /^Architecture: i386$/m);
  assert.match(packages, /^Package: linux-xen-legacy$/m);
  const deb = path.join(dir, 'k.deb');
  await writeFile(deb, await fetchBytes(`${base}/apt/main/${/^Filename: (.+)$/m.exec(stanza)![1]}`));
  await run('dpkg-deb', ['-x', deb, path.join(dir, 'deb')]);
  const fromDeb = await readFile(path.join(dir, 'deb/boot', `vmlinuz-${krel}`));
  if (bzImage) assert.ok(fromDeb.equals(bzImage), 'the deb image differs from the built kernel');
  // The image is a 32-bit x86 bzImage (setup header "HdrS"), not an x86_64 one by mistake.
  assert.equal(fromDeb.toString('latin1', 0x202, 0x206), 'HdrS');
  const file = (await run('file', ['-b', path.join(dir, 'deb/boot', `vmlinuz-${krel}`)], { allowFail: true })).stdout;
  if (file) assert.doesNotMatch(file, /x86_64|x86-64/i, file);

  // YUM: kernel-xen-legacy.i686 in the testing repo's primary.xml, signed by the server.
  const repomd = (await fetchBytes(`${base}/yum/main-testing/repodata/repomd.xml`)).toString('utf8');
  const primaryHref = /<data type="primary">[\s\S]*?<location href="([^"]+)"/.exec(repomd)?.[1];
  assert.ok(primaryHref, repomd);
  const primary = gunzipSync(await fetchBytes(`${base}/yum/main-testing/${primaryHref}`)).toString('utf8');
  const rpmHref = /<arch>i686<\/arch>[\s\S]*?<location href="([^"]+\.i686\.rpm)"/.exec(primary)?.[1];
  assert.ok(rpmHref, `no i686 rpm in primary.xml:\n${primary.slice(0, 2000)}`);
  const rpm = path.join(dir, 'k.rpm');
  await writeFile(rpm, await fetchBytes(`${base}/yum/main-testing/${rpmHref}`));
  const { key, dir: keyDir } = await testKey();
  const db = path.join(dir, 'rpmdb');
  await mkdir(db);
  await run('rpmkeys', ['--dbpath', db, '--import', path.join(keyDir, 'lxl-test-rsa4096.asc')]);
  const k = await run('rpm', ['--dbpath', db, '-Kv', rpm]);
  assert.ok(k.stdout.includes(`Header V4 RSA/SHA256 Signature, key ID ${key.fingerprint.slice(-8).toLowerCase()}: OK`), k.stdout);
  assert.doesNotMatch(k.stdout + k.stderr, /NOKEY|BAD|NOTFOUND/);
  assert.equal((await run('rpm', ['-qp', '--qf', '%{NAME}|%{ARCH}|%{VERSION}', rpm])).stdout, 'kernel-xen-legacy|i686|6.1.192+1~legacy1');
  await mkdir(path.join(dir, 'rpm'));
  await run('sh', ['-c', `cd '${path.join(dir, 'rpm')}' && rpm2cpio '${rpm}' | cpio -id --quiet`]);
  const fromRpm = await readFile(path.join(dir, 'rpm/boot', `vmlinuz-${krel}`));
  assert.ok(fromRpm.equals(fromDeb), 'the rpm and the deb carry different images');
}

test('i386: the cached minimal 6.1 build through server and worker; the published i386 deb and signed i686 rpm carry it', { skip: skipKernel, timeout: 30 * 60_000 }, async (t) => {
  const kernel = await cachedKernel({ arch: 'i386', flavour: 'minimal' });
  const fx = await serverWithRepo();
  const started = Date.now();
  const job = await buildAndPublish(fx, ['--stage-from', kernel.stageDir], 10 * 60_000);
  t.diagnostic(`package + upload + publish of the cached i386 kernel took ${Math.round((Date.now() - started) / 1000)} s`);
  assert.equal(job.result.krel, kernel.krel);
  await checkPublished(fx, kernel.krel, await readFile(kernel.bzImage));
});

test('i386: the full pipeline (source, patches, config, make) through server and worker; same packages as from the cached build', { skip: skipFull, timeout: 40 * 60_000 }, async (t) => {
  const kernel = await cachedKernel({ arch: 'i386', flavour: 'minimal' });
  const fx = await serverWithRepo();
  const started = Date.now();
  const job = await buildAndPublish(fx, ['--cache-dir', CACHE_DIR, ...(ccache ? ['--ccache'] : [])], 35 * 60_000);
  const seconds = Math.round((Date.now() - started) / 1000);
  t.diagnostic(`full i386 worker build + upload + publish took ${seconds} s`);
  assertFullBuildLog(t, (await api(fx.server.url, 'GET', `/api/v1/jobs/${job.id}/log`)).text, ccache);
  assert.equal(job.result.krel, kernel.krel);
  await checkPublished(fx, String(job.result.krel), await readFile(kernel.bzImage));
  await assertSameAsCachedBuild({ job, stageDir: kernel.stageDir, arch: 'i386', version: VERSION });
});
