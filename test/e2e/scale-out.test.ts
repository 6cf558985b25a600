// Scale-out (issue 10): two `lxl server` processes share one PostgreSQL
// database, one state folder (artifacts and format catalogues, as on a shared
// filesystem) and one S3 bucket (s3rver), which serves the published repos.
// - 8 worker processes lease 40 jobs through both instances while 2 of them are
//   SIGKILLed mid-job: every job completes exactly once, the killed workers'
//   jobs are retried (attempt 2) once their leases expire.
// - At the same time 10 clients upload 50 kernel packages and send publish
//   requests to both instances: each publish is 202 or 409, the recorded
//   publishes never overlap, and apt-get (bookworm chroot) and dnf
//   (--installroot) install from the final state, which holds every upload.
// - SIGKILL of one instance mid-publish: the served repo stays consistent
//   (apt-get update, dnf makecache), the other instance answers 409 until the
//   lock expires, then publishes.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PgStore } from '../../server/pg-store.js';
import { createToken } from '../../server/tokens.js';
import { makeDeb } from '../support/apt-debs.js';
import { chrootUnavailable, makeChroot, removeChroot, type Chroot } from '../support/chroot.js';
import { missingTools, run } from '../support/exec.js';
import { createTestDatabase, pgUnavailable } from '../support/postgres.js';
import { s3Unavailable, startS3Server, type S3Server } from '../support/s3-server.js';
import { api, httpRequest, spawnServer, uploadFile, type SpawnedServer } from '../support/server-harness.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';
import { fixtureSpec, packRpm } from './rpm-fixture.js';

const skip = (await pgUnavailable()) ?? s3Unavailable() ?? missingTools('tar', 'xz', 'gpgv');
const skipApt = chrootUnavailable();
const skipDnf = missingTools('dnf', 'rpm');
/** Publish lock TTL: long enough that renewals never lapse on a loaded CI machine, short enough to wait out. */
const LOCK_TTL_S = 6;
const JOBS = 40;
const WORKERS = 8;
const CLIENTS = 10;
const ROUNDS = 5;

interface Cluster {
  s3: S3Server;
  s3Url: string;
  db: string;
  varDir: string;
  env: NodeJS.ProcessEnv;
  servers: SpawnedServer[];
  admin: string;
  builder: string;
  work: string;
  signer: Awaited<ReturnType<typeof testKey>>['signer'];
  /** Kernel patch levels uploaded so far (deb linux-image-6.1.<n>-xen-legacy; rpm for some). */
  debs: number[];
  rpms: number[];
}

let cl: Cluster | undefined;
const children: ChildProcess[] = [];
let chroot: Chroot | undefined;

/** Starts s3rver, the database, and the two instances (at the top level: after() hooks registered in a before() hook fire when it ends). */
async function setup(): Promise<void> {
  const s3 = await startS3Server('lxl-scale');
  const db = await createTestDatabase();
  // Removed by this file's after(), once the servers have stopped.
  const varDir = await mkdtemp(path.join(os.tmpdir(), 'lxl-scale-var-'));
  const work = await mkdtemp(path.join(os.tmpdir(), 'lxl-scale-work-'));
  const key = await testKey();
  const s3Url = `${s3.endpoint}/${s3.bucket}`;
  const env: NodeJS.ProcessEnv = {
    ...s3.env,
    LXL_DATABASE: db,
    LXL_STORAGE: `s3://${s3.bucket}?endpoint=${encodeURIComponent(s3.endpoint)}&pathStyle=true&checksums=WHEN_REQUIRED`,
    LXL_PUBLIC_URL: `${s3Url}/`,
    LXL_SIGNING_KEY: path.join(key.dir, 'lxl-test-rsa4096.secret.asc'),
    LXL_LOCK_TTL_SECONDS: String(LOCK_TTL_S),
  };
  const store = new PgStore({ url: db });
  let admin: string;
  let builder: string;
  try {
    await store.migrate();
    admin = (await createToken(store, { name: 'scale-admin', scopes: ['admin'] }, 'test')).token;
    builder = (await createToken(store, { name: 'scale-builder', scopes: ['builder'] }, 'test')).token;
  } finally {
    await store.close();
  }
  const servers = await Promise.all([spawnServer(varDir, [], env), spawnServer(varDir, [], env)]);
  // Made here, not in a test: tempDir's after() inside a test removes the chroot when that test ends.
  if (!skipApt) chroot = await makeChroot('bookworm');
  cl = { s3, s3Url, db, varDir, env, servers, admin, builder, work, signer: key.signer, debs: [], rpms: [] };
  const created = await api(servers[0].url, 'POST', '/api/v1/repos', { token: admin, body: { name: 'main', settings: { lines: ['6.1'] } } });
  assert.equal(created.status, 201, created.text);
}

