// Publishes the catalogue as an APT repository through PublishedStorage, in
// the safe order of DESIGN.md §5: pool files, by-hash copies, plain indices,
// Release + Release.gpg, InRelease last. Files no longer referenced (old
// by-hash copies, pool files of removed packages) are deleted only after a
// grace period, so clients in the middle of an update still find them.

import { CACHE_IMMUTABLE, CACHE_INDEX, type PublishedStorage, type PutItem, type PutOptions } from '../../storage/storage.js';
import { NotFoundError } from '../errors.js';
import type { Signer } from '../signing/signer.js';
import type { AptCatalog, AptRecord } from './apt-catalog.js';
import { buildSuiteIndex, type SuiteOptions } from './apt-index.js';
import { stanzaFormat } from './apt-packages.js';
import type { XzBlockCache } from './packages-xz.js';
import { BY_HASH } from './apt-release.js';
import { BINARY_ARCHES } from './apt-pool.js';
import { applyRetention } from './apt-retention.js';
import { debSourcesFile, oneLineSourcesEntry } from './apt-sources.js';
import { freshMtime } from '../../storage/fresh-mtime.js';
import { runGc } from '../../storage/gc.js';
import { mapLimit } from '../concurrency.js';

/** How to publish. */
export interface AptPublishOptions {
  storage: PublishedStorage;
  catalog: AptCatalog;
  signer: Signer;
  /** Storage key prefix of the APT tree (default `apt`): `<prefix>/dists`, `<prefix>/pool`. */
  prefix?: string;
  /** Publish only these suites (default: every suite in the catalogue). The pool is garbage-collected only when all are published. */
  suites?: string[];
  origin: string;
  label: string;
  /** Release Date (default: now minus `dateSkewMs`, whole seconds). */
  date?: Date;
  /** How far in the past Date is set, for clients whose clock lags (default 5 minutes). */
  dateSkewMs?: number;
  /** Valid-Until = Date + this many days (omitted when unset or 0). */
  validDays?: number;
  /** Keep this many newest versions of each package name per suite (0 or unset: keep all). */
  retention?: number;
  /** Unreferenced files are deleted once they have been unreferenced this long (default 24 h). */
  graceMs?: number;
  /** Repo name for `keys/<name>.asc|.gpg` and `<prefix>/<name>.sources|.list` (default linux-xen-legacy). */
  name?: string;
  /** URL of the published tree's root (what serves `keys/` and `<prefix>/`); the .sources/.list files are written only when set. */
  baseUrl?: string;
  /** The suite the .sources/.list files point at (default `stable` if published, else the first suite). */
  defaultSuite?: string;
  /** xz preset for Packages.xz. */
  xzLevel?: number;
  /** Packages.xz blocks kept from earlier publishes: only the blocks whose text changed are compressed again. */
  xzBlockCache?: XzBlockCache;
  /** Block sizing of Packages.xz (tests use small blocks to get several). */
  xzBlocks?: SuiteOptions['xzBlocks'];
  /** Clock for the grace period (ms since the epoch; default Date.now()). */
  now?: number;
  /**
   * Pool files (catalogue filenames, such as `pool/main/l/linux/….deb`) that the caller stored or found with the
   * right bytes under the same lock just before, as addDebs does for every record it returns: the publish does not
   * check them again (a `stat` each: ~13 ms for 2,000 files).
   */
  poolFilesPresent?: ReadonlySet<string>;
  /**
   * Settles once the pool files an add just stored are durable (addDebs' `poolDurability`): awaited before the first
   * file a client reaches without by-hash changes, so the indices are built, signed and written by hash meanwhile. If
   * it rejects, the publish fails there, with every such file as it was.
   */
  poolDurable?: Promise<unknown>;
  /** Called as each publish step starts (for progress output and logs). */
  onStep?: (step: 'retention' | 'pool' | 'indices' | 'keys' | 'by-hash' | 'plain' | 'sign' | 'release' | 'inrelease' | 'gc' | 'done') => void;
}

/** What a publish did. */
export interface AptPublishReport {
  suites: Array<{ suite: string; packages: number }>;
  /** Records dropped by retention. */
  pruned: Array<{ suite: string; record: AptRecord }>;
  /** Keys deleted after their grace period. */
  deleted: string[];
  /** Keys newly found unreferenced (deleted by a later publish after the grace period). */
  pending: number;
}

