// The local repo-state lock (storage/state-lock.ts) and `--lock-wait`: a live
// holder's lock is refused at once by default, naming the holder; with a
// wait, it is taken as soon as the holder releases it, or refused once the
// wait is over, saying how long it waited. A dead holder's lock (this host,
// pid not running) is taken over at once. Then the CLI: `lxl apt add` and
// `lxl yum add --lock-wait` wait for a held lock and go on when it goes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LockedError } from '../../repo-layout/errors.js';
import { acquireStateLock } from '../../storage/state-lock.js';
import { makeDeb } from '../support/apt-debs.js';
import { lxl, missingTools } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { fixtureSpec, packRpm } from '../e2e/rpm-fixture.js';

/** A lock file as another live lxl process on this host would leave it (this test's own pid: alive). */
const liveHolder = (): string => `${process.pid} ${os.hostname()} ${new Date().toISOString()}\n`;

test('a live holder: refused at once by default, taken when it goes within the wait, refused after the wait saying so', async () => {
  const dir = await tempDir('lxl-state-lock-');
  const file = path.join(dir, 'lock');
  const release = await acquireStateLock(file, { what: 'the test repo' });
  const started = Date.now();
  await assert.rejects(acquireStateLock(file, { what: 'the test repo' }), (err: Error) => {
    assert.ok(err instanceof LockedError);
    assert.match(err.message, new RegExp(`^cannot lock the test repo: another lxl process \\(pid ${process.pid} on \\S+\\) holds ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; retry when it finishes$`));
    return true;
  });
  assert.ok(Date.now() - started < 1000, 'no wait without waitMs');

  const waited = Date.now();
  await assert.rejects(acquireStateLock(file, { what: 'the test repo', waitMs: 600, pollMs: 50 }), (err: Error) => err instanceof LockedError && / \(waited 0\.6 s\); retry when it finishes$/.test(err.message));
  assert.ok(Date.now() - waited >= 550, 'it waited');

  setTimeout(() => void release(), 400);
  const t0 = Date.now();
  const second = await acquireStateLock(file, { what: 'the test repo', waitMs: 10_000, pollMs: 50 });
  const took = Date.now() - t0;
  assert.ok(took >= 350 && took < 5000, `taken once released (${took} ms)`);
  assert.match(await readFile(file, 'utf8'), new RegExp(`^${process.pid} `));
  // Staleness counts from the lock's mtime: a lock taken after a wait is as new as the moment it was taken.
  assert.ok((await stat(file)).mtimeMs >= t0 + 300, 'the lock file is from the try that took it, not from the start of the wait');
  await second();
  await assert.rejects(readFile(file), { code: 'ENOENT' }, 'released');
});

test('a dead holder on this host is taken over at once, wait or not', async () => {
  const dir = await tempDir('lxl-state-lock-');
  const file = path.join(dir, 'lock');
  // pid 2^22 + 1 is above Linux's pid_max ceiling (4,194,304): no such process.
  await writeFile(file, `4194305 ${os.hostname()} ${new Date().toISOString()}\n`);
  const t0 = Date.now();
  const release = await acquireStateLock(file, { what: 'the test repo', waitMs: 10_000 });
  assert.ok(Date.now() - t0 < 1000);
  await release();
});

test('lxl apt add and lxl yum add --lock-wait wait for the repo lock and go on when it is released; without it they fail at once', { skip: missingTools('xz', 'gpg') }, async () => {
  const work = await tempDir('lxl-lock-wait-cli-');
  await mkdir(path.join(work, 'debs'));
  const deb = await makeDeb(path.join(work, 'debs'), { name: 'lxl-lock-wait', version: '1.0-1', arch: 'x86_64' });
  const rpm = await packRpm(await fixtureSpec(path.join(work, 'rpm-src'), { version: '6.1.1-1', krel: '6.1.1-1', extras: false }), path.join(work, 'rpms'));
  const repo = path.join(work, 'repo');
  const cases = [
    { args: ['apt', 'add', repo, deb], lock: path.join(repo, 'state/apt/lock'), done: /^added lxl-lock-wait 1\.0-1 amd64 in stable$/m, what: /cannot lock the APT repo state / },
    { args: ['yum', 'add', repo, rpm], lock: path.join(repo, 'state/yum/stable/lock'), done: /^added Packages\/k\/kernel-xen-legacy-6\.1\.1-1\.x86_64\.rpm$/m, what: /cannot lock yum repo / },
  ];
  for (const c of cases) {
    await mkdir(path.dirname(c.lock), { recursive: true });
    await writeFile(c.lock, liveHolder());
    const refused = await lxl(c.args, { allowFail: true });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, c.what);
    assert.match(refused.stderr, new RegExp(`another lxl process \\(pid ${process.pid} on \\S+\\) holds .*; retry when it finishes \\[E_LOCKED\\]`));

    const short = await lxl([...c.args, '--lock-wait', '0.5'], { allowFail: true });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /\(waited 0\.5 s\); retry when it finishes \[E_LOCKED\]/);

    // The holder goes 1.5 s into a 60 s wait: the command goes on then.
    const t0 = Date.now();
    const released = new Promise<void>((resolve) => setTimeout(() => void rm(c.lock, { force: true }).then(resolve), 1500));
    const waited = await lxl([...c.args, '--lock-wait', '60']);
    await released;
    assert.match(waited.stdout, c.done);
    assert.ok(Date.now() - t0 >= 1400, 'it waited for the holder');
  }
});
