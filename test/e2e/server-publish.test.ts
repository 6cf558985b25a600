// End to end through `lxl server` (its own process, embedded mode, signing
// with the test key): a builder uploads a .deb, an .rpm and a tarball, an
// admin publishes; then, with signature checks on, apt-get in a bookworm
// chroot and dnf --installroot install the kernel from the embedded server,
// and gpgv verifies the tarballs' SHA256SUMS. Promotion moves the build to
// the stable suite. SIGKILL during a publish leaves a consistent served repo,
// and the restarted server publishes the cut-short repo again.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { missingTools, run } from '../support/exec.js';
import { api, httpRequest, mintTokens, spawnServer, uploadFile, type SpawnedServer } from '../support/server-harness.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';
import { makeDeb } from '../support/apt-debs.js';
import { fixtureSpec, packRpm } from './rpm-fixture.js';

const KVER = '6.1.192-1';
const KREL = '6.1.192-xen-legacy';
const skipApt = chrootUnavailable() ?? missingTools('gpgv', 'tar', 'xz');
const skipDnf = missingTools('dnf', 'rpm');
const skipAll = missingTools('tar', 'xz', 'gpgv');

interface Fixture {
  varDir: string;
  server: SpawnedServer;
  admin: string;
  builder: string;
  buildId: string;
  keyFile: string;
  keyring: Buffer;
}

const servers: SpawnedServer[] = [];
after(async () => {
  for (const s of servers) await s.stop('SIGKILL');
});

async function waitPublish(url: string, id: string): Promise<Record<string, any>> {
  for (let i = 0; i < 600; i++) {
    const p = (await api(url, 'GET', `/api/v1/publishes/${id}`)).json.publish;
    if (p.state !== 'running') return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`publish ${id} still running after 60 s`);
}

async function publish(url: string, admin: string): Promise<Record<string, any>> {
  const res = await api(url, 'POST', '/api/v1/repos/main/publish', { token: admin });
  assert.equal(res.status, 202, res.text);
  const done = await waitPublish(url, res.json.publish.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done));
  return done;
}

async function setup(): Promise<Fixture> {
  const varDir = await tempDir('lxl-e2e-server-');
  const work = await tempDir('lxl-e2e-pkgs-');
  const key = await testKey();
  const keyFile = path.join(key.dir, 'lxl-test-rsa4096.secret.asc');
  const { admin, builder } = await mintTokens(varDir);
  const server = await spawnServer(varDir, [], { LXL_SIGNING_KEY: keyFile });
  servers.push(server);
  assert.equal((await api(server.url, 'POST', '/api/v1/repos', { token: admin, body: { name: 'main', settings: { lines: ['6.1'] } } })).status, 201);
  const build = await api(server.url, 'POST', '/api/v1/repos/main/builds', { token: builder, body: { line: '6.1', version: KVER, flavour: 'minimal', arch: 'x86_64' } });
  assert.equal(build.status, 201, build.text);
  const buildId = build.json.build.id as string;

  const debDir = path.join(work, 'debs');
  await mkdir(debDir);
  const image = await makeDeb(debDir, { name: `linux-image-${KREL}`, version: KVER, arch: 'x86_64' });
  const meta = await makeDeb(debDir, { name: 'linux-xen-legacy', version: KVER, arch: 'x86_64', depends: [`linux-image-${KREL} (= ${KVER})`] });
  // Unsigned, as workers make them: the server signs it with the repo key when it publishes.
  const rpm = await packRpm(await fixtureSpec(path.join(work, 'rpm'), { version: KVER, krel: KREL, extras: false, provides: ['installonlypkg(kernel)', `kernel (= ${KVER})`] }), path.join(work, 'rpms'));
  const tree = path.join(work, 'tree');
  await mkdir(path.join(tree, 'boot'), { recursive: true });
  await writeFile(path.join(tree, 'boot', `vmlinuz-${KREL}`), 'kernel image\n');
  const tarball = path.join(work, `linux-xen-legacy-${KREL}-x86_64.tar.xz`);
  await run('tar', ['-C', tree, '--owner=0', '--group=0', '-cJf', tarball, '.']);
  for (const f of [image, meta, rpm, tarball]) {
    const r = await uploadFile(server.url, 'main', f, { token: builder, build: buildId });
    assert.equal(r.status, 201, `${path.basename(f)}: ${r.text}`);
  }
  await publish(server.url, admin);
  const keyring = await httpRequest(`${server.url}/keys/linux-xen-legacy.gpg`);
  assert.equal(keyring.status, 200);
  return { varDir, server, admin, builder, buildId, keyFile, keyring: await readFile(path.join(varDir, 'public', 'keys', 'linux-xen-legacy.gpg')) };
}

const fx: Fixture | undefined = skipAll ? undefined : await setup();

