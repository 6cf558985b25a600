// Changes to an APT repo's content: add .deb files (store in the pool, record
// in the catalogue) and remove packages. Publishing is separate (apt-publish).

import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { CACHE_IMMUTABLE, type LinkItem, type PublishedStorage, type PutItem } from '../../storage/storage.js';
import { DigestStream } from '../digests.js';
import { ConfigError, ConflictError, NotFoundError } from '../errors.js';
import { checkImmutable, type AddOutcome, type AptCatalog, type AptRecord, type RemoveMatch } from './apt-catalog.js';
import { readDeb, readDebRecord } from './apt-ingest.js';
import { warmPackagesXz, type SuiteOptions } from './apt-index.js';
import type { XzBlockCache } from './packages-xz.js';
import { mapAhead, mapLimit } from '../concurrency.js';
import { linkedNow, takeBack } from '../take-back.js';

/** Bytes of small .debs kept in memory between reading and storing them (bigger batches re-read the rest). */
const KEEP_BYTES_LIMIT = 256 * 1024 * 1024;
const POOL_PUT = { contentType: 'application/vnd.debian.binary-package', cacheControl: CACHE_IMMUTABLE };

/** Where and what to add. */
export interface AddDebsOptions {
  storage: PublishedStorage;
  catalog: AptCatalog;
  suite: string;
  /** .deb files on disk. */
  files: string[];
  /** Storage prefix of the APT tree (default `apt`). */
  prefix?: string;
  /**
   * Hard-link the files into the pool where the storage can (the local folder) instead of copying them. Only for
   * files never rewritten in place afterwards (the server's content-addressed artifacts; `lxl apt add --link`).
   */
  link?: boolean;
  /**
   * The Packages.xz block cache of the publish that follows, with its xz options: while the pool files are stored,
   * the blocks of the suite as it will be are compressed into it, so that publish finds them ready. Only time is at
   * stake: a block that cannot be made now is made by the publish.
   */
  xz?: { cache: XzBlockCache; level?: number; blocks?: SuiteOptions['xzBlocks'] };
  /**
   * Take over the wait for the pool files' durability: addDebs returns once they exist, and hands this the promise
   * that settles once they are durable (a flush that the publish's first writes overlap). The caller must await it
   * before anything lists them (publishApt's `poolDurable`); if it rejects, the pool files linked now are gone again.
   * Without it, addDebs waits itself. Only a linking add to the local folder defers anything.
   */
  poolDurability?: (durable: Promise<void>) => void;
}

/** Throws ConfigError unless `suite` is a plain name usable as `dists/<suite>` (letters, digits, `.`, `_`, `-`). */
export function assertSuiteName(suite: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(suite)) throw new ConfigError(`cannot use suite ${JSON.stringify(suite)}: use letters, digits, '.', '_' and '-'`);
}

/** Reads each .deb (only its control member and digests), refuses conflicts before storing anything, stores new pool files, records them in the suite. */
export async function addDebs(opts: AddDebsOptions): Promise<Array<{ record: AptRecord; outcome: AddOutcome }>> {
  const prefix = opts.prefix ?? 'apt';
  assertSuiteName(opts.suite);
  const link = opts.link === true && opts.storage.linkFiles !== undefined;
  // Immutability against the whole catalogue (and within this batch), checked for each .deb before it is stored.
  const known = new Map<string, AptRecord>();
  for (const s of await opts.catalog.suites()) for (const r of await opts.catalog.list(s)) known.set(identity(r), r);
  const admit = (r: AptRecord): void => {
    checkImmutable(known.get(identity(r)), r);
    known.set(identity(r), r);
  };
  // Once every .deb is read: xz runs in child processes, so the blocks compress on the other core while the pool
  // files are stored.
  let warmed: Promise<unknown> | undefined;
  const allRead = (recs: AptRecord[]): void => {
    if (opts.xz) warmed = warmSuiteXz(opts.catalog, opts.suite, recs, opts.xz).catch(() => undefined);
  };
  let recs: AptRecord[];
  try {
    if (link) recs = await linkIntoPool(opts.storage, prefix, opts.files, admit, allRead, opts.poolDurability);
    else {
      let kept = 0;
      const read = await mapLimit(opts.files, 16, async (f) => {
        const { record, bytes } = await readDeb(f);
        if (!bytes || kept + bytes.length > KEEP_BYTES_LIMIT) return { record };
        kept += bytes.length;
        return { record, bytes };
      });
      recs = read.map((x) => x.record);
      recs.forEach(admit);
      allRead(recs);
      await copyIntoPool(opts.storage, prefix, recs, opts.files, read);
      opts.poolDurability?.(Promise.resolve());
    }
  } finally {
    await warmed;
  }
  const outcomes = await opts.catalog.add(opts.suite, recs);
  return recs.map((record, i) => ({ record, outcome: outcomes[i] }));
}