if (!skip) await setup();

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of cl?.servers ?? []) await s.stop('SIGTERM');
  if (chroot) await removeChroot(chroot);
  for (const d of [cl?.varDir, cl?.work]) if (d) await rm(d, { recursive: true, force: true });
});

/** Uploads kernel 6.1.<n> as a .deb (and an .rpm when `rpm`) through `url`. */
async function uploadKernel(c: Cluster, url: string, n: number, rpm: boolean): Promise<void> {
  const dir = path.join(c.work, `k${n}`);
  await mkdir(dir, { recursive: true });
  const krel = `6.1.${n}-xen-legacy`;
  const files = [await makeDeb(dir, { name: `linux-image-${krel}`, version: `6.1.${n}-1`, arch: 'x86_64' })];
  if (rpm) files.push(await packRpm(await fixtureSpec(path.join(dir, 'rpm'), { version: `6.1.${n}-1`, krel, extras: false, provides: ['installonlypkg(kernel)'] }), dir, { signer: c.signer }));
  for (const f of files) {
    const r = await uploadFile(url, 'main', f, { token: c.builder, line: '6.1' });
    assert.equal(r.status, 201, `${path.basename(f)}: ${r.text}`);
  }
  c.debs.push(n);
  if (rpm) c.rpms.push(n);
}

/** Every publish of repo main, straight from PostgreSQL. */
async function publishRows(c: Cluster): Promise<Array<{ id: string; state: string; owner: string; started: number; finished: number | null; error: string | null }>> {
  const client = new pg.Client({ connectionString: c.db });
  await client.connect();
  try {
    const r = await client.query("SELECT id, state, owner, started_at, finished_at, error FROM publishes WHERE repo = 'main' ORDER BY started_at, id");
    return r.rows.map((x) => ({ id: x.id, state: x.state, owner: x.owner, started: Number(x.started_at), finished: x.finished_at === null ? null : Number(x.finished_at), error: x.error }));
  } finally {
    await client.end();
  }
}

/**
 * The first file under s3rver's `dataDir` changed at or after `since` (ms), the publish lock object aside (taken
 * before any repo file is written), polled every 5 ms for up to `timeoutMs`.
 */
async function firstWriteAfter(dataDir: string, since: number, timeoutMs: number): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    for (const e of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const file = path.relative(dataDir, path.join(e.parentPath, e.name));
      if (file.split(path.sep).includes('locks')) continue;
      const st = await stat(path.join(dataDir, file)).catch(() => undefined);
      if (st && st.mtimeMs >= since) return file;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`the publish wrote nothing to the bucket in ${timeoutMs} ms`);
    await sleep(5);
  }
}

async function waitPublishesIdle(c: Cluster, timeoutMs = 180_000): Promise<void> {
  const t0 = Date.now();
  while ((await publishRows(c)).some((p) => p.state === 'running')) {
    if (Date.now() - t0 > timeoutMs) throw new Error('publishes still running');
    await sleep(200);
  }
}