test('apt-get in a bookworm chroot installs the kernel from the embedded server, signature checked', { skip: skipAll ?? skipApt, timeout: 600_000 }, async () => {
  assert.ok(fx);
  const c = await makeChroot('bookworm');
  try {
    await rm(path.join(c.root, 'etc/apt/sources.list'), { force: true });
    await rm(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
    await mkdir(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true });
    await mkdir(path.join(c.root, 'etc/apt/keyrings'), { recursive: true });
    await writeFile(path.join(c.root, 'etc/apt/keyrings/lxl.gpg'), fx.keyring);
    await writeFile(path.join(c.root, 'etc/apt/sources.list.d/lxl.list'), `deb [signed-by=/etc/apt/keyrings/lxl.gpg] ${fx.server.url}/apt/main testing main\n`);
    const upd = await c.run(['apt-get', 'update']);
    assert.doesNotMatch(`${upd.stdout}${upd.stderr}`, /^(W|E):/m, upd.stdout + upd.stderr);
    await c.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', 'linux-xen-legacy']);
    const v = await c.run(['dpkg-query', '-W', '-f=${Version}', `linux-image-${KREL}`]);
    assert.equal(v.stdout.trim(), KVER);
    // stable is empty until the build is promoted.
    await writeFile(path.join(c.root, 'etc/apt/sources.list.d/lxl.list'), `deb [signed-by=/etc/apt/keyrings/lxl.gpg] ${fx.server.url}/apt/main stable main\n`);
    await c.run(['apt-get', 'update']);
    assert.doesNotMatch((await c.run(['apt-cache', 'policy', 'linux-xen-legacy'])).stdout, /127\.0\.0\.1/);
    const pr = await api(fx.server.url, 'POST', `/api/v1/repos/main/builds/${fx.buildId}/promote`, { token: fx.admin, body: { to: 'stable' } });
    assert.equal(pr.status, 200, pr.text);
    const promoted = await publish(fx.server.url, fx.admin);
    // The testing repo already listed the rpm: its repodata elements are copied from the served documents (3 of them).
    assert.deepEqual([promoted.report?.yum?.['main-testing']?.reused, promoted.report?.yum?.main?.reused], [3, 0], JSON.stringify(promoted.report?.yum));
    await c.run(['apt-get', 'update']);
    assert.match((await c.run(['apt-cache', 'policy', 'linux-xen-legacy'])).stdout, new RegExp(`${KVER.replace(/\./g, '\\.')}.*\\n.*127\\.0\\.0\\.1.*stable`));
    // Another key: apt refuses the repo.
    const other = await testKey({ name: 'lxl-test-other' });
    await writeFile(path.join(c.root, 'etc/apt/keyrings/lxl.gpg'), other.key.publicBinary);
    await rm(path.join(c.root, 'var/lib/apt/lists'), { recursive: true, force: true });
    await mkdir(path.join(c.root, 'var/lib/apt/lists/partial'), { recursive: true });
    const refused = await c.run(['apt-get', 'update'], { allowFail: true });
    assert.notEqual(refused.code, 0, 'apt-get update trusted a repo signed by another key');
  } finally {
    await removeChroot(c);
  }
});

test('dnf --installroot installs the kernel rpm from the embedded server with gpgcheck and repo_gpgcheck', { skip: skipAll ?? skipDnf, timeout: 600_000 }, async () => {
  assert.ok(fx);
  const root = await tempDir('lxl-dnf-root-');
  const reposdir = path.join(root, 'no-repos');
  await mkdir(reposdir);
  const base = `${fx.server.url}/yum/main-testing/`;
  await run(
    'dnf',
    ['-y', '--installroot', root, '--releasever', '9', '--setopt', `reposdir=${reposdir}`, '--setopt', `cachedir=${path.join(root, 'var/cache/dnf')}`, '--setopt', 'install_weak_deps=0', '--nodocs',
      '--repofrompath', `lxl,${base}`, '--setopt', 'lxl.gpgcheck=1', '--setopt', 'lxl.repo_gpgcheck=1', '--setopt', `lxl.gpgkey=${base}repodata/repomd.xml.key`, 'install', 'kernel-xen-legacy'],
    { timeoutMs: 300_000 },
  );
  const q = await run('rpm', ['--root', root, '-q', '--qf', '%{VERSION}-%{RELEASE}', 'kernel-xen-legacy']);
  assert.equal(q.stdout.trim(), KVER);
  assert.ok((await readFile(path.join(root, 'boot', `vmlinuz-${KREL}`))).length > 0, 'the kernel image is installed');
});

test('the published .deb and rpm files are hard links of the stored artifacts (no byte copied), readable by everyone', { skip: skipAll }, async () => {
  assert.ok(fx);
  const artifacts = new Map<number, string>();
  const walk = async (dir: string, visit: (f: string) => Promise<void>): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p, visit);
      else if (e.isFile()) await visit(p);
    }
  };
  await walk(path.join(fx.varDir, 'artifacts', 'sha256'), async (f) => void artifacts.set((await stat(f)).ino, f));
  const published: string[] = [];
  await walk(path.join(fx.varDir, 'public'), async (f) => void (/\.(deb|rpm)$/.test(f) && published.push(f)));
  // Two .debs and the signed rpm (in one or both suites, as the earlier tests promoted the build or not).
  assert.ok(published.filter((f) => f.endsWith('.deb')).length === 2 && published.some((f) => f.endsWith('.rpm')), published.join('\n'));
  for (const f of published) {
    const st = await stat(f);
    assert.ok(artifacts.has(st.ino), `${f} is not a link of an artifact`);
    assert.equal(st.mode & 0o444, 0o444, `${f} must be readable by everyone`);
  }
});