/** Compresses the Packages.xz blocks of `suite` with `recs` added (as the catalogue will list it) into the cache. */
async function warmSuiteXz(catalog: AptCatalog, suite: string, recs: AptRecord[], xz: NonNullable<AddDebsOptions['xz']>): Promise<void> {
  const after = await catalog.list(suite);
  const ids = new Set(after.map(identity));
  for (const r of recs) {
    if (ids.has(identity(r))) continue;
    ids.add(identity(r));
    after.push(r);
  }
  await warmPackagesXz(after, { xzBlockCache: xz.cache, xzLevel: xz.level, xzBlocks: xz.blocks });
}

/**
 * Reads the .debs and links each into the pool as soon as it is read and admitted (the storage links on a thread of
 * its own meanwhile; a failed read or a refused .deb stores nothing). Linking refuses a name that exists, so there is
 * no head per file; an existing pool file must have the same bytes.
 */
async function linkIntoPool(
  storage: PublishedStorage,
  prefix: string,
  files: string[],
  admit: (r: AptRecord) => void,
  allRead: (recs: AptRecord[]) => void,
  poolDurability: AddDebsOptions['poolDurability'],
): Promise<AptRecord[]> {
  const recs: AptRecord[] = [];
  const byKey = new Map<string, { rec: AptRecord; file: string }>();
  async function* items(): AsyncGenerator<LinkItem> {
    for await (const { record, file } of mapAhead(files, 16, async (f) => ({ record: await readDebRecord(f), file: f }))) {
      admit(record);
      recs.push(record);
      const key = `${prefix}/${record.filename}`;
      byKey.set(key, { rec: record, file });
      yield { key, file };
    }
    allRead(recs);
  }
  const { existing, durable } = await storage.linkFiles!(items(), { deferSync: poolDurability !== undefined });
  try {
    await mapLimit(existing, 16, async (key) => {
      const x = byKey.get(key)!;
      await checkPoolFile(storage, key, x.file, x.rec);
    });
  } catch (err) {
    // A pool name that holds other bytes refuses the whole add: the names it linked go again (nothing lists them yet).
    await durable?.catch(() => {});
    await takeBack(storage, linkedNow(recs.map((r) => `${prefix}/${r.filename}`), existing));
    throw err;
  }
  poolDurability?.(durable ?? Promise.resolve());
  return recs;
}

/** Copies each file into the pool: one already there must have the same bytes; new small ones are stored in one batch. */
async function copyIntoPool(storage: PublishedStorage, prefix: string, recs: AptRecord[], files: string[], read: Array<{ bytes?: Buffer }>): Promise<void> {
  const keys = recs.map((r) => `${prefix}/${r.filename}`);
  // One batch check for which pool files exist (a local folder stats them without a thread-pool trip each).
  const absent = storage.missingKeys ? new Set(await storage.missingKeys(keys)) : undefined;
  const batch = new Map<string, PutItem>();
  // Big files are stored as they come; a pool name found holding other bytes later in the batch removes them again.
  const stored = new Set<string>();
  try {
    await mapLimit(recs, 16, async (r, i) => {
      const key = keys[i];
      if (batch.has(key) || stored.has(key) || (!absent?.has(key) && (await checkPoolFile(storage, key, files[i], r)))) return;
      const bytes = read[i].bytes;
      if (bytes && storage.putMany) batch.set(key, { key, body: bytes, opts: POOL_PUT });
      else {
        stored.add(key);
        await storage.put(key, bytes ?? createReadStream(files[i]), POOL_PUT);
      }
    });
  } catch (err) {
    await takeBack(storage, stored);
    throw err;
  }
  if (batch.size > 0) await storage.putMany!([...batch.values()]);
}

/** Removes packages from a suite; NotFoundError when nothing matched. Pool files go after the publish grace period. */
export async function removePackages(catalog: AptCatalog, suite: string, matches: RemoveMatch[]): Promise<AptRecord[]> {
  const removed = await catalog.remove(suite, matches);
  if (removed.length === 0) {
    const what = matches.map((m) => `${m.name}${m.version ? `=${m.version}` : ''}${m.arch ? ` (${m.arch})` : ''}`).join(', ');
    throw new NotFoundError(`cannot remove ${what}: no such package in suite ${suite}`);
  }
  return removed;
}

/** Parses `name` or `name=version` as the CLI takes them. */
export function parseRemoveSpec(text: string, arch?: string): RemoveMatch {
  const eq = text.indexOf('=');
  return { name: eq >= 0 ? text.slice(0, eq) : text, version: eq >= 0 ? text.slice(eq + 1) : undefined, arch };
}

function identity(r: { name: string; version: string; arch: string }): string {
  return `${r.name} ${r.version} ${r.arch}`;
}

/** True when `key` already holds this .deb; ConflictError when it holds other bytes; false when it is missing. */
async function checkPoolFile(storage: PublishedStorage, key: string, file: string, rec: AptRecord): Promise<boolean> {
  if (!(await storage.head(key))) return false;
  const d = new DigestStream(['sha256'] as const);
  await pipeline(await storage.get(key), d, async function* (src) {
    for await (const _ of src);
  });
  const got = d.result().sha256;
  if (got !== rec.sha256) throw new ConflictError(`cannot add ${file}: ${key} is already published with other bytes (sha256 ${got}); published packages are immutable`);
  return true;
}

