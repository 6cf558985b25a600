// Acceptance: real apt clients (bullseye apt 2.2, bookworm apt 2.6, trixie
// apt 3 with sqv) install from a repo published by `lxl apt`, served over
// HTTP on 127.0.0.1 and pinned with Signed-By to our key. Also: old-apt paths
// (no InRelease, Packages.gz only), sqv and gpgv on the host, and the mirroring
// tools debmirror, aptly (`mirror create` + `update`) and reprepro (`update`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chrootUnavailable, makeChroot, removeChroot, type Chroot, type Suite } from '../support/chroot.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { serveStatic, type StaticServer } from '../support/http-static.js';
import { testKey, type TestKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';
import { makeDeb } from '../support/apt-debs.js';
import { findAptly } from '../support/aptly.js';
import { compareDebianVersions } from '../../repo-layout/apt/debian-version.js';
import { parseDeb822 } from '../../repo-layout/deb822.js';
import { parseXzStream } from '../../repo-layout/xz-container.js';
import { createHash } from 'node:crypto';

const V1 = '6.1.192+1~legacy1';
const V2 = '6.1.192+1';
const PKG = 'linux-image-6.1.192-xen-legacy';
const META = 'linux-xen-legacy';
const NAME = 'linux-xen-legacy';
// Which repo suite each client uses: several suites, one per client.
const CLIENT_SUITE: Record<Suite, string> = { bookworm: 'stable', bullseye: 'legacy-6.1', trixie: 'testing' };

// A bare chroot has no /dev/pts; dpkg's log pty is not what these tests check.
const NO_PTY = ['-o', 'Dpkg::Use-Pty=0'];

const skipChroot = chrootUnavailable() ?? missingTools('gpgv', 'xz');

interface Fixture {
  repo: string;
  key: TestKey;
  other: TestKey;
  server: StaticServer;
  v1: string[];
  v2: string[];
}

async function lxlOk(args: string[]): Promise<string> {
  return (await lxl(args)).stdout;
}

/** Builds V1 and V2 debs with our writer, adds V1 to every suite and publishes, served on 127.0.0.1. */
async function setup(): Promise<Fixture> {
  const work = await tempDir('lxl-apt-e2e-');
  const debs = path.join(work, 'debs');
  await mkdir(debs);
  const [key, other] = await Promise.all([testKey({}), testKey({ name: 'lxl-test-other' })]);
  const build = (version: string) =>
    Promise.all([
      makeDeb(debs, { name: PKG, version, arch: 'x86_64' }),
      makeDeb(debs, { name: PKG, version, arch: 'i386' }),
      makeDeb(debs, { name: META, version, arch: 'all', depends: [`${PKG} (= ${version})`] }),
    ]);
  const v1 = await build(V1);
  const v2 = await build(V2);
  const repo = path.join(work, 'repo');
  await mkdir(path.join(repo, 'public'), { recursive: true });
  const server = await serveStatic(path.join(repo, 'public'));
  for (const suite of Object.values(CLIENT_SUITE)) await lxlOk(['apt', 'add', repo, ...v1, '--suite', suite]);
  await lxlOk(['apt', 'publish', repo, '--key', await secretFile(key), '--base-url', server.url, '--valid-days', '7']);
  return { repo, key, other, server, v1, v2 };
}

// Top-level (not in a before hook), so the server and temp dir live until the file ends.
const fx: Fixture | undefined = skipChroot ? undefined : await setup();

async function secretFile(k: TestKey): Promise<string> {
  const secret = (await readdir(k.dir)).find((f) => f.endsWith('.secret.asc'));
  assert.ok(secret, `no secret key file in ${k.dir}`);
  return path.join(k.dir, secret);
}

/** Fails on any warning, error or notice line apt printed. */
function assertClean(what: string, out: { stdout: string; stderr: string }): void {
  const bad = `${out.stdout}\n${out.stderr}`.split('\n').filter((l) => /^(W|E|N|Err):/.test(l.trim()) || /^Err:\d/.test(l.trim()));
  assert.deepEqual(bad, [], `${what} printed warnings:\n${out.stdout}\n${out.stderr}`);
}

/** Points a chroot at our repo (suite `suite`) with our published key as Signed-By, dropping Debian's own sources. */
async function configure(c: Chroot, suite: string, keyring: Uint8Array | Buffer): Promise<void> {
  assert.ok(fx);
  await rm(path.join(c.root, 'etc/apt/sources.list'), { force: true });
  await rm(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
  await mkdir(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true });
  await mkdir(path.join(c.root, 'etc/apt/keyrings'), { recursive: true });
  await writeFile(path.join(c.root, `etc/apt/keyrings/${NAME}.gpg`), keyring, { mode: 0o644 });
  // Use the published .sources file (made for suite `stable`) with this client's suite.
  const sources = await readFile(path.join(fx.repo, 'public/apt', `${NAME}.sources`), 'utf8');
  assert.match(sources, /^Suites: stable$/m);
  await writeFile(path.join(c.root, `etc/apt/sources.list.d/${NAME}.sources`), sources.replace(/^Suites: stable$/m, `Suites: ${suite}`));
  await rm(path.join(c.root, 'var/lib/apt/lists'), { recursive: true, force: true });
  await mkdir(path.join(c.root, 'var/lib/apt/lists/partial'), { recursive: true });
}

async function installedVersion(c: Chroot, pkg: string): Promise<string> {
  return (await c.run(['dpkg-query', '-W', '-f=${Version}', pkg])).stdout.trim();
}

async function publishedKeyring(): Promise<Buffer> {
  assert.ok(fx);
  return readFile(path.join(fx.repo, 'public/keys', `${NAME}.gpg`));
}

/** The scenario every client runs: update cleanly, install V1, get V2 after it is published, refuse another key. */
async function clientScenario(suite: Suite, extra?: (c: Chroot) => Promise<void>): Promise<void> {
  assert.ok(fx);
  const repoSuite = CLIENT_SUITE[suite];
  const c = await makeChroot(suite);
  try {
    await configure(c, repoSuite, await publishedKeyring());
    fx.server.requests.length = 0;
    assertClean(`${suite} apt-get update`, await c.run(['apt-get', 'update']));
    // apt ≥ 1.1 fetches indices by hash (the strongest listed: SHA512).
    assert.ok(fx.server.requests.some((r) => r.startsWith(`/apt/dists/${repoSuite}/main/binary-amd64/by-hash/SHA512/`)), `no by-hash request: ${fx.server.requests.join(' ')}`);
    assertClean(`${suite} apt-get install`, await c.run(['apt-get', ...NO_PTY, 'install', '-y', META]));
    assert.equal(await installedVersion(c, PKG), V1);
    assert.equal(await installedVersion(c, META), V1);

    await lxlOk(['apt', 'add', fx.repo, ...fx.v2, '--suite', repoSuite, '--key', await secretFile(fx.key)]);
    assertClean(`${suite} apt-get update (after V2)`, await c.run(['apt-get', 'update']));
    assertClean(`${suite} apt-get upgrade`, await c.run(['apt-get', ...NO_PTY, 'upgrade', '-y']));
    assert.equal(await installedVersion(c, PKG), V2);
    assert.equal(await installedVersion(c, META), V2);

    if (extra) await extra(c);

    // Trusting another key, apt refuses the repo.
    await configure(c, repoSuite, fx.other.key.publicBinary);
    const refused = await c.run(['apt-get', 'update'], { allowFail: true });
    const out = `${refused.stdout}\n${refused.stderr}`;
    assert.notEqual(refused.code, 0, `apt-get update with the wrong key succeeded:\n${out}`);
    assert.match(out, /NO_PUBKEY|not signed|Missing key|signature/i);
    const lists = await readdir(path.join(c.root, 'var/lib/apt/lists'));
    assert.deepEqual(lists.filter((f) => f.includes('Packages')), [], 'a refused repo must leave no Packages index');
    assert.doesNotMatch((await c.run(['apt-cache', 'policy', META])).stdout, /127\.0\.0\.1/, 'packages of a refused repo must not be candidates');
  } finally {
    await removeChroot(c);
  }
}

test('bookworm (apt 2.6): clean update, install, upgrade; no-InRelease and gz-only paths; another key is refused', { skip: skipChroot }, async () => {
  await clientScenario('bookworm', async (c) => {
    assert.ok(fx);
    // An old client that cannot use InRelease: the server has none, apt falls back to Release + Release.gpg.
    await configure(c, 'stable', await publishedKeyring());
    fx.server.requests.length = 0;
    fx.server.hide = (p) => p.endsWith('/InRelease');
    try {
      assertClean('apt-get update without InRelease', await c.run(['apt-get', 'update']));
    } finally {
      fx.server.hide = () => false;
    }
    assert.ok(fx.server.requests.includes('/apt/dists/stable/InRelease'));
    assert.ok(fx.server.requests.includes('/apt/dists/stable/Release'));
    assert.ok(fx.server.requests.includes('/apt/dists/stable/Release.gpg'), `Release.gpg not fetched: ${fx.server.requests.join(' ')}`);
    assert.match((await c.run(['apt-cache', 'policy', META])).stdout, new RegExp(`Candidate: ${V2.replace(/[+~.]/g, '\\$&')}`));

    // A client limited to Packages.gz (no xz, no by-hash): everything .xz is hidden too.
    await configure(c, 'stable', await publishedKeyring());
    fx.server.requests.length = 0;
    fx.server.hide = (p) => p.endsWith('.xz');
    try {
      assertClean(
        'apt-get update with gz only',
        await c.run(['apt-get', 'update', '-o', 'Acquire::CompressionTypes::Order::=gz', '-o', 'Acquire::By-Hash=no']),
      );
    } finally {
      fx.server.hide = () => false;
    }
    assert.ok(fx.server.requests.includes('/apt/dists/stable/main/binary-amd64/Packages.gz'), `Packages.gz not fetched: ${fx.server.requests.join(' ')}`);
    assert.ok(!fx.server.requests.some((r) => r.endsWith('.xz')), 'an .xz index was requested');
    assertClean('apt-get install --reinstall (gz)', await c.run(['apt-get', ...NO_PTY, 'install', '-y', '--reinstall', PKG]));
    assert.equal(await installedVersion(c, PKG), V2);
  });
});

test('bullseye (apt 2.2): clean update, install, upgrade; another key is refused; a many-block Packages.xz, incrementally recompressed, reads', { skip: skipChroot }, async () => {
  await clientScenario('bullseye', async (c) => {
    assert.ok(fx);
    // A suite big enough for Packages.xz to be several xz blocks (content-defined, ~100 kB each), in a repo of its own.
    const work = await tempDir('lxl-apt-bigxz-');
    const debs = path.join(work, 'debs');
    await mkdir(debs);
    const names = Array.from({ length: 600 }, (_, i) => `lxl-big-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((name) => makeDeb(debs, { name, version: '1.0-1', arch: 'all' })));
    const repo = path.join(work, 'repo');
    await mkdir(path.join(repo, 'public'), { recursive: true });
    const server = await serveStatic(path.join(repo, 'public'));
    try {
      const key = await secretFile(fx.key);
      await lxlOk(['apt', 'add', repo, ...(await readdir(debs)).map((f) => path.join(debs, f)), '--suite', 'big', '--key', key, '--base-url', server.url]);
      const xzFile = path.join(repo, 'public/apt/dists/big/main/binary-amd64/Packages.xz');
      const blocks = parseXzStream(await readFile(xzFile)).blocks.length;
      assert.ok(blocks >= 3, `Packages.xz has ${blocks} block(s)`);
      const sources = (await readFile(path.join(repo, 'public/apt', `${NAME}.sources`), 'utf8')).replace(/^Suites: stable$/m, 'Suites: big');
      await writeFile(path.join(c.root, `etc/apt/sources.list.d/${NAME}.sources`), sources);
      await rm(path.join(c.root, 'var/lib/apt/lists'), { recursive: true, force: true });
      await mkdir(path.join(c.root, 'var/lib/apt/lists/partial'), { recursive: true });
      await writeFile(path.join(c.root, `etc/apt/keyrings/${NAME}.gpg`), await readFile(path.join(repo, 'public/keys', `${NAME}.gpg`)));
      const xzSha512 = async () => createHash('sha512').update(await readFile(xzFile)).digest('hex');
      const update = async (what: string) => {
        server.requests.length = 0;
        // .xz first (apt's default order, said explicitly), so the many-block file is the one apt decodes.
        assertClean(what, await c.run(['apt-get', 'update', '-o', 'Acquire::CompressionTypes::Order::=xz']));
        assert.ok(server.requests.includes(`/apt/dists/big/main/binary-amd64/by-hash/SHA512/${await xzSha512()}`), `Packages.xz not fetched: ${server.requests.join(' ')}`);
      };
      await update('apt-get update (many-block Packages.xz)');
      const listed = (await c.run(['sh', '-c', "apt-cache pkgnames lxl-big- | sort"])).stdout.trim().split('\n');
      assert.deepEqual(listed, names);
      // One package more: only its block is compressed again (the other blocks come from the state's cache), and apt reads the result.
      const before = parseXzStream(await readFile(xzFile)).blocks.map((b) => b.bytes.toString('hex'));
      const extra = await makeDeb(debs, { name: 'lxl-big-0299a', version: '1.0-1', arch: 'all' });
      await lxlOk(['apt', 'add', repo, extra, '--suite', 'big', '--key', key]);
      const after = parseXzStream(await readFile(xzFile)).blocks.map((b) => b.bytes.toString('hex'));
      assert.ok(after.filter((b) => !before.includes(b)).length <= 2, 'more than the changed block was recompressed');
      await update('apt-get update (after one more package)');
      assert.match((await c.run(['apt-cache', 'policy', 'lxl-big-0299a'])).stdout, /Candidate: 1\.0-1/);
      assertClean('apt-get install from the big suite', await c.run(['apt-get', ...NO_PTY, 'install', '-y', 'lxl-big-0299a', 'lxl-big-0599']));
      assert.equal(await installedVersion(c, 'lxl-big-0599'), '1.0-1');
    } finally {
      await server.close();
    }
  });
});

test('trixie (apt 3, sqv): InRelease verifies; install, upgrade; another key is refused', { skip: skipChroot }, async () => {
  await clientScenario('trixie', async (c) => {
    assert.ok(fx);
    const aptVersion = (await c.run(['dpkg-query', '-W', '-f=${Version}', 'apt'])).stdout;
    assert.match(aptVersion, /^3\./, 'trixie should have apt 3');
    assert.equal((await c.run(['sh', '-c', 'command -v sqv'])).stdout.trim(), '/usr/bin/sqv');
    await configure(c, 'testing', await publishedKeyring());
    fx.server.requests.length = 0;
    assertClean('trixie apt-get update', await c.run(['apt-get', 'update']));
    assert.ok(fx.server.requests.includes('/apt/dists/testing/InRelease'));
    assert.ok(!fx.server.requests.includes('/apt/dists/testing/Release.gpg'), 'apt 3 should not need Release.gpg when InRelease verifies');
  });
});

test("host sqv accepts Release.gpg over Release, and gpgv accepts InRelease, with the exported key", { skip: skipChroot ?? missingTools('sqv', 'gpgv') }, async () => {
  assert.ok(fx);
  const dists = path.join(fx.repo, 'public/apt/dists/stable');
  const asc = path.join(fx.repo, 'public/keys', `${NAME}.asc`);
  const gpg = path.join(fx.repo, 'public/keys', `${NAME}.gpg`);
  const sqv = await run('sqv', ['--keyring', asc, path.join(dists, 'Release.gpg'), path.join(dists, 'Release')]);
  assert.match(sqv.stdout, new RegExp(fx.key.key.fingerprint, 'i'));
  await run('gpgv', ['--keyring', gpg, path.join(dists, 'InRelease')]);
  await run('gpgv', ['--keyring', gpg, path.join(dists, 'Release.gpg'), path.join(dists, 'Release')]);
  const otherRing = path.join(await tempDir('lxl-otherkey-'), 'other.gpg');
  await writeFile(otherRing, fx.other.key.publicBinary);
  const bad = await run('gpgv', ['--keyring', otherRing, path.join(dists, 'InRelease')], { allowFail: true });
  assert.notEqual(bad.code, 0);
});

test('debmirror with its GPG check mirrors the repo completely', { skip: skipChroot ?? missingTools('debmirror', 'gpgv') }, async () => {
  assert.ok(fx);
  const work = await tempDir('lxl-debmirror-');
  const target = path.join(work, 'mirror');
  const host = fx.server.url.replace(/^http:\/\//, '');
  const suites = Object.values(CLIENT_SUITE);
  const r = await run(
    'debmirror',
    [
      '--method=http', `--host=${host}`, '--root=apt', `--dist=${suites.join(',')}`, '--arch=amd64,i386', '--section=main',
      '--nosource', '--rsync-extra=none', '--diff=none',
      `--keyring=${path.join(fx.repo, 'public/keys', `${NAME}.gpg`)}`, '--verbose', target,
    ],
    { env: { ...process.env, HOME: work }, timeoutMs: 300_000 },
  );
  assert.match(`${r.stdout}${r.stderr}`, /Release.gpg|InRelease|gpgv/i);
  // The GPG check is really on: with another key's keyring debmirror refuses the same repo.
  const otherRing = path.join(work, 'other.gpg');
  await writeFile(otherRing, fx.other.key.publicBinary);
  const refused = await run(
    'debmirror',
    ['--method=http', `--host=${host}`, '--root=apt', '--dist=stable', '--arch=amd64', '--section=main', '--nosource', '--rsync-extra=none', '--diff=none', `--keyring=${otherRing}`, path.join(work, 'refused')],
    { env: { ...process.env, HOME: work }, allowFail: true, timeoutMs: 120_000 },
  );
  assert.notEqual(refused.code, 0, `debmirror accepted a repo signed by another key:\n${refused.stdout}${refused.stderr}`);
  const published = await listFiles(path.join(fx.repo, 'public/apt/pool'));
  const mirrored = await listFiles(path.join(target, 'pool'));
  assert.deepEqual(mirrored, published);
  for (const f of published) assert.deepEqual(await readFile(path.join(target, 'pool', f)), await readFile(path.join(fx.repo, 'public/apt/pool', f)), f);
  for (const s of suites) {
    for (const f of ['Release', 'Release.gpg', 'InRelease', 'main/binary-amd64/Packages.gz', 'main/binary-i386/Packages.xz']) {
      assert.deepEqual(await readFile(path.join(target, 'dists', s, f)), await readFile(path.join(fx.repo, 'public/apt/dists', s, f)), `${s}/${f}`);
    }
  }
});

// Two more mirroring tools, each with its own signature check (aptly: gpgv over a keyring given with -keyring;
// reprepro: gpgme against VerifyRelease's key id): what they mirror is what the suite lists, and another key's
// signature is refused.
const aptlyBin = skipChroot ? undefined : await findAptly();
test('aptly mirror and reprepro update mirror a suite with the signature check on, and refuse another key', { skip: skipChroot ?? missingTools('reprepro', 'gpg') ?? (aptlyBin ? undefined : 'aptly could not be fetched with apt-get download aptly') }, async () => {
  assert.ok(fx && aptlyBin);
  const work = await tempDir('lxl-mirrors-');
  const suite = CLIENT_SUITE.bookworm;
  const apt = `${fx.server.url}/apt`;
  const served = path.join(fx.repo, 'public/apt');
  // What the suite lists: name_version_arch of every stanza of both Packages files (the `all` ones in each).
  const listed = new Set<string>();
  for (const arch of ['amd64', 'i386']) {
    for (const p of parseDeb822(await readFile(path.join(served, 'dists', suite, 'main', `binary-${arch}`, 'Packages'), 'utf8'))) {
      listed.add(`${p.get('Package')}_${p.get('Version')}_${p.get('Architecture')}`);
    }
  }
  assert.ok(listed.size >= 3, `the suite lists packages (${[...listed].join(' ')})`);
  const ours = path.join(fx.repo, 'public/keys', `${NAME}.gpg`);
  const otherRing = path.join(work, 'other.gpg');
  await writeFile(otherRing, fx.other.key.publicBinary);

  // aptly: create (which checks the Release signature), update (downloads and checks every file), show.
  const aptly = (conf: string, args: string[], allowFail = false) => run(aptlyBin, [`-config=${conf}`, ...args], { allowFail, timeoutMs: 120_000, env: { ...process.env, HOME: work } });
  const conf = path.join(work, 'aptly.conf');
  await writeFile(conf, JSON.stringify({ rootDir: path.join(work, 'aptly'), gpgProvider: 'gpg2' }));
  const refused = await aptly(conf, ['mirror', 'create', `-keyring=${otherRing}`, '-architectures=amd64,i386', 'other', apt, suite, 'main'], true);
  assert.notEqual(refused.code, 0, `aptly mirrored a suite signed by another key:\n${refused.stdout}${refused.stderr}`);
  assert.match(`${refused.stdout}${refused.stderr}`, /verification of .*signature failed/, 'aptly refused it for the signature');
  await aptly(conf, ['mirror', 'create', `-keyring=${ours}`, '-architectures=amd64,i386', 'lxl', apt, suite, 'main']);
  await aptly(conf, ['mirror', 'update', `-keyring=${ours}`, 'lxl']);
  const shown = (await aptly(conf, ['mirror', 'show', '-with-packages', 'lxl'])).stdout;
  const mirrored = shown.slice(shown.indexOf('Packages:')).split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
  assert.deepEqual(new Set(mirrored), listed, 'aptly mirrored what the suite lists');

  // reprepro: an update rule with VerifyRelease; both keys are in its keyring, so the refusal is about whose signature it is.
  const gnupg = path.join(work, 'gnupg');
  await mkdir(gnupg, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupg, HOME: work };
  for (const ring of [ours, otherRing]) await run('gpg', ['--batch', '--import', ring], { env });
  const keyId = (k: TestKey) => k.key.fingerprint.slice(-16);
  const reprepro = async (dir: string, verify: string) => {
    await mkdir(path.join(dir, 'conf'), { recursive: true });
    await writeFile(path.join(dir, 'conf', 'distributions'), `Codename: ${suite}\nArchitectures: amd64 i386\nComponents: main\nUpdate: lxl\n`);
    await writeFile(path.join(dir, 'conf', 'updates'), `Name: lxl\nMethod: ${apt}\nSuite: ${suite}\nComponents: main\nArchitectures: amd64 i386\nVerifyRelease: ${verify}\n`);
    return run('reprepro', ['-b', dir, '--noskipold', 'update'], { env, allowFail: true, timeoutMs: 120_000 });
  };
  const wrong = await reprepro(path.join(work, 'reprepro-other'), keyId(fx.other));
  assert.notEqual(wrong.code, 0, `reprepro mirrored a suite signed by another key:\n${wrong.stdout}${wrong.stderr}`);
  assert.match(wrong.stderr, /Not enough signatures/);
  const dir = path.join(work, 'reprepro');
  const ok = await reprepro(dir, keyId(fx.key));
  assert.equal(ok.code, 0, ok.stderr);
  const list = (await run('reprepro', ['-b', dir, 'list', suite], { env })).stdout;
  // `suite|main|amd64: name version`; an `all` package is listed once per architecture, as in the Packages files.
  const got = new Set(list.trim().split('\n').map((l) => /^[^|]+\|main\|(\S+): (\S+) (\S+)$/.exec(l)!).map((m) => `${m[2]}_${m[3]}_${listed.has(`${m[2]}_${m[3]}_all`) ? 'all' : m[1]}`));
  // bookworm's reprepro (5.3) keeps one version of a package per architecture: the newest the suite lists.
  const newest = new Map<string, string>();
  for (const p of listed) {
    const [name, version, arch] = p.split('_');
    const key = `${name}_${arch}`;
    const had = newest.get(key);
    if (had === undefined || compareDebianVersions(version, had.split('_')[1]) > 0) newest.set(key, p);
  }
  assert.deepEqual(got, new Set(newest.values()), 'reprepro mirrored the newest version of each package the suite lists');
  // Its pool is laid out as ours: the same files, byte for byte.
  const mirroredPool = await listFiles(path.join(dir, 'pool'));
  assert.ok(mirroredPool.length > 0);
  for (const f of mirroredPool) assert.deepEqual(await readFile(path.join(dir, 'pool', f)), await readFile(path.join(served, 'pool', f)), f);
});

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, p)));
    else out.push(p);
  }
  return out.sort();
}

