// FsStorage.putMany: a batch lands whole (exact bytes, new folders, no temp
// files left), a failing batch publishes nothing, and, checked with strace on
// the real syscalls, every file's bytes are fsynced before any rename and each
// folder is fsynced after the renames; a big batch flushes with one syncfs
// before the renames and one after instead.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FsStorage } from '../../storage/fs-storage.js';
import { StorageError } from '../../repo-layout/errors.js';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

async function allFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await allFiles(dir, p)));
    else out.push(p);
  }
  return out.sort();
}

test('putMany writes every item with its bytes, creates folders, replaces old bytes and leaves no temp files', async () => {
  const root = await tempDir();
  const s = new FsStorage({ root });
  await s.put('apt/dists/stable/Release', 'old');
  const items = [
    { key: 'apt/pool/main/a/alpha/alpha_1_all.deb', body: Buffer.from([0, 1, 2, 255]) },
    { key: 'apt/pool/main/b/beta/beta_1_all.deb', body: 'beta bytes' },
    { key: 'apt/dists/stable/Release', body: 'new' },
  ];
  await s.putMany(items);
  for (const it of items) assert.deepEqual(await readFile(path.join(root, it.key)), Buffer.from(it.body), it.key);
  assert.deepEqual(await allFiles(root), items.map((i) => i.key).sort());
  const listed: string[] = [];
  for await (const o of s.list('apt/pool/')) listed.push(o.key);
  assert.deepEqual(listed, items.slice(0, 2).map((i) => i.key).sort());
  await s.putMany([]);
});

/** Runs one FsStorage(<root>/pub).putMany of `keys` (each key's bytes are its name) under strace -f for `calls`; returns the trace file. */
async function stracePutMany(root: string, keys: string[], calls: string): Promise<string> {
  const script = path.join(root, 'batch.mts');
  await writeFile(
    script,
    `import { FsStorage } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'storage', 'fs-storage.ts')).href)};\n` +
      `await new FsStorage({ root: ${JSON.stringify(path.join(root, 'pub'))} }).putMany(${JSON.stringify(keys)}.map((key) => ({ key, body: key })));\n`,
  );
  const trace = path.join(root, 'trace.txt');
  await run('strace', ['-f', '-y', '-o', trace, '-e', `trace=${calls}`, process.execPath, '--import', 'tsx', script], { cwd: repoRoot });
  return trace;
}

test('a failing putMany publishes none of its items and removes its temp files', async () => {
  const root = await tempDir();
  const s = new FsStorage({ root });
  await mkdir(path.join(root, 'apt'), { recursive: true });
  await writeFile(path.join(root, 'apt', 'blocker'), 'a file where a folder is needed');
  const err = await s
    .putMany([
      { key: 'apt/ok/one', body: 'one' },
      { key: 'apt/blocker/two', body: 'two' },
    ])
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(err instanceof StorageError, `expected a StorageError, got ${String(err)}`);
  assert.deepEqual(
    (await allFiles(root)).filter((f) => f !== 'apt/blocker'),
    [],
    'nothing but the blocker may be left (no final names, no .lxl-tmp-* files)',
  );
});

test('a big putMany (>= BULK_SYNC_MIN files) that fails midway, or is aborted, publishes none of its items and leaves no temp files', async () => {
  const { BULK_SYNC_MIN } = await import('../../storage/fs-storage.js');
  const root = await tempDir();
  const s = new FsStorage({ root });
  await mkdir(path.join(root, 'apt'), { recursive: true });
  await writeFile(path.join(root, 'apt', 'blocker'), 'a file where a folder is needed');
  const n = BULK_SYNC_MIN * 2;
  // The blocked item comes after a full slice of files already written under temp names.
  const items = Array.from({ length: n }, (_, i) => ({ key: i === n - 3 ? 'apt/blocker/late' : `apt/pool/p${i % 5}/f${i}.deb`, body: `bytes ${i}` }));
  await assert.rejects(s.putMany(items), (e: unknown) => e instanceof StorageError && /apt\/blocker/.test((e as Error).message));
  assert.deepEqual((await allFiles(root)).filter((f) => f !== 'apt/blocker'), [], 'no final names, no .lxl-tmp-* files');
  // Aborted while the batch runs (the abort lands at a slice boundary): nothing published either.
  const ac = new AbortController();
  const ok = items.map((it, i) => ({ key: `apt/pool/q${i % 5}/g${i}.deb`, body: it.body, opts: { signal: ac.signal } }));
  const pending = s.putMany(ok);
  setImmediate(() => ac.abort(new Error('client went away')));
  await assert.rejects(pending, StorageError);
  assert.deepEqual((await allFiles(root)).filter((f) => f !== 'apt/blocker'), [], 'an aborted batch leaves nothing');
  // And the same storage then takes the batch whole.
  await s.putMany(ok.map(({ key, body }) => ({ key, body })));
  assert.equal((await allFiles(root)).length, n + 1);
});