/** Publishes the catalogue's suites, signed with `signer`. */
export async function publishApt(opts: AptPublishOptions): Promise<AptPublishReport> {
  // Awaited before the plain indices; a step that fails first must not leave it an unhandled rejection.
  opts.poolDurable?.catch(() => {});
  const prefix = opts.prefix ?? 'apt';
  const now = opts.now ?? Date.now();
  const date = opts.date ?? new Date(Math.floor((now - (opts.dateSkewMs ?? 300_000)) / 1000) * 1000);
  const validUntil = opts.validDays ? new Date(date.getTime() + opts.validDays * 86_400_000) : undefined;
  const allSuites = await opts.catalog.suites();
  const suites = opts.suites ?? allSuites;
  const name = opts.name ?? 'linux-xen-legacy';
  const { storage } = opts;
  const step = opts.onStep ?? (() => {});

  step('retention');
  // Retention first: it changes what the indices list.
  const pruned: AptPublishReport['pruned'] = [];
  const bySuite = new Map<string, AptRecord[]>();
  for (const suite of suites) {
    let recs = await opts.catalog.list(suite);
    if (opts.retention && opts.retention > 0) {
      const { keep, drop } = applyRetention(recs, opts.retention);
      if (drop.length > 0) {
        await opts.catalog.remove(suite, drop.map((r) => ({ name: r.name, version: r.version, arch: r.arch })));
        pruned.push(...drop.map((record) => ({ suite, record })));
      }
      recs = keep;
    }
    bySuite.set(suite, recs);
  }

  step('pool');
  // 1. Pool: `lxl apt add` stored each .deb already; a publish must never list a file that is not there.
  // Files the last publish referenced were checked then; only new ones are checked now (no pool listing).
  const state = await opts.catalog.publishState();
  const before = new Set(state.referenced);
  const poolKeys = new Set<string>();
  const toCheck = new Set<string>();
  for (const recs of bySuite.values()) {
    for (const r of recs) {
      const key = `${prefix}/${r.filename}`;
      poolKeys.add(key);
      if (!before.has(key) && !opts.poolFilesPresent?.has(r.filename)) toCheck.add(key);
    }
  }
  // The check runs while the indices are built (xz runs in child processes meanwhile); both end before any write.
  const poolChecked = missingKeys(storage, [...toCheck]).then((missing) => {
    if (missing.length > 0) {
      const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : '';
      throw new NotFoundError(`cannot publish: the pool file ${missing[0]}${more} is missing from storage; add the .deb again`);
    }
  });

  step('indices');
  const built = Promise.all(
    suites.map((suite) =>
      buildSuiteIndex(bySuite.get(suite) ?? [], { origin: opts.origin, label: opts.label, suite, date, validUntil, architectures: BINARY_ARCHES, xzLevel: opts.xzLevel, xzBlockCache: opts.xzBlockCache, xzBlocks: opts.xzBlocks }),
    ),
  );
  const [, indices] = await Promise.all([poolChecked, built]);
  // The Release signatures are made while the keys and by-hash copies are written (the RSA work runs off the main
  // thread); they are stored after every index file, as below.
  const signing = Promise.all(
    indices.map(async (idx) => {
      const [detached, inline] = await Promise.all([opts.signer.detachArmored(idx.release, { hash: 'sha512' }), opts.signer.clearsign(idx.release)]);
      return { idx, detached, inline };
    }),
  );
  // Awaited at step 4; a write that fails first must not leave it an unhandled rejection.
  signing.catch(() => {});

  step('keys');
  // Keys and ready-made sources entries; they are not listed in any Release.
  const extras: PutItem[] = [
    { key: `keys/${name}.asc`, body: opts.signer.publicKeyArmored(), opts: { contentType: 'application/pgp-keys', cacheControl: CACHE_INDEX } },
    { key: `keys/${name}.gpg`, body: opts.signer.publicKeyBinary(), opts: { contentType: 'application/octet-stream', cacheControl: CACHE_INDEX } },
  ];
  if (opts.baseUrl) {
    const suite = opts.defaultSuite ?? (suites.includes('stable') ? 'stable' : suites[0]);
    if (suite) {
      const src = { baseUrl: opts.baseUrl, prefix, suite, name };
      extras.push(
        { key: `${prefix}/${name}.sources`, body: debSourcesFile(src), opts: { contentType: 'text/plain', cacheControl: CACHE_INDEX } },
        { key: `${prefix}/${name}.list`, body: oneLineSourcesEntry(src), opts: { contentType: 'text/plain', cacheControl: CACHE_INDEX } },
      );
    }
  }
  // Written beside the by-hash copies (neither is what a client reads first): one round of writes and fsyncs less.
  const keysWritten = changedOnly(storage, extras).then((changed) => putAll(storage, changed));
  // Awaited with the by-hash copies; a by-hash write that fails first must not leave it an unhandled rejection.
  keysWritten.catch(() => {});

  step('by-hash');
  // 2. by-hash copies (immutable: a hash names exactly one content).
  const referenced = new Set<string>();
  const byHash: Array<{ key: string; bytes: Buffer }> = [];
  for (const idx of indices) {
    for (const f of idx.files.filter((x) => x.byHash)) {
      const dir = f.path.slice(0, f.path.lastIndexOf('/'));
      for (const h of BY_HASH) {
        const key = `${prefix}/dists/${idx.suite}/${dir}/by-hash/${h.dir}/${f.digests[h.key]}`;
        referenced.add(key);
        byHash.push({ key, bytes: f.bytes });
      }
    }
  }
  await Promise.all([keysWritten, putAllIfAbsent(storage, byHash.map((x) => ({ key: x.key, body: x.bytes, opts: { cacheControl: CACHE_IMMUTABLE } })))]);
  // The signatures, and the new pool files durable, before any file a client reads without by-hash changes: a signer
  // or a flush that fails leaves the old state.
  step('sign');
  const [signed] = await Promise.all([signing, opts.poolDurable]);
  step('plain');
  // 3. Plain indices.
  const plain = indices.flatMap((idx) => idx.files.map((f) => ({ key: `${prefix}/dists/${idx.suite}/${f.path}`, body: f.bytes, opts: INDEX_PUT })));
  await putAll(storage, plain);
  // 4. Release + Release.gpg, then 5. InRelease last.
  step('release');
  // A client that fetched the previous InRelease must not get a 304 for this one (same Last-Modified second).
  const mtimeMs = await freshMtime(storage, signed.flatMap(({ idx }) => [`${prefix}/dists/${idx.suite}/InRelease`, `${prefix}/dists/${idx.suite}/Release`]));
  const topPut: PutOptions = { ...INDEX_PUT, mtimeMs };
  await putAll(
    storage,
    signed.flatMap(({ idx, detached }) => [
      { key: `${prefix}/dists/${idx.suite}/Release`, body: idx.release, opts: topPut },
      { key: `${prefix}/dists/${idx.suite}/Release.gpg`, body: detached, opts: topPut },
    ]),
  );
  step('inrelease');
  await putAll(storage, signed.map(({ idx, inline }) => ({ key: `${prefix}/dists/${idx.suite}/InRelease`, body: inline, opts: topPut })));

  step('gc');
  // Garbage: what the last publish referenced and this one does not. By-hash files of suites not
  // published now, and pool files unless every suite was published, stay referenced.
  const wholeRepo = allSuites.every((s) => suites.includes(s));
  const published = new Set(indices.map((i) => `${prefix}/dists/${i.suite}/`));
  const stillOwned = (k: string): boolean => {
    if (k.includes('/by-hash/')) return ![...published].some((p) => k.startsWith(p));
    return !wholeRepo;
  };
  for (const k of poolKeys) referenced.add(k);
  if (!wholeRepo) for (const s of allSuites) if (!suites.includes(s)) for (const r of await opts.catalog.list(s)) referenced.add(`${prefix}/${r.filename}`);
  for (const k of before) if (stillOwned(k)) referenced.add(k);
  // The one GC (storage/gc.ts): candidates are what the last publish referenced plus the pending keys; no pool listing.
  const gc = await runGc(storage, { candidates: before, referenced, pending: state.unreferenced, graceMs: opts.graceMs ?? 24 * 3_600_000, nowMs: now });
  const next = gc.pending;
  const deleted = gc.delete;
  const pending = Object.keys(next).filter((k) => state.unreferenced[k] === undefined).length;
  // The stanza format holds for every served Packages file: all written now, or the others by a publish that recorded the same.
  const format = wholeRepo || state.stanzaFormat === stanzaFormat() ? { stanzaFormat: stanzaFormat() } : {};
  await opts.catalog.setPublishState({ referenced: [...referenced].sort(), unreferenced: next, ...format });
  // The block cache keeps what this publish used (after a publish of some suites only, it keeps everything).
  if (opts.xzBlockCache && wholeRepo) await opts.xzBlockCache.retain(new Set(indices.flatMap((i) => [...i.xzKeys])));

  step('done');
  return { suites: indices.map((i) => ({ suite: i.suite, packages: bySuite.get(i.suite)?.length ?? 0 })), pruned, deleted, pending };
}

