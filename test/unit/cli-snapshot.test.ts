// The CLI's start-up snapshot (cli/snapshot.ts, made by bin/build.mjs, run by
// bin/lxl): the repo commands run from it and write exactly what the same
// commands write through bin/lxl.mjs; what a command reads at run time (its
// arguments, the environment, packages outside the bundle, the link thread)
// is the run's, not the build's; and bin/lxl uses it only when it is sure the
// blob fits (made by this node, dist/ current), naming why when it does not.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDeb } from '../support/apt-debs.js';
import { lxl, run } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { distCurrent, hasEsbuild, sourceDirs } from '../support/dist.js';
import { tempDir } from '../support/tmp.js';

const top = fileURLToPath(new URL('../..', import.meta.url));
const blob = path.join(top, 'dist', 'snapshot', 'lxl.blob');
// Why bin/build.mjs made no snapshot, when it could not (it goes on without one).
const failedFile = path.join(top, 'dist', 'snapshot-failed.txt');
const failed = existsSync(failedFile) ? readFileSync(failedFile, 'utf8').trim() : undefined;
// With esbuild installed and dist/ current, a missing snapshot is a build bug (a failure below), not a skip; except on
// a Node whose snapshot builder fails on lxl's heap (Node 22.23 aborts on OpenPGP.js's), which is skipped, saying so.
const skip = !distCurrent
  ? 'dist/ is not current (npm run build): bin/lxl runs bin/lxl.mjs, not the snapshot'
  : !hasEsbuild
    ? 'esbuild is not installed, so bin/build.mjs made no snapshot'
    : failed && !process.version.startsWith('v20.')
      ? `bin/build.mjs could not make the start-up snapshot on this Node (bin/lxl runs bin/lxl.mjs): ${failed.split('\n')[0]}`
      : undefined;

const debugEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, LXL_LAUNCH_DEBUG: '1', ...extra });
const FROM_SNAPSHOT = /^lxl: starting from the start-up snapshot .*dist\/snapshot\/lxl\.blob$/m;

/** Every file under `dir` (relative path → bytes), for comparing two published trees. */
async function tree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const p = path.join(e.parentPath, e.name);
      out.set(path.relative(dir, p), await readFile(p));
    }
  }
  return out;
}

test('bin/build.mjs made the snapshot, for this node, and its warm-up left no temporary folder', { skip }, () => {
  assert.equal(failed, undefined, 'bin/build.mjs could not make the start-up snapshot');
  assert.ok(existsSync(blob), 'no dist/snapshot/lxl.blob although esbuild is installed and dist/ is current');
  assert.deepEqual(
    readdirSync(os.tmpdir()).filter((f) => f.startsWith('lxl-snapshot-')),
    [],
    'the warm-up (cli/snapshot-warmup.ts) leaves its folder behind',
  );
});