test('putMany fsyncs every file before the first rename and each folder after the last (strace)', { skip: missingTools('strace') }, async () => {
  const root = await tempDir();
  const keys = ['pool/a/x.deb', 'pool/a/y.deb', 'pool/b/z.deb', 'dists/s/Packages', 'dists/s/Release'];
  const trace = await stracePutMany(root, keys, 'fsync,fdatasync,rename,renameat,renameat2');
  // Join each thread's "<unfinished ...>" start with its "<... resumed>" end.
  const events: Array<{ name: string; args: string; start: number; end: number }> = [];
  const pending = new Map<string, { name: string; args: string; start: number }>();
  const lines = (await readFile(trace, 'utf8')).split('\n');
  lines.forEach((line, i) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const [, pid, rest] = m;
    const resumed = /^<\.\.\. (\w+) resumed>/.exec(rest);
    if (resumed) {
      const p = pending.get(pid);
      if (p) events.push({ ...p, end: i });
      pending.delete(pid);
      return;
    }
    const call = /^(\w+)\((.*)$/.exec(rest);
    if (!call) return;
    if (rest.includes('<unfinished ...>')) pending.set(pid, { name: call[1], args: call[2], start: i });
    else events.push({ name: call[1], args: call[2], start: i, end: i });
  });
  const pub = path.join(root, 'pub');
  const renames = events.filter((e) => e.name.startsWith('rename') && e.args.includes(pub));
  const fileSyncs = events.filter((e) => /sync$/.test(e.name) && e.args.includes('/.lxl-tmp-'));
  assert.equal(renames.length, keys.length, `one rename per key:\n${lines.join('\n')}`);
  assert.equal(fileSyncs.length, keys.length, `one fsync per temp file:\n${lines.join('\n')}`);
  const firstRename = Math.min(...renames.map((e) => e.start));
  const lastRename = Math.max(...renames.map((e) => e.end));
  assert.ok(Math.max(...fileSyncs.map((e) => e.end)) < firstRename, `a rename came before every file was fsynced:\n${lines.join('\n')}`);
  for (const dir of ['pool/a', 'pool/b', 'dists/s']) {
    const abs = path.join(pub, dir);
    const synced = events.some((e) => /sync$/.test(e.name) && e.args.includes(`<${abs}>`) && e.start > lastRename);
    assert.ok(synced, `folder ${dir} was not fsynced after the renames:\n${lines.join('\n')}`);
  }
  for (const k of keys) assert.equal(await readFile(path.join(pub, k), 'utf8'), k);
});

test('a big putMany (>= BULK_SYNC_MIN files) flushes with one syncfs before the first rename and one after the last, not a fsync per file (strace)', { skip: missingTools('strace', 'sync') }, async () => {
  const { BULK_SYNC_MIN } = await import('../../storage/fs-storage.js');
  const root = await tempDir();
  const keys = Array.from({ length: BULK_SYNC_MIN + 6 }, (_, i) => `pool/p${i % 9}/f${i}.deb`);
  const trace = await stracePutMany(root, keys, 'fsync,fdatasync,syncfs,rename,renameat,renameat2');
  const lines = (await readFile(trace, 'utf8')).split('\n');
  const pub = path.join(root, 'pub');
  // Line numbers of completed calls (a call's "resumed" line counts as its end).
  const ends = (re: RegExp) => lines.flatMap((l, i) => (re.test(l) && !l.includes('<unfinished ...>') ? [i] : []));
  const renames = ends(new RegExp(`rename\\w*\\(.*${pub.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}|<\\.\\.\\. rename\\w* resumed>`));
  const syncfs = ends(/syncfs\(|<\.\.\. syncfs resumed>/);
  const tempSyncs = lines.filter((l) => /f(data)?sync\(/.test(l) && l.includes('/.lxl-tmp-'));
  assert.equal(renames.length, keys.length, `one rename per key:\n${lines.join('\n')}`);
  assert.deepEqual(tempSyncs, [], 'no fsync per temp file');
  assert.equal(syncfs.length, 2, `two syncfs calls:\n${lines.join('\n')}`);
  assert.ok(syncfs[0] < Math.min(...renames), 'the first syncfs ends before any rename');
  assert.ok(syncfs[1] > Math.max(...renames), 'the second syncfs comes after the last rename');
  for (const k of keys) assert.equal(await readFile(path.join(pub, k), 'utf8'), k);
});

test('list gives every file of a big folder with its size and mtime, in key order, skipping temp files, file symlinks and directory aliases', async () => {
  const root = await tempDir();
  const st = new FsStorage({ root });
  const n = 150;
  await st.putMany(Array.from({ length: n }, (_, i) => ({ key: `p/b/f${String(i).padStart(3, '0')}`, body: 'x'.repeat(i), opts: { mtimeMs: 1_700_000_000_000 + i * 1000 } })));
  await writeFile(path.join(root, 'p', 'b', '.lxl-tmp-half-written'), 'partial');
  await symlink('f001', path.join(root, 'p', 'b', 'zz-link'));
  await st.linkDirectory('p/alias', 'b');
  const listed: Array<{ key: string; size: number; mtimeMs: number }> = [];
  for await (const o of st.list('p/')) listed.push(o);
  assert.equal(listed.length, n, listed.slice(-3).map((o) => o.key).join(' '));
  listed.forEach((o, i) => {
    assert.equal(o.key, `p/b/f${String(i).padStart(3, '0')}`);
    assert.equal(o.size, i);
    assert.equal(o.mtimeMs, 1_700_000_000_000 + i * 1000);
  });
  // A prefix inside a file name's folder, and one that names no folder.
  const keys = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const o of st.list(prefix)) out.push(o.key);
    return out;
  };
  assert.deepEqual(await keys('p/b/f14'), Array.from({ length: 10 }, (_, i) => `p/b/f14${i}`));
  assert.deepEqual(await keys('q/'), []);
  // listKeys: the same keys, from directory entries alone.
  for (const prefix of ['p/', 'p/b/f14', 'q/']) assert.deepEqual(await st.listKeys(prefix), await keys(prefix), prefix);
});
