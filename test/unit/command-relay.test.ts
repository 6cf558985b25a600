// The command relay (repo-layout/command-relay.ts): commands run through one
// long-lived sh, not forked from this process, with their input, output,
// stderr and exit status carried through files; side by side; the sh is
// restarted after it dies, and neither it nor its folder outlives the process;
// the folders of killed processes are swept by their dead pids.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandRelay, sweepRelayDirs } from '../../repo-layout/command-relay.js';
import { run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The parent pid of a process, from /proc. */
function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

test('a command gets its input, and gives back its output, stderr and exit status; words reach it as they are', async () => {
  const relay = new CommandRelay();
  try {
    const up = await relay.run(['tr', 'a-z', 'A-Z'], { input: Buffer.from('hello\nrelay\n') });
    assert.deepEqual({ code: up.code, out: up.stdout.toString(), err: up.stderr }, { code: 0, out: 'HELLO\nRELAY\n', err: '' });
    const bad = await relay.run(['sh', '-c', 'echo "it failed" >&2; exit 3']);
    assert.deepEqual({ code: bad.code, out: bad.stdout.length, err: bad.stderr }, { code: 3, out: 0, err: 'it failed\n' });
    const words = ['a b', "it's", '$HOME', '`id`', '"q"', '*', '; exit 9', ''];
    const echoed = await relay.run(['printf', '%s|', ...words]);
    assert.equal(echoed.stdout.toString(), `${words.join('|')}|`);
    const missing = await relay.run(['lxl-no-such-command-here']);
    assert.equal(missing.code, 127);
    // The command is looked up on PATH as it is when run() is called, not as it was when the sh started.
    const path0 = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      assert.equal((await relay.run(['tr', 'a', 'b'])).code, 127);
    } finally {
      process.env.PATH = path0;
    }
    assert.equal((await relay.run(['tr', 'a', 'b'], { input: Buffer.from('a') })).stdout.toString(), 'b');
    // unsetEnv hides variables from that command only.
    assert.equal((await relay.run(['sh', '-c', 'echo ${HOME-none}'], { unsetEnv: ['HOME'] })).stdout.toString(), 'none\n');
    assert.equal((await relay.run(['sh', '-c', 'echo ${HOME-none}'])).stdout.toString(), `${process.env.HOME}\n`);
    await assert.rejects(relay.run(['true'], { unsetEnv: ['A; rm -rf x'] }), (e: Error & { code?: string }) => e.code === 'E_TOOL');
    await assert.rejects(relay.run(['printf', 'a\nb']), (e: Error & { code?: string }) => e.code === 'E_TOOL' && /newline/.test(e.message));
  } finally {
    relay.stop();
  }
});

test('a command gets its input within the turn run() is called in: it starts while the caller keeps the event loop busy', async () => {
  const relay = new CommandRelay();
  const dir = await tempDir('lxl-relay-turn-');
  const mark = path.join(dir, 'started');
  try {
    await relay.run(['true']); // the sh is up, as a CLI's is when its publish starts xz
    // 4 MiB (a big Packages text): written asynchronously, it would wait for thread-pool round trips and event-loop turns.
    const input = Buffer.alloc(4 << 20, 'a');
    const done = relay.run(['sh', '-c', `: > '${mark}'; wc -c`], { input });
    for (let i = 0; i < 50; i++) await Promise.resolve(); // microtasks only: no event-loop turn
    const until = Date.now() + 5000;
    while (!existsSync(mark) && Date.now() < until); // busy, as a slice of synchronous links is
    assert.ok(existsSync(mark), 'the command started while the event loop was busy');
    assert.equal((await done).stdout.toString().trim(), String(4 << 20));
  } finally {
    relay.stop();
  }
});

