// Two publishers at once on the same repo, through two `lxl` CLI processes:
// - local folder (`lxl apt add --key` and `lxl yum add --key`): the repo-state
//   lock lets one through; the other exits non-zero with a "lock" message
//   naming the holder's pid, or waits with --lock-wait;
// - S3 (`--storage s3://...` through a proxy that enforces If-None-Match, as
//   S3 does and s3rver does not): the bucket's lock object lets one through;
//   the other fails naming the holder, or waits with --lock-wait.
// The loser is retried; no change is lost: apt-get (bookworm chroot) and dnf
// (--installroot) list every version both publishers added.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { APT_NAME } from '../support/crash-publish.js';
import { aptClient, buildFixtures, dnfClient, versionOf } from '../support/crash-trials.js';
import { lxl, missingTools, type RunResult } from '../support/exec.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { serveStatic } from '../support/http-static.js';
import { s3Unavailable, startS3Server } from '../support/s3-server.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const skipYum = missingTools('dnf', 'rpm');
const skipApt = chrootUnavailable() ?? missingTools('xz');
const skipS3 = s3Unavailable() ?? skipYum;
// Rounds go on until the two publishers have overlapped (a lock error) at least once, at most MAX_ROUNDS.
const MIN_ROUNDS = 2;
const MAX_ROUNDS = 6;
const PER_SIDE = 4;

/** Runs both commands at once; retries each loser (a clear lock error) until it succeeds. Returns how many lock errors were seen. */
async function race(a: string[], b: string[], env: NodeJS.ProcessEnv, lockMessage: RegExp): Promise<number> {
  let conflicts = 0;
  const attempt = async (args: string[]): Promise<void> => {
    for (let i = 0; i < 20; i++) {
      const r: RunResult = await lxl(args, { env, allowFail: true, timeoutMs: 300_000 });
      if (r.code === 0) return;
      assert.match(r.stderr, lockMessage, `a losing publisher fails with a clear lock error:\n${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one error line: ${r.stderr}`);
      conflicts++;
      await new Promise((res) => setTimeout(res, 200 + Math.random() * 300));
    }
    assert.fail(`${args.join(' ')} never got the lock`);
  };
  await Promise.all([attempt(a), attempt(b)]);
  return conflicts;
}

async function fixtures(dir: string) {
  const { signer, dir: keyDir } = await testKey();
  // One round more than MAX_ROUNDS: the local tests end with a round where both wait (--lock-wait).
  const f = await buildFixtures(path.join(dir, 'pkgs'), (MAX_ROUNDS + 1) * PER_SIDE * 2, signer, 1024 * 1024);
  return { ...f, signer, keyFile: path.join(keyDir, 'lxl-test-rsa4096.secret.asc') };
}

const side = <T>(xs: T[], round: number, which: 0 | 1): T[] => xs.slice((round * 2 + which) * PER_SIDE, (round * 2 + which + 1) * PER_SIDE);
const allVersions = (rounds: number): string[] => Array.from({ length: rounds * PER_SIDE * 2 }, (_, i) => versionOf(i)).sort();

test('local folder: two `lxl yum add --key` at once: one gets a clear lock error naming the holder, the retried loser lands, or both wait with --lock-wait; dnf lists every change', { skip: skipYum, timeout: 600_000 }, async () => {
  const dir = await tempDir('lxl-conc-yum-');
  const fx = await fixtures(dir);
  const repo = path.join(dir, 'repo');
  await mkdir(path.join(repo, 'public'), { recursive: true });
  const http = await serveStatic(path.join(repo, 'public'));
  let conflicts = 0;
  let round = 0;
  for (; round < MAX_ROUNDS && (round < MIN_ROUNDS || conflicts === 0); round++) {
    const cmd = (rpms: string[]) => ['yum', 'add', repo, ...rpms, '--key', fx.keyFile, '--retention', '0'];
    conflicts += await race(cmd(side(fx.rpms, round, 0)), cmd(side(fx.rpms, round, 1)), process.env, /^lxl: cannot lock yum repo .*: another lxl process \(pid \d+ on \S+\) holds /m);
  }
  console.log(`# local yum: ${conflicts} lock error(s) in ${round} rounds`);
  assert.ok(conflicts >= 1, 'the two publishers overlapped at least once');
  // One more round where both wait for the lock (--lock-wait) instead of failing: no error at all.
  const waitCmd = (rpms: string[]) => ['yum', 'add', repo, ...rpms, '--key', fx.keyFile, '--retention', '0', '--lock-wait', '120'];
  assert.equal(await race(waitCmd(side(fx.rpms, round, 0)), waitCmd(side(fx.rpms, round, 1)), process.env, /^$/), 0);
  round++;
  const seen = await (await dnfClient(path.join(dir, 'dnf'), http.url))();
  assert.deepEqual(seen.versions, allVersions(round));
});