test('lxl apt add of 70 debs (the link thread) and one more, from the snapshot, writes byte for byte what bin/lxl.mjs writes; arguments and environment are the run’s', { skip }, async () => {
  const started = Date.now();
  const dir = await tempDir('lxl-cli-snapshot-');
  // A space and a non-ASCII letter in the paths: the command line reaches the snapshot as given.
  const debDir = path.join(dir, 'debs dé');
  await mkdir(debDir);
  const debs = await Promise.all(Array.from({ length: 71 }, (_, i) => makeDeb(debDir, { name: `snap-${String(i).padStart(2, '0')}`, version: '1.0+1~s1', arch: i % 2 ? 'all' : 'x86_64' })));
  const key = path.join((await testKey({})).dir, 'lxl-test-rsa4096.secret.asc');
  // SOURCE_DATE_EPOCH is read when the command runs (the build ran with none): both trees carry its date.
  const env = { SOURCE_DATE_EPOCH: '1767225600' };
  const repos = { snapshot: path.join(dir, 'from snapshot'), plain: path.join(dir, 'plain') };
  for (const [way, repo] of Object.entries(repos)) {
    const e = debugEnv(way === 'plain' ? { ...env, LXL_NO_SNAPSHOT: '1' } : env);
    const full = await lxl(['apt', 'add', repo, ...debs.slice(0, 70), '--key', key, '--link'], { env: e });
    const one = await lxl(['apt', 'add', repo, debs[70], '--key', key, '--link'], { env: e });
    for (const r of [full, one]) {
      if (way === 'snapshot') assert.match(r.stderr, FROM_SNAPSHOT);
      else assert.match(r.stderr, /running bin\/lxl\.mjs: LXL_FROM_SOURCE=1 or LXL_NO_SNAPSHOT is set/);
    }
    assert.match(one.stdout, /^published stable: 71 package\(s\)$/m);
  }
  const [a, b] = [await tree(path.join(repos.snapshot, 'public')), await tree(path.join(repos.plain, 'public'))];
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  // Signatures carry the time they were made, and the mirror trace file (apt/project/trace/) the time of the
  // publish; everything else is the same bytes.
  const timed = (f: string): boolean => f.startsWith('apt/project/trace/') || /(InRelease|Release\.gpg)$/.test(f);
  for (const [f, bytes] of a) if (!timed(f)) assert.ok(bytes.equals(b.get(f)!), `${f} differs between the snapshot and bin/lxl.mjs`);
  assert.match(a.get('apt/dists/stable/Release')!.toString(), /^Date: Thu, 01 Jan 2026 00:00:00 UTC$/m);
  // The snapshot's signatures verify and were made now (OpenPGP.js was loaded at build time, its clock is the run's).
  const keyring = path.join((await testKey({})).dir, 'lxl-test-rsa4096.gpg');
  for (const args of [['apt/dists/stable/InRelease'], ['apt/dists/stable/Release.gpg', 'apt/dists/stable/Release']]) {
    const v = await run('gpgv', ['--status-fd', '1', '--keyring', keyring, ...args.map((f) => path.join(repos.snapshot, 'public', f))]);
    const made = Number(/^\[GNUPG:\] VALIDSIG \S+ \S+ (\d+)/m.exec(v.stdout)?.[1]);
    assert.ok(made >= started / 1000 - 1 && made <= Date.now() / 1000 + 1, `${args[0]} signed at ${made}, not during this test`);
  }
  // The pool was linked on the link thread (a Worker started in the restored process), not copied.
  const pooled = [...a.keys()].filter((f) => f.endsWith('.deb'));
  assert.equal(pooled.length, 71);
  const first = pooled.find((f) => f.includes('snap-00_'))!;
  assert.equal((await stat(path.join(repos.snapshot, 'public', first))).ino, (await stat(debs[0])).ino, `${first} is a hard link of its input`);
  // A failure is reported as from bin/lxl.mjs: one line with the error code, exit 1.
  const bad = await lxl(['apt', 'add', repos.snapshot, path.join(debDir, 'missing.deb')], { env: debugEnv(), allowFail: true });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, FROM_SNAPSHOT);
  assert.match(bad.stderr, /^lxl: cannot read .*missing\.deb: no such file or directory \[E_IO\]$/m);
});

test('lxl pack rpm --key from the snapshot (web streams, first loaded after the restore) gives an rpm that rpmkeys verifies', { skip }, async () => {
  const dir = await tempDir('lxl-cli-snapshot-rpm-');
  const spec = path.join(dir, 'spec.json');
  await writeFile(spec, JSON.stringify({ name: 'snap-rpm', version: '1.0+1~s1', arch: 'x86_64', maintainer: 'A <a@example.org>', summary: 's', files: [{ path: 'usr/share/doc/snap-rpm/README', content: 'hi\n' }] }));
  const k = await testKey({});
  const r = await lxl(['pack', 'rpm', '--spec', spec, '--out', path.join(dir, 'out'), '--key', path.join(k.dir, 'lxl-test-rsa4096.secret.asc')], { env: debugEnv() });
  assert.match(r.stderr, FROM_SNAPSHOT);
  const rpm = r.stdout.trim();
  const db = path.join(dir, 'rpmdb');
  await mkdir(db);
  await run('rpmkeys', ['--dbpath', db, '--import', path.join(k.dir, 'lxl-test-rsa4096.asc')]);
  const checked = await run('rpmkeys', ['--dbpath', db, '--checksig', rpm]);
  assert.match(checked.stdout, /: digests signatures OK$/m);
});

