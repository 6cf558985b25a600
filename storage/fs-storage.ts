// Local-folder storage: every write goes to a temp file in the same
// directory, is fsynced, then renamed into place, so a crash never leaves a
// half-written file under a published name. putMany does the same for a
// batch but shares the waits: every temp file is durable before any rename,
// and each directory is fsynced once after the renames. A big batch (a pool of
// thousands of .debs) flushes with one syncfs(2) (`sync --file-system`) before
// the renames and one after, instead of a fsync per file and per directory.
// linkFiles stores files that never change (content-addressed artifacts) by
// hard link: link(2) is atomic and refuses an existing name, so no temp file,
// no rename and no copied byte.

import fs, { createReadStream, createWriteStream } from 'node:fs';
import { promisify } from 'node:util';
import { chmod, copyFile, link, lstat, mkdir, open, readFile, readdir, rename, rm, rmdir, stat, symlink, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { mapLimit } from '../repo-layout/concurrency.js';
import { NotFoundError, StorageError } from '../repo-layout/errors.js';
import { assertKey, type LinkFilesOptions, type LinkFilesResult, type LinkItem, type ObjectInfo, type PublishedStorage, type PutItem, type PutOptions } from './storage.js';
import { asBuffer } from '../repo-layout/bytes.js';
import { commandRelay } from '../repo-layout/command-relay.js';
import { discardWriteStream } from './durable-file.js';
import { LinkThread, linkOne, type LinkJob, type LinkOutcome } from './link-thread.js';

export interface FsStorageOptions {
  /** The folder that holds the published tree. */
  root: string;
  /**
   * Link a big stream of items (linkFiles) on the process's link thread while the caller produces the next ones
   * (default true: a long-lived process, the server). A one-shot process (the CLI) passes false and links them on its
   * own thread once the stream ends: the thread's start and its isolate's first memory touches (~4,000 page faults on
   * this project's VMs, where each costs ~20 µs) cost it more than the overlap saves (bench/NOTES.md, session 21).
   */
  linkThread?: boolean;
}

/** A PublishedStorage on a local folder (the embedded default). */
export class FsStorage implements PublishedStorage {
  readonly root: string;
  readonly setsMtime = true;
  private readonly linkThread: boolean;

  constructor(opts: FsStorageOptions) {
    this.root = path.resolve(opts.root);
    this.linkThread = opts.linkThread ?? true;
  }

  private abs(key: string): string {
    assertKey(key);
    // A checked key has no `.`, `..` or empty segment, so on POSIX the join is a concatenation (called per pool file).
    return path.sep === '/' ? `${this.root}/${key}` : path.join(this.root, ...key.split('/'));
  }

  localPath(key: string): string {
    return this.abs(key);
  }

  async put(key: string, body: Readable | Uint8Array | string, opts: PutOptions = {}): Promise<void> {
    const dest = this.abs(key);
    const tmp = await this.writeTemp(dest, body, opts.signal);
    try {
      if (opts.mtimeMs !== undefined) await utimes(tmp, new Date(), new Date(opts.mtimeMs));
      await rename(tmp, dest);
      await fsyncByPath(path.dirname(dest));
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StorageError(`cannot write ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  async putMany(items: PutItem[]): Promise<void> {
    if (items.length === 0) return;
    if (items.length >= BULK_SYNC_MIN) return this.putBulk(items);
    const dests = items.map((it) => this.abs(it.key));
    const temps: string[] = new Array(items.length);
    const signal = items.find((it) => it.opts?.signal)?.opts?.signal;
    try {
      const syncDirs = await makeParents(dests);
      // Contents durable before any name points at them: a crash leaves temps, never a short file under a final name.
      // A few files: fsyncs side by side.
      await mapLimit(items, 16, async (it, i) => {
        signal?.throwIfAborted();
        const tmp = path.join(path.dirname(dests[i]), `.lxl-tmp-${randomBytes(6).toString('hex')}`);
        // Plain fds rather than FileHandles: a batch of thousands of small files is bound by per-file overhead.
        const fd = await fdOpen(tmp, 'wx', 0o644);
        temps[i] = tmp;
        try {
          const buf = typeof it.body === 'string' ? Buffer.from(it.body) : it.body;
          for (let off = 0; off < buf.length; ) off += await fdWrite(fd, buf, off, buf.length - off);
          if (it.opts?.mtimeMs !== undefined) await fdUtimes(fd, new Date(), new Date(it.opts.mtimeMs));
          await fdSync(fd);
        } finally {
          await fdClose(fd);
        }
      });
      signal?.throwIfAborted();
      await mapLimit(items, 16, async (_, i) => {
        await rename(temps[i], dests[i]);
        temps[i] = '';
      });
      await mapLimit([...syncDirs], 16, (d) => fsyncByPath(d));
    } catch (err) {
      await Promise.all(temps.filter(Boolean).map((t) => rm(t, { force: true })));
      throw new StorageError(`cannot write ${items.length} file(s) under ${this.root}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * putMany for a big batch: synchronous calls in short slices (as linkFiles), since thousands of small files are
   * bound by per-call overhead and concurrent creates in one folder contend for its lock; one syncfs makes every temp
   * file durable before any rename, one more makes the renames durable.
   */
  private async putBulk(items: PutItem[]): Promise<void> {
    const dests = items.map((it) => this.abs(it.key));
    const temps: string[] = new Array(items.length).fill('');
    const signal = items.find((it) => it.opts?.signal)?.opts?.signal;
    const tag = randomBytes(6).toString('hex');
    const slice = new SyncSlicer();
    try {
      const syncDirs = new Set<string>();
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        const buf = typeof it.body === 'string' ? Buffer.from(it.body) : it.body;
        await slice.tick(buf.length);
        signal?.throwIfAborted();
        const dir = path.dirname(dests[i]);
        if (!syncDirs.has(dir)) noteMade(syncDirs, dir, fs.mkdirSync(dir, { recursive: true }));
        const tmp = `${dir}/.lxl-tmp-${tag}-${i}`;
        const fd = fs.openSync(tmp, 'wx', 0o644);
        temps[i] = tmp;
        try {
          for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
          if (it.opts?.mtimeMs !== undefined) fs.futimesSync(fd, new Date(), new Date(it.opts.mtimeMs));
        } finally {
          fs.closeSync(fd);
        }
      }
      // Contents durable before any name points at them: a crash leaves temps, never a short file under a final name.
      if (!(await syncFileSystem(this.root))) await mapLimit(temps, 16, (t) => fsyncByPath(t));
      signal?.throwIfAborted();
      for (let i = 0; i < items.length; i++) {
        await slice.tick(0);
        fs.renameSync(temps[i], dests[i]);
        temps[i] = '';
      }
      if (!(await syncFileSystem(this.root))) await mapLimit([...syncDirs], 16, (d) => fsyncByPath(d));
    } catch (err) {
      await Promise.all(temps.filter(Boolean).map((t) => rm(t, { force: true })));
      throw new StorageError(`cannot write ${items.length} file(s) under ${this.root}: ${(err as Error).message}`, { cause: err });
    }
  }

  async linkFiles(items: LinkItem[] | AsyncIterable<LinkItem>, opts: LinkFilesOptions = {}): Promise<LinkFilesResult> {
    const existing: string[] = [];
    const stored: string[] = [];
    // Directories to fsync once the names are made: each destination's, and the parent of every directory made now.
    const syncDirs = new Set<string>();
    let count = 0;
    // A failed batch stores nothing: the names it made go again (none is referenced yet; existing ones were never touched).
    const unstore = async (): Promise<void> => {
      await Promise.all(stored.map((f) => rm(f, { force: true })));
    };
    const failure = (err: unknown): StorageError => new StorageError(`cannot store ${count} file(s) under ${this.root}: ${(err as Error).message}`, { cause: err });
    /** Records what became of one item; a file that cannot be linked is copied here. */
    const settle = async (it: LinkItem, dest: string, outcome: LinkOutcome, copySync: boolean): Promise<void> => {
      if (outcome === 'not-file') throw new StorageError(`cannot store ${it.file}: not a regular file`);
      const made = outcome === 'linked' || (outcome === 'copy' && (await copyNoReplace(it.file, dest, { sync: copySync })));
      if (made) stored.push(dest);
      else existing.push(it.key);
    };
    // A stream of items goes to the link thread once it proves big; a short one, or any without the thread, is
    // linked here, like an array.
    let list: LinkItem[];
    let rest: AsyncIterator<LinkItem> | undefined;
    if (Array.isArray(items)) list = items;
    else {
      const iter = items[Symbol.asyncIterator]();
      const onThreadFrom = this.linkThread ? LINK_CHUNK : Infinity;
      list = [];
      rest = iter;
      while (list.length < onThreadFrom) {
        const n = await iter.next();
        if (n.done) {
          rest = undefined;
          break;
        }
        list.push(n.value);
      }
    }
    try {
      if (rest) {
        count = await this.linkOnThread(list, rest, syncDirs, settle);
      } else {
        count = list.length;
        const bulk = count >= BULK_SYNC_MIN;
        const slice = new SyncSlicer();
        // Synchronous calls in short slices, yielding to the event loop between them: concurrent mkdir(2) and link(2)
        // in one parent folder (a pool letter) contend for its lock, and thread-pool round trips cost 3x the CPU.
        for (const it of list) {
          await slice.tick(0);
          const dest = this.abs(it.key);
          const dir = path.dirname(dest);
          if (!syncDirs.has(dir)) noteMade(syncDirs, dir, fs.mkdirSync(dir, { recursive: true }));
          await settle(it, dest, linkOne(fs, it.file, dest), !bulk);
        }
      }
    } catch (err) {
      await unstore();
      if (err instanceof SourceFailed) throw err.cause;
      throw failure(err);
    }
    // A link's bytes are the source file's: make them durable too (a copy was fsynced before its name appeared).
    const durable = (async (): Promise<void> => {
      try {
        if (count < BULK_SYNC_MIN || !(await syncFileSystem(this.root))) {
          await mapLimit(stored, 16, (f) => fsyncByPath(f));
          await mapLimit([...syncDirs], 16, (d) => fsyncByPath(d));
        }
      } catch (err) {
        await unstore();
        throw failure(err);
      }
    })();
    if (opts.deferSync) {
      // The caller awaits it before the names become reachable; until then a rejection must not end the process.
      durable.catch(() => {});
      return { existing: existing.sort(), durable };
    }
    await durable;
    return { existing: existing.sort() };
  }

  /**
   * linkFiles for a big batch whose items come as the caller produces them (it reads the next package while the last
   * ones are linked): the folders and links are made on the process's link thread, LINK_CHUNK at a time. Returns how
   * many items came. A failure of the items' source comes out as SourceFailed; a failed link stops taking items.
   */
  private async linkOnThread(
    head: LinkItem[],
    rest: AsyncIterator<LinkItem>,
    syncDirs: Set<string>,
    settle: (it: LinkItem, dest: string, outcome: LinkOutcome, copySync: boolean) => Promise<void>,
  ): Promise<number> {
    const thread = await LinkThread.get();
    const sentDirs = new Set<string>();
    const batches: Array<Promise<void>> = [];
    let failed: unknown;
    let count = 0;
    let chunk: Array<{ it: LinkItem; job: LinkJob }> = [];
    const send = (): void => {
      const sent = chunk;
      chunk = [];
      const done = thread.run(sent.map((x) => x.job)).then(async (results) => {
        // Every name made is recorded (a failed batch removes them), even after a failure in the same chunk.
        let first: unknown;
        for (const [i, r] of results.entries()) {
          const { it, job } = sent[i];
          if (job.mkdir) noteMade(syncDirs, job.mkdir, r.made);
          try {
            if ('error' in r) throw new StorageError(`cannot store ${it.file} as ${it.key}: ${r.error}`);
            // A copy's bytes are fsynced before its name appears: the batch's size, and so the syncfs, is not known yet.
            await settle(it, job.dest, r.outcome, true);
          } catch (err) {
            first ??= err;
          }
        }
        if (first !== undefined) throw first;
      });
      done.catch((err: unknown) => (failed ??= err));
      batches.push(done);
    };
    const take = (it: LinkItem): void => {
      count++;
      const dest = this.abs(it.key);
      const dir = path.dirname(dest);
      syncDirs.add(dir);
      chunk.push({ it, job: { file: it.file, dest, mkdir: sentDirs.has(dir) ? undefined : (sentDirs.add(dir), dir) } });
      if (chunk.length === LINK_CHUNK) send();
    };
    head.forEach(take);
    try {
      for (;;) {
        if (failed !== undefined) {
          // Stop the source (its reads in flight settle); the link failure is what the caller hears about.
          await Promise.resolve(rest.return?.()).catch(() => {});
          break;
        }
        const n = await rest.next();
        if (n.done) break;
        take(n.value);
      }
    } catch (err) {
      await Promise.allSettled(batches);
      throw new SourceFailed(err);
    }
    if (chunk.length > 0 && failed === undefined) send();
    // Every batch ends before the caller cleans up, so no name is made after that.
    const bad = (await Promise.allSettled(batches)).find((r) => r.status === 'rejected');
    if (bad) throw bad.reason;
    return count;
  }

  async putIfAbsent(key: string, body: Uint8Array | string, opts: PutOptions = {}): Promise<boolean> {
    const dest = this.abs(key);
    const tmp = await this.writeTemp(dest, body, opts.signal);
    try {
      // link(2) fails with EEXIST when dest exists: an atomic create-if-absent.
      await link(tmp, dest);
      await fsyncByPath(path.dirname(dest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new StorageError(`cannot create ${key}: ${(err as Error).message}`, { cause: err });
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async get(key: string): Promise<Readable> {
    const file = this.abs(key);
    await this.statOrThrow(key, file);
    return createReadStream(file);
  }

  async getBytes(key: string): Promise<Buffer> {
    try {
      return await readFile(this.abs(key));
    } catch (err) {
      throw this.readError(key, err);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await stat(this.abs(key));
      return st.isFile() ? { key, size: st.size, mtimeMs: st.mtimeMs } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError(`cannot stat ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  async missingKeys(keys: string[]): Promise<string[]> {
    const out: string[] = [];
    // stat(2) of a cached inode takes microseconds; through the thread pool each would cost a round trip.
    for (let i = 0; i < keys.length; i++) {
      if (i % (SYNC_SLICE * 4) === SYNC_SLICE * 4 - 1) await new Promise((r) => setImmediate(r));
      const st = fs.statSync(this.abs(keys[i]), { throwIfNoEntry: false });
      if (!st?.isFile()) out.push(keys[i]);
    }
    return out;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const keys = await this.listKeys(prefix);
    // Sizes and mtimes side by side: a pool folder of thousands of files is bound by per-call latency.
    const infos = await mapLimit(keys, 16, async (key) => {
      const st = await lstat(this.abs(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      return st?.isFile() ? { key, size: st.size, mtimeMs: st.mtimeMs } : undefined;
    });
    for (const i of infos) if (i) yield i;
  }

  /** The regular files under `prefix`, in key order, from directory entries alone (no call per file). */
  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw err;
      }
      for (const e of entries) {
        // A directory alias made by linkDirectory is a symlink and is not walked (its files are listed under the target).
        if (e.name.startsWith('.lxl-tmp-') || e.isSymbolicLink()) continue;
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(path.join(dir, e.name), key);
        } else if (e.isFile() && key.startsWith(prefix)) keys.push(key);
      }
    };
    await walk(this.root, '');
    return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const file = this.abs(key);
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StorageError(`cannot delete ${key}: ${(err as Error).message}`, { cause: err });
    }
    // Objects are files: a directory left empty goes too (S3 has no directories), so collected generations leave nothing behind.
    for (let d = path.dirname(file); d.startsWith(`${this.root}${path.sep}`); d = path.dirname(d)) {
      if (!(await rmdir(d).then(() => true, () => false))) break;
    }
  }

  async linkDirectory(key: string, target: string): Promise<void> {
    const dest = this.abs(key);
    if (!/^[^/\\]+$/.test(target) || target === '.' || target === '..') throw new StorageError(`cannot link ${key} to ${JSON.stringify(target)}: the target must be a sibling directory name`);
    const dir = path.dirname(dest);
    const st = await stat(path.join(dir, target)).catch(() => undefined);
    if (!st?.isDirectory()) throw new StorageError(`cannot link ${key} to ${target}: no such directory`);
    const tmp = path.join(dir, `.lxl-tmp-${randomBytes(6).toString('hex')}`);
    try {
      await symlink(target, tmp);
      const old = await lstat(dest).catch(() => undefined);
      if (old?.isDirectory()) await rename(dest, `${dest}.pre-link-${randomBytes(4).toString('hex')}`);
      // rename(2) replaces the old link in one step: a reader resolves the old target or the new.
      await rename(tmp, dest);
      await fsyncByPath(dir);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StorageError(`cannot link ${key} to ${target}: ${(err as Error).message}`, { cause: err });
    }
  }

  async copy(from: string, to: string): Promise<void> {
    const src = this.abs(from);
    const dest = this.abs(to);
    await this.statOrThrow(from, src);
    await mkdir(path.dirname(dest), { recursive: true });
    const tmp = path.join(path.dirname(dest), `.lxl-tmp-${randomBytes(6).toString('hex')}`);
    try {
      // Published files are never changed in place (every write renames a new file over), so sharing the inode is safe.
      await link(src, tmp).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err;
        await copyFile(src, tmp);
        const fh = await open(tmp, 'r');
        await fh.sync().finally(() => fh.close());
      });
      await rename(tmp, dest);
      await fsyncByPath(path.dirname(dest));
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StorageError(`cannot copy ${from} to ${to}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async writeTemp(dest: string, body: Readable | Uint8Array | string, signal?: AbortSignal): Promise<string> {
    await mkdir(path.dirname(dest), { recursive: true });
    const tmp = path.join(path.dirname(dest), `.lxl-tmp-${randomBytes(6).toString('hex')}`);
    let out: fs.WriteStream | undefined;
    try {
      const src = typeof body === 'string' || body instanceof Uint8Array ? Readable.from([asBuffer(body)]) : body;
      out = createWriteStream(tmp, { mode: 0o644 });
      await pipeline(src, out, { signal });
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      return tmp;
    } catch (err) {
      await discardWriteStream(out);
      await rm(tmp, { force: true });
      throw new StorageError(`cannot write ${dest}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async statOrThrow(key: string, file: string): Promise<void> {
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new NotFoundError(`no object ${key}`);
    } catch (err) {
      throw this.readError(key, err);
    }
  }

  private readError(key: string, err: unknown): Error {
    if (err instanceof NotFoundError) return err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new NotFoundError(`no object ${key}`, { cause: err });
    return new StorageError(`cannot read ${key}: ${(err as Error).message}`, { cause: err });
  }
}

const fdOpen = promisify(fs.open);
const fdSync = promisify(fs.fsync);
const fdClose = promisify(fs.close);
const fdUtimes = promisify(fs.futimes);
const fdWrite = (fd: number, buf: Uint8Array, off: number, len: number): Promise<number> =>
  new Promise((resolve, reject) => fs.write(fd, buf, off, len, null, (err, n) => (err ? reject(err) : resolve(n))));


/** From this many files on, putMany flushes with syncfs(2) rather than a fsync per file and directory. */
export const BULK_SYNC_MIN = 64;

/** Links sent to the link thread at a time. */
const LINK_CHUNK = 64;

/** The items' own source (a reader of the caller's) failed: linkFiles rethrows its error as it is, after cleaning up. */
class SourceFailed extends Error {
  constructor(cause: unknown) {
    super('the items of linkFiles failed', { cause });
  }
}

/**
 * syncfs(2) on the file system holding `dir` (coreutils `sync --file-system`; Node has no binding). It also writes
 * other processes' dirty data on that file system, so it serves big batches only. False when it cannot run.
 */
export async function syncFileSystem(dir: string): Promise<boolean> {
  try {
    // Through the relay: no fork of this process, whose heap may be big by now (command-relay.ts).
    return (await commandRelay.run(['sync', '--file-system', dir])).code === 0;
  } catch {
    return false;
  }
}

/** Creates the parent directories of `files`; returns the directories to fsync once names are made in them (each parent, and the parent of every directory created now). */
async function makeParents(files: string[]): Promise<Set<string>> {
  const dirs = [...new Set(files.map((d) => path.dirname(d)))];
  const syncDirs = new Set<string>();
  await mapLimit(dirs, 16, async (d) => noteMade(syncDirs, d, await mkdir(d, { recursive: true })));
  return syncDirs;
}

/** Adds `dir`, and the parent of each directory `mkdir -p` made (from `first`, what it returned, down to `dir`), to the directories to fsync. */
function noteMade(syncDirs: Set<string>, dir: string, first: string | undefined): void {
  syncDirs.add(dir);
  for (let x = dir; first && x.length >= first.length && x !== path.dirname(x); x = path.dirname(x)) syncDirs.add(path.dirname(x));
}

/** Synchronous calls made in a row before linkFiles or a bulk putMany yields to the event loop. */
const SYNC_SLICE = 64;
/** …or bytes written in a row. */
const SYNC_SLICE_BYTES = 8 << 20;

/** Counts synchronous calls (and bytes written) and yields to the event loop after a slice of them. */
class SyncSlicer {
  private calls = 0;
  private bytes = 0;

  async tick(bytes: number): Promise<void> {
    this.calls++;
    this.bytes += bytes;
    if (this.calls < SYNC_SLICE && this.bytes < SYNC_SLICE_BYTES) return;
    this.calls = 0;
    this.bytes = 0;
    await new Promise((r) => setImmediate(r));
  }
}

/** Copies `file` to `dest` (mode 0644) under a temp name linked into place, so an existing `dest` is kept: false then. */
async function copyNoReplace(file: string, dest: string, opts: { sync: boolean }): Promise<boolean> {
  const tmp = path.join(path.dirname(dest), `.lxl-tmp-${randomBytes(6).toString('hex')}`);
  try {
    await copyFile(file, tmp, fs.constants.COPYFILE_EXCL);
    await chmod(tmp, 0o644);
    if (opts.sync) await fsyncByPath(tmp);
    // link(2), not rename(2): a name that appeared meanwhile is kept, never replaced.
    return await link(tmp, dest).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') return false;
        throw err;
      },
    );
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Fsyncs a file, or a directory (which makes the renames in it durable). */
async function fsyncByPath(dir: string): Promise<void> {
  const fd = await fdOpen(dir, 'r');
  try {
    await fdSync(fd);
  } finally {
    await fdClose(fd);
  }
}

FsStorage satisfies new (opts: FsStorageOptions) => PublishedStorage;
