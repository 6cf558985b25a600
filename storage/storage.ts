// The published-storage seam (after aptly's PublishedStorage): a small,
// file-shaped interface with one implementation per backend. Keys are
// relative POSIX paths such as `apt/dists/stable/InRelease`.

import type { Readable } from 'node:stream';

/** How clients and caches may keep a file (DESIGN.md §5). */
export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_INDEX = 'no-cache';

export interface PutOptions {
  contentType?: string;
  cacheControl?: string;
  signal?: AbortSignal;
  /** The modification time (Last-Modified) to record, ms since the epoch, on a backend whose `setsMtime` is true; others ignore it. */
  mtimeMs?: number;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** Last modification, ms since the epoch. */
  mtimeMs: number;
}

/** One object of a batch write. */
export interface PutItem {
  key: string;
  body: Uint8Array | string;
  opts?: PutOptions;
}

/** One local file to store by link (PublishedStorage.linkFiles). */
export interface LinkItem {
  key: string;
  /** The local file; its bytes must never change in place from now on (a content-addressed artifact). */
  file: string;
}

/** How linkFiles stores (PublishedStorage.linkFiles). */
export interface LinkFilesOptions {
  /**
   * Resolve once every name exists, before the names are durable, and give `durable`, which settles when they are
   * (a flush of the file system that the caller's next writes can overlap). Nothing may make the names reachable (an
   * index listing them) before it resolves. If it rejects, the names this call made are gone again.
   */
  deferSync?: boolean;
}

/** What linkFiles did. */
export interface LinkFilesResult {
  /** Keys that existed already (left alone, for the caller to compare), sorted. */
  existing: string[];
  /** With LinkFilesOptions.deferSync: settles once the names made are durable. */
  durable?: Promise<void>;
}

/** A place published files live: a local folder, an S3 bucket. */
export interface PublishedStorage {
  /** True when put and putMany record PutOptions.mtimeMs as the file's time (the local folder; S3 sets Last-Modified itself). */
  readonly setsMtime?: boolean;
  /** Writes `body` at `key` atomically: readers see the old bytes or the new, never a part. */
  put(key: string, body: Readable | Uint8Array | string, opts?: PutOptions): Promise<void>;
  /** Optional batch put: like put for each item (each atomic, all durable when it resolves); a backend may share fsync waits across the batch. */
  putMany?(items: PutItem[]): Promise<void>;
  /**
   * Optional (the local folder): stores each local file at its key as a hard link, so no byte is copied; a file that
   * cannot be linked (another file system, or not readable by everyone as published files must be) is copied. A key
   * that already exists is left alone and returned, for the caller to compare. Each store is atomic; all are durable
   * when it resolves (with `deferSync`, when its `durable` does). The caller promises the files are never rewritten in place (the link shares their bytes).
   * Items may come as an async iterable, as the caller reads them: the links are then made on a thread of their own
   * meanwhile. A failure stores nothing; an error thrown by the iterable itself comes out unchanged.
   */
  linkFiles?(items: LinkItem[] | AsyncIterable<LinkItem>, opts?: LinkFilesOptions): Promise<LinkFilesResult>;
  /** Writes `body` at `key` only if nothing is there; resolves false (writing nothing) when it exists. */
  putIfAbsent(key: string, body: Uint8Array | string, opts?: PutOptions): Promise<boolean>;
  /** Opens `key` for reading; rejects with NotFoundError when it is missing. */
  get(key: string): Promise<Readable>;
  /** Reads a small object fully into memory; rejects with NotFoundError when it is missing. */
  getBytes(key: string): Promise<Buffer>;
  /** Size and mtime of `key`, or undefined when it is missing. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Optional: the keys of `keys` that hold no object, in one call where the backend answers many cheaply (the local folder). */
  missingKeys?(keys: string[]): Promise<string[]>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Optional: the keys `list` gives, without sizes and mtimes, where those cost a call per object (the local folder). */
  listKeys?(prefix: string): Promise<string[]>;
  /** Removes `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Optional, where the backend can swap a whole directory atomically (the local folder): makes the directory `key`
   * an alias of its sibling directory `target` (a relative symlink made under a temp name and renamed over `key`), so
   * readers through `key` see every file of the old target or every file of the new one, never a mix. A real
   * directory at `key` (an older layout) is first moved aside to `<key>.pre-link-<random>`; that one-time migration
   * step is not atomic. `list` does not descend into such aliases: their files are listed under the target.
   */
  linkDirectory?(key: string, target: string): Promise<void>;
  /** Optional: the local file that holds `key` (the local folder), so a caller can tell that a file it was given already is that object. */
  localPath?(key: string): string;
  /** Optional cheap copy of an existing object to a new key (the local folder: a hard link); rejects with NotFoundError when `from` is missing. */
  copy?(from: string, to: string): Promise<void>;
}

/** Throws unless `key` is a clean relative path (no `..`, no leading `/`). */
export function assertKey(key: string): void {
  if (!CLEAN_KEY.test(key) || DOT_SEGMENT.test(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
}

/** Non-empty segments without NUL joined by single slashes (no leading or trailing slash). */
const CLEAN_KEY = /^[^/\0]+(?:\/[^/\0]+)*$/;
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;