test('bin/lxl runs bin/lxl.mjs, and says why, for other commands, NODE_OPTIONS, another node, or a source newer than dist/', { skip }, async () => {
  const help = await lxl(['server', '--help'], { env: debugEnv() });
  assert.match(help.stderr, /running bin\/lxl\.mjs: 'server' is not a repo command/);
  assert.match(help.stdout, /Usage: lxl server/);

  // NODE_OPTIONS may hold V8 options, with which node refuses the blob: bin/lxl.mjs runs, and works.
  const opts = await lxl(['apt', '--help'], { env: debugEnv({ NODE_OPTIONS: '--max-old-space-size=512' }) });
  assert.match(opts.stderr, /running bin\/lxl\.mjs: NODE_OPTIONS is set/);
  assert.match(opts.stdout, /Usage: lxl apt/);

  // Another node binary (a copy of this one: same version, another file) must not load a blob made by this one.
  const dir = await tempDir('lxl-cli-snapshot-node-');
  await mkdir(path.join(dir, 'bin'));
  await copyFile(process.execPath, path.join(dir, 'bin', 'node'));
  await utimes(path.join(dir, 'bin', 'node'), new Date('2020-01-01'), new Date('2020-01-01'));
  const other = await lxl(['apt', '--help'], { env: debugEnv({ PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` }) });
  assert.match(other.stderr, /running bin\/lxl\.mjs: the start-up snapshot was made by another Node binary than .*\/bin\/node/);
  assert.match(other.stdout, /Usage: lxl apt/);

  // A copy of the layout (bin/lxl, a stand-in bin/lxl.mjs, dist/ with the real blob) with a source newer than the build.
  const lay = path.join(dir, 'layout');
  for (const d of ['bin', 'dist/snapshot', ...sourceDirs]) await mkdir(path.join(lay, d), { recursive: true });
  await copyFile(path.join(top, 'bin', 'lxl'), path.join(lay, 'bin', 'lxl'));
  await writeFile(path.join(lay, 'bin', 'lxl.mjs'), "process.stdout.write('stand-in bin/lxl.mjs ' + process.argv.slice(2).join(' '));\n");
  await symlink(blob, path.join(lay, 'dist', 'snapshot', 'lxl.blob'));
  for (const f of ['node-id', 'source-dirs']) await copyFile(path.join(top, 'dist', 'snapshot', f), path.join(lay, 'dist', 'snapshot', f));
  await writeFile(path.join(lay, 'dist', '.built'), '');
  const old = new Date(Date.now() - 3600_000);
  for (const d of [...sourceDirs, 'dist/.built']) await utimes(path.join(lay, d), old, old);
  const current = await run(path.join(lay, 'bin', 'lxl'), ['apt', '--help'], { env: debugEnv() });
  assert.match(current.stderr, /^lxl: starting from the start-up snapshot .*layout\/bin\/\.\.\/dist\/snapshot\/lxl\.blob$/m);
  assert.match(current.stdout, /Usage: lxl apt/);
  await writeFile(path.join(lay, 'cli', 'edited.ts'), '');
  const stale = await run(path.join(lay, 'bin', 'lxl'), ['apt', '--help'], { env: debugEnv() });
  assert.match(stale.stderr, /running bin\/lxl\.mjs: a source is newer than dist\/ \(cli/);
  assert.equal(stale.stdout, 'stand-in bin/lxl.mjs apt --help');
});