test('maxOutputBytes: output up to the limit comes back whole; past it the command is stopped and the result says overflow, without the output', async () => {
  const relay = new CommandRelay();
  try {
    const under = await relay.run(['head', '-c', '4096', '/dev/zero'], { maxOutputBytes: 4096 });
    assert.deepEqual({ code: under.code, out: under.stdout.length, overflow: under.overflow }, { code: 0, out: 4096, overflow: undefined });
    // 64 MiB asked for, 64 KiB allowed: stopped near the limit (SIGXFSZ), not after writing it all.
    const over = await relay.run(['head', '-c', String(64 * 1024 * 1024), '/dev/zero'], { maxOutputBytes: 64 * 1024 });
    assert.deepEqual({ overflow: over.overflow, out: over.stdout.length, code: over.code }, { overflow: true, out: 0, code: 128 + os.constants.signals.SIGXFSZ });
    // A sparse writer (xz -d makes holes of runs of zeros) is caught by its signal, not only by the file's size.
    const zeros = await relay.run(['sh', '-c', 'head -c 8000000 /dev/zero | xz -0 -c']);
    const sparse = await relay.run(['xz', '-d', '-c'], { input: zeros.stdout, maxOutputBytes: 100_000 });
    assert.equal(sparse.overflow, true, sparse.stderr);
    // A limit applies to its own command only.
    const after = await relay.run(['head', '-c', '200000', '/dev/zero']);
    assert.equal(after.stdout.length, 200_000);
    await assert.rejects(relay.run(['true'], { maxOutputBytes: -1 }), /maxOutputBytes -1 is not a byte count/);
  } finally {
    relay.stop();
  }
});

test('commands are run by the one sh (this process forks once), side by side', async () => {
  const relay = new CommandRelay();
  const dir = await tempDir('lxl-relay-test-');
  try {
    relay.start();
    const sh = relay.pid!;
    assert.equal(ppidOf(sh), process.pid);
    // Each command's grandparent (its subshell's parent) is the relay's sh, never this process.
    for (let i = 0; i < 3; i++) {
      const r = await relay.run(['sh', '-c', 'stat=$(cat /proc/$PPID/stat); set -- ${stat##*) }; echo $2']);
      assert.equal(Number(r.stdout.toString().trim()), sh, `command ${i}: run by the relay's sh`);
    }
    assert.equal(relay.pid, sh, 'the same sh throughout');
    // The first waits for a file the second makes: run one after the other, this would never end.
    const flag = path.join(dir, 'flag');
    const waiting = relay.run(['sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.02; done; echo seen', 'sh', flag]);
    const making = relay.run(['touch', flag]);
    const [w, m] = await Promise.all([waiting, making]);
    assert.equal(m.code, 0);
    assert.equal(w.stdout.toString(), 'seen\n');
  } finally {
    relay.stop();
  }
});

test('a sh that dies fails the commands it was running with a ToolError, and the next command starts a new one', async () => {
  const relay = new CommandRelay();
  try {
    relay.start();
    const first = relay.pid!;
    const hung = relay.run(['sleep', '3']);
    await new Promise((r) => setTimeout(r, 200));
    process.kill(first, 'SIGKILL');
    await assert.rejects(hung, (e: Error & { code?: string }) => e.code === 'E_TOOL' && /ended/.test(e.message));
    const again = await relay.run(['echo', 'back']);
    assert.equal(again.stdout.toString(), 'back\n');
    assert.notEqual(relay.pid, first);
  } finally {
    relay.stop();
  }
});

