// FsStorage.linkFiles: files readable by everyone land as hard links (same
// inode, no byte copied), anything else as a 0644 copy; an existing key is
// reported and left alone; a symlink is followed; a failed batch leaves
// nothing behind; and, checked with strace, a big batch makes its links
// durable with one syncfs after the last link instead of a fsync per file;
// missingKeys; the storage key rules every path goes through; and a big batch
// that comes as a stream is linked on the link thread, with the same outcomes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FsStorage } from '../../storage/fs-storage.js';
import { FormatError, StorageError } from '../../repo-layout/errors.js';
import { LinkThread } from '../../storage/link-thread.js';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

async function src(dir: string, name: string, body: string, mode = 0o644): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, body);
  await chmod(f, mode);
  return f;
}

test('linkFiles hard-links readable files into new folders and reports keys that exist without touching them', async () => {
  const root = await tempDir();
  const s = new FsStorage({ root: path.join(root, 'pub') });
  const a = await src(root, 'a.deb', 'alpha');
  const b = await src(root, 'b.deb', 'beta');
  await s.put('pool/b/beta/b.deb', 'published earlier');
  const r = await s.linkFiles([
    { key: 'pool/a/alpha/a.deb', file: a },
    { key: 'pool/b/beta/b.deb', file: b },
  ]);
  assert.deepEqual(r.existing, ['pool/b/beta/b.deb']);
  assert.equal((await stat(path.join(root, 'pub', 'pool/a/alpha/a.deb'))).ino, (await stat(a)).ino, 'a is the same inode');
  assert.equal(await readFile(path.join(root, 'pub', 'pool/b/beta/b.deb'), 'utf8'), 'published earlier', 'an existing key keeps its bytes');
  assert.notEqual((await stat(path.join(root, 'pub', 'pool/b/beta/b.deb'))).ino, (await stat(b)).ino);
  assert.deepEqual(await s.linkFiles([]), { existing: [] });
});

test('linkFiles copies (mode 0644) a file others cannot read, and one on another file system', async (t) => {
  const root = await tempDir();
  const s = new FsStorage({ root: path.join(root, 'pub') });
  const secret = await src(root, 'private.rpm', 'private bytes', 0o600);
  await s.linkFiles([{ key: 'Packages/p/private.rpm', file: secret }]);
  const dest = path.join(root, 'pub', 'Packages/p/private.rpm');
  const st = await stat(dest);
  assert.notEqual(st.ino, (await stat(secret)).ino, 'a 0600 file must not be linked (the published name would be unreadable to the web server)');
  assert.equal(st.mode & 0o777, 0o644);
  assert.equal(await readFile(dest, 'utf8'), 'private bytes');
  assert.equal((await stat(secret)).mode & 0o777, 0o600, 'the source keeps its mode');
  assert.deepEqual((await readdir(path.dirname(dest))).filter((n) => n.startsWith('.lxl-tmp-')), [], 'no temp file left');

  // /dev/shm is a tmpfs on Linux: link(2) across file systems fails with EXDEV, and the file is copied.
  const shm = await stat('/dev/shm').catch(() => undefined);
  if (!shm || shm.dev === (await stat(root)).dev) {
    t.skip('no /dev/shm on another file system here: the EXDEV fallback is not exercised');
    return;
  }
  const away = path.join('/dev/shm', `lxl-link-${process.pid}`);
  await mkdir(away, { recursive: true });
  try {
    const other = await src(away, 'other.deb', 'from another file system');
    await s.linkFiles([{ key: 'pool/o/other/other.deb', file: other }]);
    assert.equal(await readFile(path.join(root, 'pub', 'pool/o/other/other.deb'), 'utf8'), 'from another file system');
  } finally {
    await rm(away, { recursive: true, force: true });
  }
});

