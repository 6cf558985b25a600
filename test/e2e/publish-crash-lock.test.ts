// A publisher SIGKILLed while it holds the repo-state lock must not block the
// rerun: `lxl apt publish` / `lxl yum publish` are killed once their lock file
// exists, then the same command run again must complete (the holder is dead).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildFixtures } from '../support/crash-trials.js';
import { lxl, missingTools } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const LXL = new URL('../../bin/lxl.mjs', import.meta.url).pathname;

/** Starts `lxl args`, SIGKILLs it as soon as `lockFile` exists; resolves whether the kill happened while the lock was held. */
async function killWhileLocked(args: string[], lockFile: string): Promise<boolean> {
  const child = spawn(process.execPath, [LXL, ...args], { stdio: 'ignore' });
  let killed = false;
  const poll = setInterval(() => {
    if (!killed && existsSync(lockFile)) {
      killed = true;
      child.kill('SIGKILL');
    }
  }, 2);
  await once(child, 'exit');
  clearInterval(poll);
  return killed && existsSync(lockFile);
}

for (const format of ['apt', 'yum'] as const) {
  const skip = format === 'yum' ? missingTools('rpm') : missingTools('xz');
  test(`a SIGKILLed \`lxl ${format} publish\` leaves no lock that blocks the rerun`, { skip, timeout: 300_000 }, async () => {
    const dir = await tempDir(`lxl-crash-lock-${format}-`);
    const { signer, dir: keyDir } = await testKey();
    const key = path.join(keyDir, 'lxl-test-rsa4096.secret.asc');
    const fx = await buildFixtures(path.join(dir, 'pkgs'), 6, signer, 256 * 1024);
    const repo = path.join(dir, 'repo');
    await lxl([format, 'add', repo, ...(format === 'apt' ? fx.debs : fx.rpms)]);
    const lockFile = format === 'apt' ? path.join(repo, 'state/apt/lock') : path.join(repo, 'state/yum/stable/lock');
    let held = false;
    for (let i = 0; i < 5 && !held; i++) held = await killWhileLocked([format, 'publish', repo, '--key', key], lockFile);
    assert.ok(held, 'the publisher was killed while holding its lock');
    const rerun = await lxl([format, 'publish', repo, '--key', key], { allowFail: true });
    assert.equal(rerun.code, 0, `the rerun completes:\n${rerun.stderr}`);
    assert.ok(!existsSync(lockFile), 'the rerun released the lock');
  });
}
