// Crashes and shutdown of `lxl server` as its own process: SIGKILL in the
// middle of an upload leaves no half-stored artifact after a restart and
// keeps every accepted one, and the restart sweeps the killed process's
// command-relay folder; SIGTERM aborts a stalled upload after the grace
// period, removes its temp file and exits cleanly.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { api, artifactFiles, mintTokens, sha256File, spawnServer, uploadStream, type SpawnedServer } from '../support/server-harness.js';
import { tempDir } from '../support/tmp.js';
import { ustarHeader } from '../support/tar-fixture.js';

const running: SpawnedServer[] = [];
after(async () => {
  for (const s of running) await s.stop('SIGKILL');
});

async function start(varDir: string, env: NodeJS.ProcessEnv = {}): Promise<SpawnedServer> {
  const s = await spawnServer(varDir, [], env);
  running.push(s);
  return s;
}

/** A small valid kernel tarball (.tar.gz) for krel 6.1.<n>. */
function smallTarball(n: number): { bytes: Buffer; filename: string; sha256: string } {
  const data = randomBytes(2048);
  const h = ustarHeader(`boot/vmlinuz-6.1.${n}-xen-legacy`, data.length);
  const bytes = gzipSync(Buffer.concat([h, data, Buffer.alloc(1024)]));
  return { bytes, filename: `linux-xen-legacy-6.1.${n}-xen-legacy-x86_64.tar.gz`, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Starts a multipart upload that sends `sendBytes` of the file and then stalls; resolves once the server holds a temp file. */
async function stalledUpload(url: string, token: string, varDir: string, sendBytes: number): Promise<{ abort(): void; response: Promise<number | string> }> {
  const b = 'stallboundary';
  const req = request(`${url}/api/v1/repos/main/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${b}` } });
  const response = new Promise<number | string>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) => resolve(`error: ${err.message}`));
  });
  req.write(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="linux-xen-legacy-6.1.999-xen-legacy-x86_64.tar"\r\n\r\n`);
  req.write(randomBytes(sendBytes));
  const tmp = path.join(varDir, 'artifacts', 'tmp');
  for (let i = 0; i < 200; i++) {
    if ((await readdir(tmp)).length > 0) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok((await readdir(tmp)).length > 0, 'the server never started writing the upload');
  return { abort: () => req.destroy(), response };
}

test('SIGKILL during an upload: after restart no half-stored artifact is visible and every accepted one is there', { timeout: 180_000 }, async () => {
  const varDir = await tempDir('lxl-crash-');
  const { admin, builder } = await mintTokens(varDir);
  // Its own temporary folder, to watch the command relay's folder (repo-layout/command-relay.ts).
  const tmpEnv = { TMPDIR: await tempDir('lxl-crash-tmp-') };
  const s1 = await start(varDir, tmpEnv);
  assert.equal((await api(s1.url, 'POST', '/api/v1/repos', { token: admin, body: { name: 'main', settings: { lines: ['6.1'] } } })).status, 201);
  const accepted: Array<{ sha256: string; filename: string }> = [];
  for (let n = 1; n <= 5; n++) {
    const t = smallTarball(n);
    const r = await uploadStream(s1.url, 'main', () => Readable.from([t.bytes]), { token: builder, filename: t.filename, sha256: t.sha256, size: t.bytes.length, line: '6.1' });
    assert.equal(r.status, 201, r.text);
    accepted.push(t);
  }
  // Keep uploads in flight while the server dies: one stalled half way, and more racing the kill.
  const stalled = await stalledUpload(s1.url, builder, varDir, 3 * 1024 * 1024);
  const racing = [6, 7, 8, 9].map((n) => {
    const t = smallTarball(n);
    return uploadStream(s1.url, 'main', () => Readable.from([t.bytes]), { token: builder, filename: t.filename, sha256: t.sha256, size: t.bytes.length, line: '6.1' }).then(
      (r) => ({ t, status: r.status }),
      () => ({ t, status: 0 }),
    );
  });
  await new Promise((r) => setTimeout(r, 5));
  await s1.stop('SIGKILL');
  stalled.abort();
  for (const r of await Promise.all(racing)) if (r.status === 201) accepted.push(r.t);
  const tmpBefore = (await artifactFiles(varDir)).filter((f) => f.startsWith('tmp/'));
  assert.ok(tmpBefore.length >= 1, 'the killed upload left a temp file (which the restart must sweep)');
  const relayDirs = async (pid: number) => (await readdir(tmpEnv.TMPDIR)).filter((n) => n.startsWith(`lxl-relay-${pid}-`));
  const left = await relayDirs(s1.pid);
  assert.equal(left.length, 1, 'the killed server left its command-relay folder');
  // As if the restart came a while later (a folder is swept once its dead owner left it alone for a minute).
  const old = new Date(Date.now() - 120_000);
  await utimes(path.join(tmpEnv.TMPDIR, left[0]), old, old);

  const s2 = await start(varDir, tmpEnv);
  assert.deepEqual(await relayDirs(s1.pid), [], 'the restart swept the dead server\'s relay folder');
  assert.equal((await relayDirs(s2.pid)).length, 1, 'and runs its own');
  const files = await artifactFiles(varDir);
  assert.deepEqual(files.filter((f) => f.startsWith('tmp/')), [], 'temp files of cut uploads are swept at start');
  // Every stored artifact is complete: its bytes hash to its name.
  for (const f of files) assert.equal(await sha256File(path.join(varDir, 'artifacts', f)), path.basename(f), `${f} is not whole`);
  const pkgs = (await api(s2.url, 'GET', '/api/v1/repos/main/packages')).json.packages as Array<{ sha256: string }>;
  const catalogued = new Set(pkgs.map((p) => p.sha256));
  for (const a of accepted) {
    assert.ok(catalogued.has(a.sha256), `accepted ${a.filename} is missing from the catalogue`);
    assert.ok(files.includes(`sha256/${a.sha256.slice(0, 2)}/${a.sha256}`), `accepted ${a.filename} is missing from the store`);
  }
  // Nothing is catalogued without its bytes.
  for (const p of pkgs) assert.ok(files.includes(`sha256/${p.sha256.slice(0, 2)}/${p.sha256}`));
  assert.equal((await api(s2.url, 'GET', '/readyz')).status, 200);
  const t = smallTarball(50);
  const again = await uploadStream(s2.url, 'main', () => Readable.from([t.bytes]), { token: builder, filename: t.filename, sha256: t.sha256, size: t.bytes.length, line: '6.1' });
  assert.equal(again.status, 201, 'the restarted server accepts uploads');
  await s2.stop('SIGTERM');
});

test('SIGTERM: a stalled upload is aborted after the grace period, its temp file removed, exit code 0', { timeout: 120_000 }, async () => {
  const varDir = await tempDir('lxl-term-');
  const { admin, builder } = await mintTokens(varDir);
  const s = await start(varDir, { LXL_SHUTDOWN_GRACE_SECONDS: '1' });
  assert.equal((await api(s.url, 'POST', '/api/v1/repos', { token: admin, body: { name: 'main', settings: { lines: ['6.1'] } } })).status, 201);
  const stalled = await stalledUpload(s.url, builder, varDir, 1024 * 1024);
  const t0 = Date.now();
  const code = await s.stop('SIGTERM');
  const took = Date.now() - t0;
  assert.equal(code, 0, s.stderr());
  assert.ok(took < 15_000, `shutdown took ${took} ms`);
  assert.notEqual(await stalled.response, 201);
  assert.deepEqual(await artifactFiles(varDir).then((f) => f.filter((x) => x.startsWith('tmp/'))), [], 'the aborted upload left its temp file');
});

// With PostgreSQL several instances may share a state folder (README "Scaling out"): the pid claim is SQLite's.
const sharedStore = process.env.LXL_TEST_STORE === 'postgres' ? 'PostgreSQL instances may share a state folder (test/e2e/scale-out.test.ts)' : undefined;
test('a second server on the same state folder refuses to start while the first runs', { skip: sharedStore, timeout: 120_000 }, async () => {
  const varDir = await tempDir('lxl-twice-');
  const first = await start(varDir);
  await assert.rejects(spawnServer(varDir), /another lxl server \(pid \d+\) uses it/);
  assert.equal((await api(first.url, 'GET', '/readyz')).status, 200, 'the first one is unaffected');
  await first.stop('SIGTERM');
  const again = await start(varDir);
  assert.equal((await api(again.url, 'GET', '/healthz')).status, 200, 'starts once the first has stopped');
});