test('linkFiles follows a symlink: the published name is a regular file with the target inode', async () => {
  const root = await tempDir();
  const s = new FsStorage({ root: path.join(root, 'pub') });
  const real = await src(root, 'real.deb', 'real bytes');
  await symlink('real.deb', path.join(root, 'alias.deb'));
  await s.linkFiles([{ key: 'pool/r/real/real.deb', file: path.join(root, 'alias.deb') }]);
  const dest = path.join(root, 'pub', 'pool/r/real/real.deb');
  assert.ok((await lstat(dest)).isFile(), 'not a symlink');
  assert.equal((await stat(dest)).ino, (await stat(real)).ino);
});

test('a failing linkFiles batch leaves no name it made', async () => {
  const root = await tempDir();
  const s = new FsStorage({ root: path.join(root, 'pub') });
  const ok = await src(root, 'ok.deb', 'ok');
  const err = await s
    .linkFiles([
      { key: 'pool/o/ok/ok.deb', file: ok },
      { key: 'pool/m/missing/missing.deb', file: path.join(root, 'missing.deb') },
    ])
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(err instanceof StorageError, `expected a StorageError, got ${String(err)}`);
  assert.match((err as Error).message, /missing\.deb/, 'the message names the file');
  await assert.rejects(stat(path.join(root, 'pub', 'pool/o/ok/ok.deb')), /ENOENT/, 'the link made before the failure is gone');
});