const INDEX_PUT: PutOptions = { cacheControl: CACHE_INDEX };

/** Writes every item (each atomically) in one batch when the storage can, else 8 puts in flight. */
async function putAll(storage: PublishedStorage, items: PutItem[]): Promise<void> {
  if (storage.putMany) await storage.putMany(items);
  else await forEach(items, 8, (x) => storage.put(x.key, x.body, x.opts));
}

/** Content-addressed files: writes those not there yet (a name is never rewritten). */
async function putAllIfAbsent(storage: PublishedStorage, items: PutItem[]): Promise<void> {
  if (!storage.putMany) {
    await forEach(items, 8, (x) => storage.putIfAbsent(x.key, x.body, x.opts));
    return;
  }
  const absent = new Set(await missingKeys(storage, items.map((x) => x.key)));
  await storage.putMany(items.filter((x) => absent.has(x.key)).sort((a, b) => (a.key < b.key ? -1 : 1)));
}

/** The keys that hold no object: one batch call where the storage has it, else a head per key (16 in flight). */
async function missingKeys(storage: PublishedStorage, keys: string[]): Promise<string[]> {
  if (storage.missingKeys) return storage.missingKeys(keys);
  const heads = await mapLimit(keys, 16, (k) => storage.head(k));
  return keys.filter((_, i) => heads[i] === undefined);
}

/** The items whose stored bytes differ (or are missing): rewriting an unchanged key or sources file only costs an fsync. */
async function changedOnly(storage: PublishedStorage, items: PutItem[]): Promise<PutItem[]> {
  const out: PutItem[] = [];
  for (const x of items) {
    const old = await storage.getBytes(x.key).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (!old || !old.equals(Buffer.from(x.body))) out.push(x);
  }
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first failure. */
async function forEach<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}