test('tarballs are published with a SHA256SUMS that gpgv verifies', { skip: skipAll, timeout: 120_000 }, async () => {
  assert.ok(fx);
  const dir = await tempDir('lxl-sums-');
  for (const f of ['SHA256SUMS', 'SHA256SUMS.asc', `linux-xen-legacy-${KREL}-x86_64.tar.xz`]) {
    const r = await httpRequest(`${fx.server.url}/tarballs/main/${KREL}/${f}`);
    assert.equal(r.status, 200, f);
  }
  const sums = await httpRequest(`${fx.server.url}/tarballs/main/${KREL}/SHA256SUMS`);
  const sig = await httpRequest(`${fx.server.url}/tarballs/main/${KREL}/SHA256SUMS.asc`);
  await writeFile(path.join(dir, 'SHA256SUMS'), sums.text);
  await writeFile(path.join(dir, 'SHA256SUMS.asc'), sig.text);
  await writeFile(path.join(dir, 'keyring.gpg'), fx.keyring);
  await run('gpgv', ['--keyring', path.join(dir, 'keyring.gpg'), path.join(dir, 'SHA256SUMS.asc'), path.join(dir, 'SHA256SUMS')]);
  assert.match(sums.text, new RegExp(`^[0-9a-f]{64}  linux-xen-legacy-${KREL}-x86_64\\.tar\\.xz$`, 'm'));
});

test('SIGKILL during a publish: after restart the cut-short publish is redone at once, the served repo verifies, and publishing works again', { skip: skipAll, timeout: 300_000 }, async () => {
  assert.ok(fx);
  const inRelease = path.join(fx.varDir, 'public', 'apt', 'main', 'dists', 'testing', 'InRelease');
  const before = await readFile(inRelease, 'utf8');
  const res = await api(fx.server.url, 'POST', '/api/v1/repos/main/publish', { token: fx.admin });
  assert.equal(res.status, 202);
  // Let it get into signing and writing (a publish here takes about 100-200 ms), then kill it.
  await new Promise((r) => setTimeout(r, 60));
  await fx.server.stop('SIGKILL');
  const s2 = await spawnServer(fx.varDir, [], { LXL_SIGNING_KEY: fx.keyFile });
  servers.push(s2);
  fx.server = s2;
  const killed = (await api(s2.url, 'GET', `/api/v1/publishes/${res.json.publish.id}`)).json.publish;
  assert.ok(killed.state === 'failed' || killed.state === 'succeeded', `publish left ${killed.state}`);
  // A publish cut short is published again at start-up, so the served tree ends whole; wait for it before reading files.
  const list = async () => (await api(s2.url, 'GET', '/api/v1/repos/main/publishes')).json.publishes as Array<{ id: string; state: string; requestedBy: string }>;
  if (killed.state === 'failed') {
    assert.match(killed.error, /^interrupted:/);
    let recovery = (await list()).find((p) => p.requestedBy === 'lxl server (recovery)');
    assert.ok(recovery, 'the restarted server publishes the cut-short repo again');
    for (let i = 0; i < 600 && recovery?.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      recovery = (await list()).find((p) => p.id === recovery!.id);
    }
    assert.equal(recovery?.state, 'succeeded', JSON.stringify(recovery));
  } else assert.ok(!(await list()).some((p) => p.requestedBy === 'lxl server (recovery)'), 'no recovery publish after a finished one');
  // Whatever InRelease is served verifies, and every index it lists has the listed hash.
  const served = await readFile(inRelease, 'utf8');
  const dir = await tempDir('lxl-kill-');
  await writeFile(path.join(dir, 'keyring.gpg'), fx.keyring);
  await writeFile(path.join(dir, 'InRelease'), served);
  await run('gpgv', ['--keyring', path.join(dir, 'keyring.gpg'), path.join(dir, 'InRelease')]);
  const sha = /^SHA256:\n((?: .*\n)+)/m.exec(served);
  assert.ok(sha, 'InRelease has a SHA256 section');
  const { createHash } = await import('node:crypto');
  for (const line of sha[1].trim().split('\n')) {
    const [hash, size, name] = line.trim().split(/\s+/);
    const file = path.join(fx.varDir, 'public', 'apt', 'main', 'dists', 'testing', name);
    const bytes: Buffer = await readFile(file);
    assert.equal(bytes.length, Number(size), `${name} size differs from InRelease`);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), hash, `${name} does not match InRelease`);
  }
  process.stdout.write(`# killed publish ${killed.state}; InRelease ${served === before ? 'unchanged' : 'replaced (by the killed publish or the recovery publish)'}\n`);
  await publish(s2.url, fx.admin);
});