for (const deferSync of [false, true]) {
  test(`a big linkFiles batch makes its links durable with one syncfs after the last link, not a fsync per file (strace)${deferSync ? '; with deferSync it resolves once the names exist, and `durable` is that syncfs' : ''}`, { skip: missingTools('strace', 'sync') }, async () => {
    const { BULK_SYNC_MIN } = await import('../../storage/fs-storage.js');
    const root = await tempDir();
    const files = await Promise.all(Array.from({ length: BULK_SYNC_MIN + 5 }, (_, i) => src(root, `f${i}.deb`, `file ${i}`)));
    const items = files.map((file, i) => ({ key: `pool/p${i % 7}/f${i}.deb`, file }));
    const script = path.join(root, 'link.mts');
    const pubDir = JSON.stringify(path.join(root, 'pub'));
    await writeFile(
      script,
      `import { FsStorage } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'storage', 'fs-storage.ts')).href)};\n` +
        (deferSync
          ? `import { existsSync } from 'node:fs';\n` +
            `const r = await new FsStorage({ root: ${pubDir} }).linkFiles(${JSON.stringify(items)}, { deferSync: true });\n` +
            `if (!(r.durable instanceof Promise)) throw new Error('no durable promise');\n` +
            `for (const it of ${JSON.stringify(items)}) if (!existsSync(${pubDir} + '/' + it.key)) throw new Error('missing ' + it.key);\n` +
            `await r.durable;\n`
          : `const r = await new FsStorage({ root: ${pubDir} }).linkFiles(${JSON.stringify(items)});\n` + `if ('durable' in r) throw new Error('durable without deferSync');\n`),
    );
    const trace = path.join(root, 'trace.txt');
    await run('strace', ['-f', '-y', '-o', trace, '-e', 'trace=link,linkat,fsync,fdatasync,syncfs', process.execPath, '--import', 'tsx', script], { cwd: repoRoot });
    const lines = (await readFile(trace, 'utf8')).split('\n');
    const pub = path.join(root, 'pub');
    const ends = (re: RegExp) => lines.flatMap((l, i) => (re.test(l) && !l.includes('<unfinished ...>') ? [i] : []));
    const links = ends(new RegExp(`link(at)?\\(.*${pub.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}|<\\.\\.\\. link(at)? resumed>`));
    const syncfs = ends(/syncfs\(|<\.\.\. syncfs resumed>/);
    assert.equal(links.length, items.length, `one link per file:\n${lines.join('\n')}`);
    assert.deepEqual(lines.filter((l) => /f(data)?sync\(/.test(l)), [], 'no fsync per file');
    assert.equal(syncfs.length, 1, `one syncfs:\n${lines.join('\n')}`);
    assert.ok(syncfs[0] > Math.max(...links), 'the syncfs comes after the last link');
    for (const it of items) assert.equal((await stat(path.join(pub, it.key))).ino, (await stat(it.file)).ino, it.key);
  });
}

test('missingKeys names the keys that hold no file (a folder is no file), in the order asked', async () => {
  const root = await tempDir();
  const s = new FsStorage({ root });
  await s.putMany(Array.from({ length: 300 }, (_, i) => ({ key: `pool/p/f${i}`, body: String(i) })));
  const keys = ['pool/p/f7', 'pool/p/nope', 'pool/p', 'pool/p/f299', 'other/x'];
  assert.deepEqual(await s.missingKeys(keys), ['pool/p/nope', 'pool/p', 'other/x']);
  assert.deepEqual(await s.missingKeys(Array.from({ length: 300 }, (_, i) => `pool/p/f${i}`)), []);
});

test('storage keys: clean relative paths pass; empty segments, dot segments, absolute paths and NUL are refused', async () => {
  const { assertKey } = await import('../../storage/storage.js');
  for (const k of ['a', 'apt/pool/main/l/linux/linux_6.1+1~a_all.deb', '.hidden/x', 'a/..b', 'a/b..', '...', 'a/.../b']) assert.doesNotThrow(() => assertKey(k), k);
  for (const k of ['', '/a', 'a/', 'a//b', '.', '..', 'a/./b', 'a/../b', '../a', 'a/..', 'a\0b', 'a/.']) assert.throws(() => assertKey(k), /invalid storage key/, JSON.stringify(k));
  const root = await tempDir();
  await assert.rejects(new FsStorage({ root }).put('pool/../escape', 'x'), /invalid storage key/);
});

/** The items as an async iterable, as a reader hands them over one by one; `fail` throws instead of item `fail.at`. */
async function* stream(items: Array<{ key: string; file: string }>, fail?: { at: number; error: Error }): AsyncGenerator<{ key: string; file: string }> {
  for (const [i, it] of items.entries()) {
    await new Promise((r) => setImmediate(r));
    if (fail && i === fail.at) throw fail.error;
    yield it;
  }
}

test('a big batch that comes as a stream is linked on the link thread, with the same outcomes as an array batch', async (t) => {
  const root = await tempDir();
  const s = new FsStorage({ root: path.join(root, 'pub') });
  const files = await Promise.all(Array.from({ length: 150 }, (_, i) => src(root, `f${i}.deb`, `bytes ${i}`)));
  const items = files.map((file, i) => ({ key: `pool/main/f/f${i % 40}/f${i}.deb`, file }));
  // Among them: a key that exists (left alone, reported), a file others cannot read (copied 0644), a symlink (followed).
  await mkdir(path.join(root, 'pub', 'pool/main/f/f3'), { recursive: true });
  await writeFile(path.join(root, 'pub', items[3].key), 'already here');
  items[70].file = await src(root, 'private.deb', 'private', 0o600);
  await symlink('f5.deb', path.join(root, 'alias.deb'));
  items[100].file = path.join(root, 'alias.deb');
  const before = LinkThread.jobsRun;
  const { existing } = await s.linkFiles(stream(items));
  assert.equal(LinkThread.jobsRun - before, 150, 'every link went to the link thread');
  assert.deepEqual(existing, [items[3].key]);
  assert.equal(await readFile(path.join(root, 'pub', items[3].key), 'utf8'), 'already here');
  for (const i of [0, 39, 40, 149]) assert.equal((await stat(path.join(root, 'pub', items[i].key))).ino, (await stat(files[i])).ino, `item ${i} is a hard link`);
  const copied = await stat(path.join(root, 'pub', items[70].key));
  assert.notEqual(copied.ino, (await stat(items[70].file)).ino);
  assert.equal(copied.mode & 0o777, 0o644);
  const viaLink = path.join(root, 'pub', items[100].key);
  assert.ok((await lstat(viaLink)).isFile());
  assert.equal((await stat(viaLink)).ino, (await stat(files[5])).ino);
  // A short stream is linked on the calling thread.
  const few = await Promise.all(Array.from({ length: 5 }, (_, i) => src(root, `g${i}.deb`, `g ${i}`)));
  const mid = LinkThread.jobsRun;
  await s.linkFiles(stream(few.map((file, i) => ({ key: `pool/main/g/g${i}/g${i}.deb`, file }))));
  assert.equal(LinkThread.jobsRun, mid, 'a stream of 5 items started no thread work');
  assert.equal(await readFile(path.join(root, 'pub', 'pool/main/g/g4/g4.deb'), 'utf8'), 'g 4');
  t.diagnostic(`link thread jobs in this process: ${LinkThread.jobsRun}`);
});

test('without the link thread (linkThread: false, the CLI), a big stream is linked on the calling thread once it ends, and a failure midway stores nothing', async () => {
  const root = await tempDir();
  const s = new FsStorage({ root: path.join(root, 'pub'), linkThread: false });
  const files = await Promise.all(Array.from({ length: 150 }, (_, i) => src(root, `f${i}.deb`, `bytes ${i}`)));
  const items = files.map((file, i) => ({ key: `pool/main/f/f${i % 40}/f${i}.deb`, file }));
  const published = async (): Promise<string[]> => (await readdir(path.join(root, 'pub'), { recursive: true }).catch(() => [])).filter((n) => n.endsWith('.deb'));
  const bad = new FormatError('cannot read f120.deb: not a .deb');
  const before = LinkThread.jobsRun;
  await assert.rejects(s.linkFiles(stream(items, { at: 120, error: bad })), (err) => err === bad);
  assert.deepEqual(await published(), []);
  await mkdir(path.join(root, 'pub', 'pool/main/f/f3'), { recursive: true });
  await writeFile(path.join(root, 'pub', items[3].key), 'already here');
  const { existing } = await s.linkFiles(stream(items));
  assert.equal(LinkThread.jobsRun, before, 'no link went to the link thread');
  assert.deepEqual(existing, [items[3].key]);
  assert.equal((await published()).length, 150);
  for (const i of [0, 39, 40, 149]) assert.equal((await stat(path.join(root, 'pub', items[i].key))).ino, (await stat(files[i])).ino, `item ${i} is a hard link`);
});

test('a streamed batch stores nothing when its source fails midway (the source error comes out as it is) or when a link fails', async () => {
  const root = await tempDir();
  const s = new FsStorage({ root: path.join(root, 'pub') });
  const files = await Promise.all(Array.from({ length: 200 }, (_, i) => src(root, `f${i}.deb`, `bytes ${i}`)));
  const items = files.map((file, i) => ({ key: `pool/main/f/f${i}/f${i}.deb`, file }));
  const published = async (): Promise<string[]> => (await readdir(path.join(root, 'pub'), { recursive: true })).filter((n) => n.endsWith('.deb'));
  // The reader fails after 150 items (two chunks already on the thread).
  const bad = new FormatError('cannot read f150.deb: not a .deb');
  await assert.rejects(s.linkFiles(stream(items, { at: 150, error: bad })), (err) => err === bad);
  assert.deepEqual(await published(), []);
  // A link that fails on the thread (a folder is not a regular file) in the middle of a chunk: the names made before
  // and after it in that chunk, and in the other chunks, go too.
  const broken = items.map((it, i) => (i === 100 ? { ...it, file: root } : it));
  await assert.rejects(s.linkFiles(stream(broken)), (err) => err instanceof StorageError && /not a regular file/.test(err.message) && err.message.includes(root));
  assert.deepEqual(await published(), []);
  // The same storage then takes the whole batch.
  assert.deepEqual((await s.linkFiles(stream(items))).existing, []);
  assert.equal((await published()).length, 200);
});
