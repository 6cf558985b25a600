// `lxl worker` against a real lxl server (in this process) with fixture
// kernels: a prebuilt fake staged tree (packaging, upload, completion, the
// build log through the API), a line whose patch does not apply (failed in
// phase patch, naming the hunk), a dropped config option (failed in phase config), an upload the server refuses (failed in
// phase upload), and a worker killed mid-job (the lease expires and a second
// worker completes the job; the fake tree's Makefile makes dummy images).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lxl, missingTools } from '../support/exec.js';
import { api, startTestServer, type TestServer } from '../support/server-harness.js';
import { tempDir } from '../support/tmp.js';
import { FAKE_KREL, makeFakeStage, makeFakeLine } from '../unit/builder-fixtures.js';

const skip = missingTools('tar', 'xz', 'patch');
let server: TestServer;

before(async () => {
  if (!skip) server = await startTestServer();
});
after(async () => {
  await server?.close();
});

async function enqueue(params: Record<string, unknown>, maxAttempts = 3): Promise<string> {
  const r = await api(server.url, 'POST', '/api/v1/jobs', { token: server.admin, body: { repo: 'main', kind: 'build', params, maxAttempts } });
  assert.equal(r.status, 201, r.text);
  return r.json.job.id as string;
}

async function job(id: string): Promise<Record<string, any>> {
  const r = await api(server.url, 'GET', `/api/v1/jobs/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json.job;
}

async function jobLog(id: string): Promise<string> {
  return (await api(server.url, 'GET', `/api/v1/jobs/${id}/log`)).text;
}

function worker(dir: string, extra: string[]): string[] {
  return ['worker', '--server', server.url, '--token', server.builder, '--once', '--work-dir', path.join(dir, 'work'), '--cache-dir', path.join(dir, 'cache'), ...extra];
}

test('lxl worker --once packages a staged tree, uploads every artifact, completes the job; the log reads back', { skip, timeout: 180_000 }, async () => {
  const dir = await tempDir();
  const stage = await makeFakeStage(path.join(dir, 'stage'));
  const id = await enqueue({ line: '6.1', version: '6.1.999+1~legacy1', flavour: 'minimal', arch: 'x86_64' });
  const r = await lxl(worker(dir, ['--stage-from', stage]), { env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
  // Not a TTY: pino JSON lines on stderr, one per phase.
  assert.match(r.stderr, /"phase":"upload"/);
  assert.doesNotMatch(r.stderr, new RegExp(server.builder), 'the token must not be logged');
  const j = await job(id);
  assert.equal(j.state, 'succeeded', JSON.stringify(j));
  const arts = j.result.artifacts as Array<{ filename: string; sha256: string; size: number }>;
  assert.deepEqual(arts.map((a) => a.filename).sort(), [
    `kernel-xen-legacy-6.1.999+1~legacy1-1.x86_64.rpm`,
    `linux-image-${FAKE_KREL}_6.1.999+1~legacy1_amd64.deb`,
    `linux-xen-legacy-${FAKE_KREL}-x86_64.tar.gz`,
    `linux-xen-legacy-${FAKE_KREL}-x86_64.tar.xz`,
    `linux-xen-legacy_6.1.999+1~legacy1_amd64.deb`,
  ]);
  const pkgs = (await api(server.url, 'GET', '/api/v1/repos/main/packages')).json.packages as Array<Record<string, any>>;
  for (const a of arts) {
    const p = pkgs.find((x) => x.filename === a.filename);
    assert.ok(p, `${a.filename} is not in the catalogue`);
    assert.equal(p.sha256, a.sha256);
    assert.equal(p.size, a.size);
    assert.equal(p.buildId, j.result.build);
  }
  const build = (await api(server.url, 'GET', `/api/v1/repos/main/builds/${j.result.build}`)).json.build;
  assert.equal(build.jobId, id);
  const log = await jobLog(id);
  assert.match(log, /== phase package/);
  for (const a of arts) assert.ok(log.includes(`uploaded ${a.filename} sha256 ${a.sha256}`), log);
});

test('a patch that does not apply fails the job in phase patch, naming the patch and hunk (no retry)', { skip, timeout: 180_000 }, async () => {
  const dir = await tempDir();
  const lines = await makeFakeLine(dir, 'reject');
  const id = await enqueue({ line: '6.1', flavour: 'minimal', arch: 'x86_64' });
  const r = await lxl(worker(dir, ['--lines-dir', lines]), { allowFail: true });
  assert.equal(r.code, 1, r.stderr);
  const j = await job(id);
  assert.equal(j.state, 'failed', JSON.stringify(j));
  assert.equal(j.attempts, 1);
  assert.match(j.error, /^patch: cannot apply 0001-hvc_xen-legacy-tty1\.patch: rejected drivers\/tty\/hvc\/hvc_xen\.c hunk #1/);
  assert.match(await jobLog(id), /== failed: patch: cannot apply/);
});

test('a config option olddefconfig drops fails the job in phase config, listing the option (no retry)', { skip, timeout: 180_000 }, async () => {
  const dir = await tempDir();
  const lines = await makeFakeLine(dir, 'drop');
  const id = await enqueue({ line: '6.1', flavour: 'minimal', arch: 'x86_64' });
  const r = await lxl(worker(dir, ['--lines-dir', lines]), { allowFail: true });
  assert.equal(r.code, 1, r.stderr);
  const j = await job(id);
  assert.equal(j.state, 'failed', JSON.stringify(j));
  assert.equal(j.attempts, 1);
  assert.match(j.error, /^config: cannot keep requested options after olddefconfig: CONFIG_XEN_BLKDEV_FRONTEND=y \(got n, from minimal\.config\)/);
  const log = await jobLog(id);
  assert.match(log, /== phase patch[\s\S]*== phase config[\s\S]*== failed: config:/);
});

test('an upload the server refuses fails the job in phase upload with the server\'s reason', { skip, timeout: 180_000 }, async () => {
  const dir = await tempDir();
  // A 5.10 kernel is not in line 6.1: the server refuses it at upload time.
  const stage = await makeFakeStage(path.join(dir, 'stage'), { krel: '5.10.1-xen-legacy' });
  const id = await enqueue({ line: '6.1', version: '6.1.999-1', arch: 'x86_64' });
  const r = await lxl(worker(dir, ['--stage-from', stage]), { allowFail: true });
  assert.equal(r.code, 1, r.stderr);
  const j = await job(id);
  assert.equal(j.state, 'failed', JSON.stringify(j));
  assert.match(j.error, /^upload: cannot upload linux-image-5\.10\.1-xen-legacy_6\.1\.999-1_amd64\.deb: HTTP 422: .*not in kernel line 6\.1/);
});

test('a worker killed mid-job: its lease expires and a second worker completes the job', { skip, timeout: 300_000 }, async () => {
  const dir = await tempDir();
  // The fake tree's `make bzImage` takes 4 s: time to kill the first worker in phase compile.
  // Its own krel: tarballs are named by krel, and the server refuses other bytes under a published name.
  const lines = await makeFakeLine(dir, 'ok', { compileSeconds: 4, krel: '6.1.997-xen-legacy' });
  const id = await enqueue({ line: '6.1', version: '6.1.999-2', arch: 'x86_64' });
  const bin = new URL('../../bin/lxl.mjs', import.meta.url).pathname;
  const first = spawn(process.execPath, [bin, ...worker(path.join(dir, 'w1'), ['--lines-dir', lines, '--lease-ttl', '5'])], { stdio: 'ignore' });
  const exited = new Promise((r) => first.on('exit', r));
  let seen = '';
  for (let i = 0; i < 600 && !/== phase compile/.test(seen); i++) {
    await sleep(100);
    seen = await jobLog(id);
  }
  assert.match(seen, /== phase compile/, 'the first worker never reached the compile phase');
  first.kill('SIGKILL');
  await exited;
  const mid = await job(id);
  assert.equal(mid.state, 'leased');
  assert.equal(mid.attempts, 1);
  // Before expiry the job is not handed out again. Asked straight through the
  // API: a second worker process could take longer to start than the lease lasts.
  const early = await api(server.url, 'POST', '/api/v1/jobs/lease', { token: server.builder, body: { owner: 'early', kinds: ['build'], ttlSeconds: 30 } });
  assert.equal(early.status, 204, early.text);
  assert.equal((await job(id)).attempts, 1);
  await sleep(5500);
  const r = await lxl(worker(path.join(dir, 'w2'), ['--lines-dir', lines, '--lease-ttl', '30']));
  assert.equal(r.code, 0);
  const j = await job(id);
  assert.equal(j.state, 'succeeded', JSON.stringify(j));
  assert.equal(j.attempts, 2);
  assert.equal(j.result.krel, '6.1.997-xen-legacy');
  const log = await jobLog(id);
  assert.match(log, /attempt 1 on [\s\S]*== phase compile[\s\S]*attempt 2 on [\s\S]*== phase upload/);
});