/** A bookworm chroot pointed at the bucket's apt/main testing suite; runs apt-get update and fails on any warning. */
async function aptUpdate(c: Cluster): Promise<Chroot> {
  assert.ok(chroot, 'setup made the chroot');
  if (!existsSync(path.join(chroot.root, 'etc/apt/keyrings/lxl.gpg'))) {
    const keyring = await fetch(`${c.s3Url}/keys/linux-xen-legacy.gpg`);
    assert.equal(keyring.status, 200, 'the keyring is published to the bucket');
    await rm(path.join(chroot.root, 'etc/apt/sources.list'), { force: true });
    await rm(path.join(chroot.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
    await mkdir(path.join(chroot.root, 'etc/apt/sources.list.d'), { recursive: true });
    await mkdir(path.join(chroot.root, 'etc/apt/keyrings'), { recursive: true });
    await writeFile(path.join(chroot.root, 'etc/apt/keyrings/lxl.gpg'), Buffer.from(await keyring.arrayBuffer()));
    await writeFile(path.join(chroot.root, 'etc/apt/sources.list.d/lxl.list'), `deb [signed-by=/etc/apt/keyrings/lxl.gpg] ${c.s3Url}/apt/main testing main\n`);
  }
  const upd = await chroot.run(['apt-get', 'update']);
  assert.doesNotMatch(`${upd.stdout}${upd.stderr}`, /^(W|E|Err):/m, upd.stdout + upd.stderr);
  return chroot;
}

/** dnf against the bucket's yum/main-testing repo with every signature check on; returns the run's output. */
async function dnf(c: Cluster, root: string, args: string[]): Promise<string> {
  const base = `${c.s3Url}/yum/main-testing/`;
  const reposdir = path.join(root, 'no-repos');
  await mkdir(reposdir, { recursive: true });
  const r = await run(
    'dnf',
    ['-y', '--installroot', root, '--releasever', '9', '--setopt', `reposdir=${reposdir}`, '--setopt', `cachedir=${path.join(root, 'var/cache/dnf')}`, '--setopt', 'install_weak_deps=0', '--nodocs',
      '--repofrompath', `lxl,${base}`, '--setopt', 'lxl.gpgcheck=1', '--setopt', 'lxl.repo_gpgcheck=1', '--setopt', `lxl.gpgkey=${base}repodata/repomd.xml.key`, '--setopt', 'lxl.metadata_expire=0', ...args],
    { timeoutMs: 300_000 },
  );
  return r.stdout;
}

test('two instances, one PostgreSQL, one bucket: 8 workers run 40 jobs exactly once (killed ones retried) while 50 publish requests never overlap and lose no change', { skip, timeout: 900_000 }, async (t) => {
  const c = cl!;
  const [a, b] = c.servers;
  const urls = c.servers.map((s) => s.url);

  // ---- jobs and workers
  const jobIds: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const r = await api(urls[i % 2], 'POST', '/api/v1/jobs', { token: c.admin, body: { repo: 'main', kind: 'build', params: { ms: 300, i }, maxAttempts: 3 } });
    assert.equal(r.status, 201, r.text);
    jobIds.push(r.json.job.id);
  }
  const workerScript = new URL('./scale-out-worker.mjs', import.meta.url).pathname;
  const logs = Array.from({ length: WORKERS }, (_, w) => path.join(c.work, `worker-${w}.log`));
  for (let w = 0; w < WORKERS; w++) {
    await writeFile(logs[w], '');
    // Odd workers start on the other instance.
    const order = w % 2 ? [b.url, a.url] : [a.url, b.url];
    // Workers 0 and 1 complete one job, then stall inside their next one until the killer below kills them.
    const env = w < 2 ? { ...process.env, LXL_SCALE_STALL: '1' } : process.env;
    children.push(spawn(process.execPath, [workerScript, logs[w], c.builder, `worker-${w}`, ...order], { stdio: 'ignore', env }));
  }
  const events = (w: number): Array<Record<string, any>> => readFileSync(logs[w], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  // Kill workers 0 and 1 in the middle of a job: after one completed job each stalls inside the next (its last
  // event a start), so the kill lands while it holds the lease, never while a completion is in flight (a kill
  // between the server's commit and the worker's `done` line would leave a job that succeeded on its first attempt
  // with no `done`). Before, the killer had to catch a start less than 150 ms old, and on a busy machine it could
  // miss every one of a worker's jobs.
  const killed = new Map<number, string>();
  const killer = (async () => {
    for (let i = 0; i < 3000 && killed.size < 2; i++) {
      for (const w of [0, 1]) {
        if (killed.has(w)) continue;
        const ev = events(w);
        const last = ev[ev.length - 1];
        if (last?.ev === 'start' && ev.some((e) => e.ev === 'done')) {
          children[w].kill('SIGKILL');
          killed.set(w, last.job);
        }
      }
      await sleep(20);
    }
  })();

  // ---- concurrent uploads and publish requests through both instances
  const answers: number[] = [];
  let retries = 0;
  const clients = Array.from({ length: CLIENTS }, async (_, k) => {
    for (let round = 0; round < ROUNDS; round++) {
      const n = 100 + k * ROUNDS + round;
      const via = urls[(k + round) % 2];
      await uploadKernel(c, via, n, round === 0);
      const pub = urls[(k + round + 1) % 2];
      let r = await api(pub, 'POST', '/api/v1/repos/main/publish', { token: c.admin });
      answers.push(r.status);
      // The client's last change must be in a publish that starts after it: retry a refused last request.
      while (round === ROUNDS - 1 && r.status === 409) {
        await sleep(1000);
        r = await api(pub, 'POST', '/api/v1/repos/main/publish', { token: c.admin });
        answers.push(r.status);
        retries++;
      }
      assert.ok(r.status === 202 || r.status === 409, `publish answered ${r.status}: ${r.text}`);
    }
  });
  await Promise.all([...clients, killer]);

  // ---- jobs: all done, once each
  const t0 = Date.now();
  for (;;) {
    const jobs = (await api(a.url, 'GET', '/api/v1/jobs?repo=main')).json.jobs as Array<Record<string, any>>;
    if (jobs.filter((j) => jobIds.includes(j.id)).every((j) => j.state === 'succeeded')) break;
    assert.ok(Date.now() - t0 < 120_000, `jobs not done: ${JSON.stringify(jobs.filter((j) => j.state !== 'succeeded'))}`);
    await sleep(250);
  }
  // The server commits a completion before the worker reads its answer and logs `done`: wait for the last lines
  // (a SIGTERM now could fall in that gap), then a little more so that a duplicate completion would show too.
  const doneLines = (): number => logs.reduce((n, _, w) => n + events(w).filter((e) => e.ev === 'done').length, 0);
  for (const t1 = Date.now(); doneLines() < JOBS && Date.now() - t1 < 10_000; ) await sleep(50);
  await sleep(500);
  for (const ch of children) ch.kill('SIGTERM');
  assert.equal(killed.size, 2, 'two workers were killed mid-job');
  const all: Array<Record<string, any>> = logs.flatMap((_, w) => events(w).map((e) => ({ ...e, w })));
  const done = all.filter((e) => e.ev === 'done');
  assert.deepEqual(all.filter((e) => e.ev === 'lost' || e.ev === 'error'), [], 'no completion was refused and no request failed');
  assert.equal(done.length, JOBS, 'as many completions as jobs');
  assert.deepEqual(new Set(done.map((e) => e.job)), new Set(jobIds), 'every job completed exactly once');
  const retried = new Set(killed.values());
  for (const id of jobIds) {
    const j = (await api(b.url, 'GET', `/api/v1/jobs/${id}`)).json.job;
    assert.equal(j.state, 'succeeded');
    assert.equal(j.attempts, retried.has(id) ? 2 : 1, `job ${id} attempts`);
    const starts = all.filter((e) => e.ev === 'start' && e.job === id);
    assert.equal(starts.length, j.attempts, `job ${id} was started once per attempt`);
  }
  const leasedVia = new Set(all.filter((e) => e.ev === 'start').map((e) => e.via));
  assert.equal(leasedVia.size, 2, 'jobs were leased through both instances');
  t.diagnostic(`jobs: ${JOBS} done by ${new Set(done.map((e) => e.w)).size} workers; retried after SIGKILL: ${[...retried].join(', ')}`);

  // ---- publishes: never overlapping, none failed, both instances took part
  await waitPublishesIdle(c);
  const pubs = await publishRows(c);
  assert.ok(answers.length >= CLIENTS * ROUNDS, `${answers.length} publish requests`);
  assert.equal(answers.filter((s) => s === 202).length, pubs.length, 'one recorded publish per 202');
  assert.ok(answers.includes(409), 'some requests met a running publish (409)');
  for (const p of pubs) assert.equal(p.state, 'succeeded', JSON.stringify(p));
  for (let i = 1; i < pubs.length; i++) assert.ok(pubs[i].started >= pubs[i - 1].finished!, `publishes overlap: ${JSON.stringify([pubs[i - 1], pubs[i]])}`);
  assert.equal(new Set(pubs.map((p) => p.owner)).size, 2, 'both instances published');
  const durations = pubs.map((p) => p.finished! - p.started).sort((x, y) => x - y);
  t.diagnostic(`publish requests: ${CLIENTS * ROUNDS} + ${retries} retries of refused last requests; ${pubs.length} accepted (202), ${answers.filter((s) => s === 409).length} refused (409); publish ms median ${durations[durations.length >> 1]}, max ${durations[durations.length - 1]}`);

  // ---- the final state holds every change
  const packages = await httpRequest(`${c.s3Url}/apt/main/dists/testing/main/binary-amd64/Packages`);
  assert.equal(packages.status, 200);
  for (const n of c.debs) assert.match(packages.text, new RegExp(`^Package: linux-image-6\\.1\\.${n}-xen-legacy$`, 'm'), `6.1.${n} is missing from Packages`);

  await t.test('apt-get installs from the final state', { skip: skipApt, timeout: 600_000 }, async () => {
    const ch = await aptUpdate(c);
    const names = (await ch.run(['apt-cache', 'pkgnames', 'linux-image-6.1.'])).stdout.split('\n').filter(Boolean);
    assert.equal(names.length, c.debs.length, names.join(' '));
    const top = Math.max(...c.debs);
    await ch.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', `linux-image-6.1.${top}-xen-legacy`]);
    assert.equal((await ch.run(['dpkg-query', '-W', '-f=${Version}', `linux-image-6.1.${top}-xen-legacy`])).stdout.trim(), `6.1.${top}-1`);
  });
  await t.test('dnf installs from the final state', { skip: skipDnf, timeout: 600_000 }, async () => {
    const root = await tempDir('lxl-scale-dnf-');
    const list = await dnf(c, root, ['--showduplicates', 'list', 'available', 'kernel-xen-legacy']);
    for (const n of c.rpms) assert.match(list, new RegExp(`6\\.1\\.${n}-1`), `rpm 6.1.${n} missing:\n${list}`);
    const top = Math.max(...c.rpms);
    await dnf(c, root, ['install', `kernel-xen-legacy-6.1.${top}-1`]);
    assert.equal((await run('rpm', ['--root', root, '-q', '--qf', '%{VERSION}-%{RELEASE}', 'kernel-xen-legacy'])).stdout.trim(), `6.1.${top}-1`);
  });
});

test('SIGKILL of one instance mid-publish: the served repo stays consistent; the other publishes once the lock expires', { skip, timeout: 600_000 }, async (t) => {
  const c = cl!;
  const [a, b] = c.servers;
  await waitPublishesIdle(c);
  // New changes, so the publish has work to do when it is killed.
  for (let n = 300; n < 304; n++) await uploadKernel(c, b.url, n, n === 300);
  const accepted0 = Date.now();
  const res = await api(a.url, 'POST', '/api/v1/repos/main/publish', { token: c.admin });
  assert.equal(res.status, 202, res.text);
  const id = res.json.publish.id as string;
  // Killed once the publish has written to the bucket, not after a fixed time: on a fast machine a fixed wait can
  // outlast the whole publish (median ~0.7 s here), and the kill would then test nothing.
  const wrote = await firstWriteAfter(c.s3.dataDir, accepted0, 30_000);
  await a.stop('SIGKILL');
  t.diagnostic(`killed ${Date.now() - accepted0} ms after the publish request, once it had written ${wrote}`);
  const killedAt = Date.now();
  const mid = (await api(b.url, 'GET', `/api/v1/publishes/${id}`)).json.publish;
  assert.equal(mid.state, 'running', 'the publish was killed before it finished (its lock is still held)');

  // The served repo is consistent right after the kill.
  const checks = async (label: string): Promise<void> => {
    if (!skipApt) await aptUpdate(c);
    if (!skipDnf) await dnf(c, await tempDir('lxl-scale-dnf-'), ['makecache']);
    t.diagnostic(`consistent ${label}: ${skipApt ? '' : 'apt-get update'} ${skipDnf ? '' : 'dnf makecache'}`);
  };
  await checks('after the kill');

  // The other instance refuses while the dead one's lock lives, then takes over.
  let refused = 0;
  let accepted: string | undefined;
  while (!accepted) {
    const r = await api(b.url, 'POST', '/api/v1/repos/main/publish', { token: c.admin });
    if (r.status === 202) accepted = r.json.publish.id;
    else {
      assert.equal(r.status, 409, r.text);
      refused++;
      assert.ok(Date.now() - killedAt < (LOCK_TTL_S + 30) * 1000, 'the lock never expired');
      await sleep(250);
    }
  }
  const waited = Date.now() - killedAt;
  assert.ok(refused >= 1, 'the dead instance held the lock for a while');
  t.diagnostic(`instance B refused ${refused} times, published ${waited} ms after the kill (lock TTL ${LOCK_TTL_S} s)`);
  for (let i = 0; ; i++) {
    const p = (await api(b.url, 'GET', `/api/v1/publishes/${accepted}`)).json.publish;
    if (p.state !== 'running') {
      assert.equal(p.state, 'succeeded', JSON.stringify(p));
      break;
    }
    assert.ok(i < 1200, 'the takeover publish never finished');
    await sleep(100);
  }
  const dead = (await api(b.url, 'GET', `/api/v1/publishes/${id}`)).json.publish;
  assert.equal(dead.state, 'failed');
  assert.match(dead.error, /lock expired/);
  await checks('after the takeover');
  const packages = await httpRequest(`${c.s3Url}/apt/main/dists/testing/main/binary-amd64/Packages`);
  for (let n = 300; n < 304; n++) assert.match(packages.text, new RegExp(`^Package: linux-image-6\\.1\\.${n}-xen-legacy$`, 'm'));
  assert.ok(existsSync(c.varDir));
});