test('local folder: two `lxl apt add --key` at once: one gets a clear lock error naming the holder, the retried loser lands, or both wait with --lock-wait; apt-get lists every change', { skip: skipApt, timeout: 600_000 }, async () => {
  const dir = await tempDir('lxl-conc-apt-');
  const fx = await fixtures(dir);
  const repo = path.join(dir, 'repo');
  await mkdir(path.join(repo, 'public'), { recursive: true });
  const http = await serveStatic(path.join(repo, 'public'));
  let conflicts = 0;
  let round = 0;
  for (; round < MAX_ROUNDS && (round < MIN_ROUNDS || conflicts === 0); round++) {
    const cmd = (debs: string[]) => ['apt', 'add', repo, ...debs, '--key', fx.keyFile, '--name', APT_NAME, '--xz-level', '1'];
    conflicts += await race(cmd(side(fx.debs, round, 0)), cmd(side(fx.debs, round, 1)), process.env, /^lxl: cannot lock the APT repo state .*: another lxl process \(pid \d+ on \S+\) holds /m);
  }
  console.log(`# local apt: ${conflicts} lock error(s) in ${round} rounds`);
  assert.ok(conflicts >= 1, 'the two publishers overlapped at least once');
  const waitCmd = (debs: string[]) => ['apt', 'add', repo, ...debs, '--key', fx.keyFile, '--name', APT_NAME, '--xz-level', '1', '--lock-wait', '120'];
  assert.equal(await race(waitCmd(side(fx.debs, round, 0)), waitCmd(side(fx.debs, round, 1)), process.env, /^$/), 0, 'both waited');
  round++;
  const c = await makeChroot('bookworm');
  try {
    const seen = await (await aptClient(c, http.url, Buffer.from(fx.signer.publicKeyBinary())))();
    assert.deepEqual(seen.versions, allVersions(round));
  } finally {
    await removeChroot(c);
  }
});

test('S3: two `lxl yum add --storage s3://...` at once: the bucket lock object makes one fail naming the holder (or wait with --lock-wait); dnf lists both changes', { skip: skipS3, timeout: 600_000 }, async () => {
  const dir = await tempDir('lxl-conc-s3-');
  const fx = await fixtures(dir);
  const srv = await startS3Server('lxl-conc');
  const proxy = await startFaultProxy({ upstream: srv.endpoint, enforceConditional: true });
  const url = `${srv.endpoint}/${srv.bucket}`;
  const storage = `s3://${srv.bucket}?endpoint=${encodeURIComponent(proxy.endpoint)}&pathStyle=true&checksums=WHEN_REQUIRED`;
  const cmd = (rpms: string[], wait: string[]) => ['yum', 'add', path.join(dir, 'repo'), ...rpms, '--key', fx.keyFile, '--retention', '0', '--base-url', url, '--storage', storage, ...wait];
  let conflicts = 0;
  let round = 0;
  for (; round < MAX_ROUNDS - 1 && (round < MIN_ROUNDS || conflicts === 0); round++) {
    // The S3 lock is taken before anything else (the catalogue lock is never reached by the loser).
    conflicts += await race(cmd(side(fx.rpms, round, 0), []), cmd(side(fx.rpms, round, 1), []), srv.env, /^lxl: cannot lock locks\/publish\.json: held by [^:\s]+:\d+:[0-9a-f]+ until /m);
  }
  // One more round where both wait for the lock (--lock-wait) instead of failing: no error at all.
  assert.equal(await race(cmd(side(fx.rpms, round, 0), ['--lock-wait', '120']), cmd(side(fx.rpms, round, 1), ['--lock-wait', '120']), srv.env, /^$/), 0);
  round++;
  console.log(`# S3 yum: ${conflicts} lock error(s) in ${round} rounds; ${proxy.stats.preconditionFailed} conditional request(s) refused`);
  assert.ok(conflicts >= 1, 'the two publishers overlapped at least once');
  assert.ok(proxy.stats.preconditionFailed >= 1, 'the lock was contended on S3');
  const seen = await (await dnfClient(path.join(dir, 'dnf'), url))();
  assert.deepEqual(seen.versions, allVersions(round));
});
