// Deterministic tar streams for every archive writer (deb data.tar and
// control.tar, .tar.gz/.tar.xz tarballs), on tar-stream. Entries are
// `./`-prefixed, owned by root:root (0/0), in the given (sorted) order, and all
// carry one mtime (the spec's SOURCE_DATE_EPOCH). File bytes are streamed from
// disk with backpressure; nothing holds a whole payload in memory.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';
import { FormatError, StorageError } from './errors.js';
import type { FileEntry } from './model.js';

/** Options for tarStream. */
export interface TarStreamOptions {
  /** Seconds since the epoch stamped on every entry. */
  mtime: number;
  /** Emit a `./` entry (mode 0755) first, as dpkg-deb and `tar -C dir .` do. Default true. */
  rootEntry?: boolean;
  /** When given, receives the hex md5 of every regular file by path (for a deb's md5sums). */
  md5s?: Map<string, string>;
  /** Aborts the stream between and inside entries. */
  signal?: AbortSignal;
}

type TarHeader = Partial<Header> & { name: string };

// Files up to this size are read in one call; larger ones are streamed in chunks of it.
const CHUNK = 256 * 1024;

/** A readable tar of `entries` (already sorted, relative paths); errors (missing or changed file) end it with a typed error. */
export function tarStream(entries: readonly FileEntry[], opts: TarStreamOptions): Readable {
  const pack = tarPack();
  const produce = async (): Promise<void> => {
    const mtime = new Date(opts.mtime * 1000);
    if (opts.rootEntry ?? true) await addEntry(pack, { type: 'dir', path: '', mode: 0o755 }, mtime, opts);
    for (const e of entries) {
      opts.signal?.throwIfAborted();
      await addEntry(pack, e, mtime, opts);
    }
    pack.finalize();
  };
  produce().catch((err: unknown) => pack.destroy(err as Error));
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}

/** The archive name of a model path: `./path` (and `./path/` for directories; `./` for the root). */
export function archiveName(e: Pick<FileEntry, 'path' | 'type'>): string {
  if (e.path === '') return './';
  return e.type === 'dir' ? `./${e.path}/` : `./${e.path}`;
}

function baseHeader(e: FileEntry, mtime: Date): TarHeader {
  return { name: archiveName(e), mode: e.mode & 0o7777, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime };
}

async function addEntry(pack: Pack, e: FileEntry, mtime: Date, opts: TarStreamOptions): Promise<void> {
  const header = baseHeader(e, mtime);
  if (e.type === 'dir') return entryWith(pack, { ...header, type: 'directory', size: 0 });
  if (e.type === 'symlink') return entryWith(pack, { ...header, type: 'symlink', linkname: e.target, size: 0 });
  const md5 = opts.md5s ? createHash('md5') : undefined;
  if (e.content !== undefined || e.size <= CHUNK) {
    const body = e.content ?? (await readSource(e));
    if (body.length !== e.size) throw changed(e, body.length);
    md5?.update(body);
    await entryWith(pack, { ...header, type: 'file', size: e.size }, body);
  } else {
    await streamFile(pack, { ...header, type: 'file', size: e.size }, e, md5, opts.signal);
  }
  if (md5) opts.md5s!.set(e.path, md5.digest('hex'));
}

function entryWith(pack: Pack, header: TarHeader, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    // Errors reach us through `done`; the sink's own 'error' event must not crash the process.
    const sink = body ? pack.entry(header, body, done) : pack.entry(header, done);
    sink.on('error', () => {});
  });
}

async function readSource(e: Extract<FileEntry, { type: 'file' }>): Promise<Buffer> {
  try {
    return await readFile(e.source!);
  } catch (err) {
    throw new StorageError(`cannot read ${e.source} for ${e.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

async function streamFile(pack: Pack, header: TarHeader, e: Extract<FileEntry, { type: 'file' }>, md5: ReturnType<typeof createHash> | undefined, signal?: AbortSignal): Promise<void> {
  let finished!: Promise<void>;
  const sink = new Promise<ReturnType<Pack['entry']>>((ready) => {
    finished = new Promise<void>((resolve, reject) => {
      ready(pack.entry(header, (err) => (err ? reject(err) : resolve())));
    });
  });
  const entry = await sink;
  entry.on('error', () => {}); // reported through `finished`
  finished.catch(() => {}); // awaited below; a destroyed pack rejects it early
  let written = 0;
  try {
    for await (const chunk of createReadStream(e.source!, { highWaterMark: CHUNK, signal }) as AsyncIterable<Buffer>) {
      written += chunk.length;
      if (written > e.size) throw changed(e, written);
      md5?.update(chunk);
      if (!entry.write(chunk)) await Promise.race([new Promise<void>((r) => entry.once('drain', () => r())), finished]);
    }
  } catch (err) {
    if (err instanceof FormatError || (err as Error).name === 'AbortError') throw err;
    throw new StorageError(`cannot read ${e.source} for ${e.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (written !== e.size) throw changed(e, written);
  entry.end(undefined);
  await finished;
}

function changed(e: Extract<FileEntry, { type: 'file' }>, got: number): FormatError {
  return new FormatError(`cannot archive ${e.path}: its size changed while packing (expected ${e.size} bytes, read ${got}); do not modify the staged tree during a pack`);
}