test('a process that used the relay exits on its own, and its sh and temporary folder go with it', async () => {
  const tmp = await tempDir('lxl-relay-exit-');
  const script = path.join(tmp, 'use.mts');
  await writeFile(
    script,
    `import { commandRelay } from ${JSON.stringify(path.join(repoRoot, 'repo-layout', 'command-relay.ts'))};\n` +
      `const r = await commandRelay.run(['echo', 'done']);\n` +
      `process.stdout.write(String(commandRelay.pid) + ' ' + r.stdout.toString());\n`,
  );
  const work = path.join(tmp, 'work');
  await run('mkdir', [work]);
  const out = await run(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, env: { ...process.env, TMPDIR: work }, timeoutMs: 30_000 });
  const [pid, said] = out.stdout.trim().split(' ');
  assert.equal(said, 'done');
  assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('lxl-relay-')), [], 'the relay folder is removed');
  // The sh sees EOF once its parent is gone; give it a moment.
  for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '), `the relay's sh (${pid}) ended with the process`);
});

test('sweepRelayDirs removes the folders that dead processes left a while ago, and nothing else; a relay whose folder is removed makes it again', async () => {
  const tmp = await tempDir('lxl-relay-sweep-');
  // A pid that ran and ended.
  const dead = Number((await run('sh', ['-c', 'echo $$'])).stdout.trim());
  const hourAgo = new Date(Date.now() - 3_600_000);
  const make = async (name: string, opts: { old: boolean; file?: boolean }) => {
    const p = path.join(tmp, name);
    if (opts.file) await writeFile(p, 'x');
    else {
      await mkdir(p);
      await writeFile(path.join(p, '3.in'), 'left over');
    }
    if (opts.old) await utimes(p, hourAgo, hourAgo);
    return p;
  };
  const gone = await make(`lxl-relay-${dead}-aB3xYz`, { old: true });
  const kept = [
    await make(`lxl-relay-${dead}-fresh1`, { old: false }), // too recent: maybe a live relay in another pid namespace
    await make('lxl-relay-1-a1b2c3', { old: true }), // pid 1 runs
    await make(`lxl-relay-${process.pid}-a1b2c3`, { old: true }), // this process
    await make('lxl-relay-Q1w2E3', { old: true }), // no pid in the name
    await make(`lxl-relay-${dead}-file00`, { old: true, file: true }), // not a folder
    await make(`other-${dead}-abcdef`, { old: true }),
  ];
  assert.deepEqual(await sweepRelayDirs({ tmpDir: tmp }), [gone]);
  assert.ok(!existsSync(gone));
  for (const k of kept) assert.ok(existsSync(k), `${k} is kept`);
  assert.deepEqual(await sweepRelayDirs({ tmpDir: tmp, minAgeMs: 0 }), [kept[0]], 'with no minimum age the recent one goes too');

  // A live relay's folder is named for its pid; removed under it, it is made again by the next command.
  const tmp0 = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  const relay = new CommandRelay();
  try {
    relay.start();
    const mine = readdirSync(tmp).filter((n) => n.startsWith(`lxl-relay-${process.pid}-`) && n !== `lxl-relay-${process.pid}-a1b2c3`);
    assert.equal(mine.length, 1, `the relay's folder: ${readdirSync(tmp).join(' ')}`);
    await rm(path.join(tmp, mine[0]), { recursive: true });
    const r = await relay.run(['tr', 'a', 'b'], { input: Buffer.from('aaa') });
    assert.deepEqual({ code: r.code, out: r.stdout.toString() }, { code: 0, out: 'bbb' });
  } finally {
    relay.stop();
    if (tmp0 === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp0;
  }
});

test('stop() resolves once the sh has exited and been reaped, idle or not (the start-up snapshot is saved only then)', async () => {
  for (const busy of [false, true]) {
    const relay = new CommandRelay();
    await relay.run(['true']);
    const pid = relay.pid!;
    assert.ok(pid > 0);
    const running = busy ? relay.run(['sleep', '5']).catch((err: Error) => err) : undefined;
    // Long enough for the command to be sent (its input is written first).
    if (busy) await new Promise((resolve) => setTimeout(resolve, 200));
    await relay.stop();
    // A killed child not yet reaped is a zombie, which kill(pid, 0) still finds.
    assert.throws(() => process.kill(pid, 0), (err: NodeJS.ErrnoException) => err.code === 'ESRCH', `busy ${busy}: the sh is gone`);
    if (running) assert.match(String(await running), /was stopped/);
    await relay.stop();
  }
});
