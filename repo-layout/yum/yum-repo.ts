// YUM repository operations on a published tree: add rpms, remove them, and
// publish signed repodata. Layout under the storage root (DESIGN.md §5 order):
//
//   yum/<name>/Packages/<first letter>/<name>-<ver>-<rel>.<arch>.rpm   immutable
//   yum/<name>/repodata/<checksum>-{primary,filelists,other}.xml.gz    immutable, unique names
//   yum/<name>/repodata/repomd.xml.key                                 armored public key
//   yum/<name>/repodata/repomd.xml, repomd.xml.asc                     written last
//
// On a storage that can swap a directory link (the local folder), repodata/
// is a symlink to repodata.<revision>-<random>/ and a publish swaps it in one
// rename (publishGeneration); elsewhere (S3) the files are written in place.
//   yum/<name>.repo                                                    ready-made client config
//
// Adding an rpm reads only that rpm; publishing works from the catalogue, and
// copies the unchanged packages' elements from the served repodata
// (repodata-reuse.ts).

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { compressParts } from '../compress.js';
import { hashBytes } from '../digests.js';
import { ConflictError, FormatError, NotFoundError } from '../errors.js';
import { readRpmFile } from '../rpm/rpm-reader.js';
import { PgpHash } from '../rpm/rpm-tags.js';
import { compareEvr } from '../rpm/rpm-vercmp.js';
import type { Signer } from '../signing/signer.js';
import { CACHE_IMMUTABLE, CACHE_INDEX, type PublishedStorage, type PutItem } from '../../storage/storage.js';
import { planGc, runGc, type GcPending } from '../../storage/gc.js';
import { repoFile, repomdXml, type RepomdRecord } from './repomd.js';
import type { YumCatalogue, YumProfile, YumSettings, YumState } from './yum-catalogue.js';
import { isWholeRecord, yumPackageFrom, type YumEntry, type YumPackage } from './yum-package.js';
import { REPODATA_TYPES, repodataXmlParts, type ChecksumType, type ElementBytes } from './yum-xml.js';
import { readServedRepodata, REPODATA_ENCODER, repodataElements, type RepodataElements, type RepodataRecord, type ServedRepodata } from './repodata-reuse.js';
import { mapLimit } from '../concurrency.js';
import { linkedNow, takeBack } from '../take-back.js';
import { freshMtime } from '../../storage/fresh-mtime.js';

/** Where a YUM repo lives and how its catalogue is kept. */
export interface YumRepoContext {
  /** Storage rooted at the published tree (`<repo>/public`). */
  storage: PublishedStorage;
  catalogue: YumCatalogue;
  /** Repo name: files go under `yum/<name>/`. */
  name: string;
  /** Clock (tests pin it). */
  now?: () => Date;
}

/** Storage prefix of a YUM repo. */
export function yumPrefix(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new FormatError(`cannot use yum repo name ${JSON.stringify(name)}: use letters, digits, . _ -`);
  return `yum/${name}`;
}

/** The Packages/ location of an rpm, from its header. */
export function packageHref(p: { name: string; version: string; release: string; arch: string }): string {
  return `Packages/${p.name[0].toLowerCase()}/${p.name}-${p.version}-${p.release}.${p.arch}.rpm`;
}

export interface AddResult {
  href: string;
  status: 'added' | 'unchanged';
}

/** How addRpms stores files. */
export interface AddRpmsOptions {
  /**
   * Hard-link the files into Packages/ where the storage can (the local folder) instead of copying them. Only for
   * files never rewritten in place afterwards (the server's content-addressed artifacts; `lxl yum add --link`).
   */
  link?: boolean;
}

/**
 * One change of a YUM repo, made under its catalogue lock and written to the catalogue once: the adds, then `keep`,
 * then `remove`, then the publish. `lxl yum add --key` is one update (the 2,000-package catalogue is serialized once,
 * not once for the add and again for the publish). A failed publish still records the change. A crash before the
 * write records nothing: files already stored stay unreferenced (adding the same bytes again is a no-op; the
 * publish's GC collects them otherwise), and a publish that swapped its repodata in first is redone from the older
 * catalogue by the next one.
 */
export interface YumUpdate {
  /** rpm files to add; every one is read and checked (headers and digests) before any is stored. */
  add?: string[];
  /** How added files are stored. */
  link?: AddRpmsOptions['link'];
  /** Keeps only the packages this accepts (after the adds): the server drops what its repo no longer lists. */
  keep?: (p: YumEntry) => boolean;
  /** Removes the packages this names (see matchesPackage); naming none is an error. Files go after the grace period. */
  remove?: string;
  /** Publishes the result. */
  publish?: PublishYumOptions;
}

export interface YumUpdateResult {
  added: AddResult[];
  removed: YumEntry[];
  published?: PublishYumResult;
}

/** Applies `update` (see YumUpdate). */
export async function updateYum(ctx: YumRepoContext, update: YumUpdate): Promise<YumUpdateResult> {
  const prefix = yumPrefix(ctx.name);
  // Read and check every file before storing any, a few at a time.
  const parsed = await mapLimit(update.add ?? [], ADD_CONCURRENCY, readRpmToStore);
  const release = await ctx.catalogue.lock();
  try {
    // Read while the catalogue is parsed: the documents the repo serves, whose unchanged elements the publish copies.
    const served = update.publish ? readServedRepodata(ctx.storage, prefix) : undefined;
    const state = await ctx.catalogue.read();
    const added = await addToState(ctx.storage, prefix, state, parsed, { link: update.link });
    const count = state.packages.length;
    if (update.keep) state.packages = state.packages.filter(update.keep);
    const removed = update.remove === undefined ? [] : removeFromState(ctx, state, update.remove);
    const changed = added.some((a) => a.status === 'added') || state.packages.length < count;
    let published: PublishYumResult | undefined;
    if (update.publish) {
      // publishState replaces the fields it changes: a failed publish still records the change, as a separate add would.
      const changedState = { ...state };
      try {
        published = await publishState(ctx, state, update.publish, await served);
      } catch (err) {
        if (changed) await ctx.catalogue.write(changedState).catch(() => {});
        throw err;
      }
    }
    if (changed || published) await ctx.catalogue.write(state);
    return { added, removed, published };
  } finally {
    await release();
  }
}

/** Adds rpm files: validates each (headers and digests), stores it immutably, records it. Re-adding identical bytes is a no-op. */
export async function addRpms(ctx: YumRepoContext, files: string[], opts: AddRpmsOptions = {}): Promise<AddResult[]> {
  return (await updateYum(ctx, { add: files, link: opts.link })).added;
}

/** Removes the packages `what` names from the catalogue (files go at a later publish, after the grace period). */
export async function removePackages(ctx: YumRepoContext, what: string): Promise<YumEntry[]> {
  return (await updateYum(ctx, { remove: what })).removed;
}

/** Publishes the repo: retention, repodata, key, repomd.xml + .asc last, `.repo`, then GC after the grace period. */
export async function publishYum(ctx: YumRepoContext, opts: PublishYumOptions): Promise<PublishYumResult> {
  return (await updateYum(ctx, { publish: opts })).published!;
}

/** Reads and checks one rpm to add. */
async function readRpmToStore(file: string): Promise<RpmToStore> {
  const info = await readRpmFile(file, { verify: true, digests: ['sha256', 'sha1'] }).catch((err: unknown) => {
    // Name the file: a batch of thousands must say which one is bad.
    throw err instanceof FormatError && !err.message.includes(file) ? new FormatError(`cannot add ${file}: ${err.message}`, { cause: err }) : err;
  });
  const d = info.fileDigests!;
  const href = packageHref(info);
  return { file, href, pkg: yumPackageFrom(info, { href, sha256: d.sha256!, sha1: d.sha1!, size: d.size, mtime: Math.floor(info.fileMtimeMs / 1000) }) };
}

/** Stores the checked rpms that are new and records them in `state`; the same href with other bytes is a conflict. */
async function addToState(storage: PublishedStorage, prefix: string, state: YumState, parsed: RpmToStore[], opts: AddRpmsOptions): Promise<AddResult[]> {
  const byHref = new Map(state.packages.map((p) => [p.href, p]));
  const results: AddResult[] = [];
  const fresh: RpmToStore[] = [];
  for (const x of parsed) {
    const existing = byHref.get(x.href);
    if (existing) {
      if (existing.sha256 !== x.pkg.sha256) throw new ConflictError(`cannot add ${x.file}: ${x.href} is already published with other bytes (bump the release to publish a change)`);
      results.push({ href: x.href, status: 'unchanged' });
      continue;
    }
    byHref.set(x.href, x.pkg);
    fresh.push(x);
    results.push({ href: x.href, status: 'added' });
  }
  // Indexing in place (the rpm already is the pool file, as createrepo_c works): its bytes were just read and hashed.
  const toStore = fresh.filter((x) => storage.localPath?.(`${prefix}/${x.href}`) !== path.resolve(x.file));
  // Packages/ holds a folder per first letter, so linking makes few folders: it runs here, after the reads (on a
  // thread of its own it gained nothing), unlike the APT pool's folder per source.
  if (opts.link && storage.linkFiles) await linkRpms(storage, prefix, toStore);
  else await copyRpms(storage, prefix, toStore);
  const keys = new Set(fresh.map((x) => `${prefix}/${x.href}`));
  for (const x of fresh) x.pkg.serial = state.serial = (state.serial ?? 0) + 1;
  state.packages.push(...fresh.map((x) => x.pkg));
  state.pending = state.pending.filter((d) => !keys.has(d.key));
  return results;
}

/** A checked rpm to store at `<prefix>/<href>`. */
interface RpmToStore {
  file: string;
  href: string;
  pkg: YumPackage;
}

/** Links the rpms into Packages/ (linking refuses a name that exists, so no head per file); an existing file must have the same bytes. */
async function linkRpms(storage: PublishedStorage, prefix: string, rpms: RpmToStore[]): Promise<void> {
  const byKey = new Map(rpms.map((x) => [`${prefix}/${x.href}`, x]));
  const { existing } = await storage.linkFiles!([...byKey].map(([key, x]) => ({ key, file: x.file })));
  try {
    await mapLimit(existing, ADD_CONCURRENCY, (key) => checkStored(storage, key, byKey.get(key)!));
  } catch (err) {
    // A name that holds other bytes refuses the whole add: the names it linked go again (nothing lists them yet).
    await takeBack(storage, linkedNow([...byKey.keys()], existing));
    throw err;
  }
}

/** Copies the rpms into Packages/: small new ones in one batch (shared fsync waits), up to BATCH_BYTES in memory; big ones stream. */
async function copyRpms(storage: PublishedStorage, prefix: string, rpms: RpmToStore[]): Promise<void> {
  const batch: PutItem[] = [];
  let batchBytes = 0;
  // One batch check for which files exist (a local folder stats them without a thread-pool trip each).
  const absent = storage.missingKeys ? new Set(await storage.missingKeys(rpms.map((x) => `${prefix}/${x.href}`))) : undefined;
  // Those not batched are stored as they come; a name found holding other bytes later removes them again.
  const stored: string[] = [];
  try {
    await mapLimit(rpms, ADD_CONCURRENCY, async (x) => {
      const key = `${prefix}/${x.href}`;
      if (!absent?.has(key) && (await storage.head(key))) await checkStored(storage, key, x);
      else if (storage.putMany && x.pkg.packageSize <= 8 << 20 && batchBytes + x.pkg.packageSize <= BATCH_BYTES) {
        batchBytes += x.pkg.packageSize;
        batch.push({ key, body: readFileSync(x.file), opts: RPM_PUT });
      } else {
        stored.push(key);
        const body = x.pkg.packageSize <= 8 << 20 ? await readFile(x.file) : createReadStream(x.file);
        await storage.put(key, body, RPM_PUT);
      }
    });
  } catch (err) {
    await takeBack(storage, stored);
    throw err;
  }
  if (batch.length > 0) await storage.putMany!(batch);
}

/** Throws ConflictError unless the object at `key` has the rpm's bytes. */
async function checkStored(storage: PublishedStorage, key: string, x: RpmToStore): Promise<void> {
  const small = x.pkg.packageSize <= 8 << 20;
  const have = small ? createHash('sha256').update(await storage.getBytes(key)).digest('hex') : await hashStream(await storage.get(key));
  if (have !== x.pkg.sha256) throw new ConflictError(`cannot add ${x.file}: ${key} exists with other bytes (published files are immutable)`);
}

// Parallel adds overlap the storage's per-file fsyncs.
const ADD_CONCURRENCY = 16;
const BATCH_BYTES = 256 << 20;
const RPM_PUT = { cacheControl: CACHE_IMMUTABLE, contentType: 'application/x-rpm' };


async function hashStream(s: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of s) h.update(c);
  return h.digest('hex');
}

/** True when `pkg` is what `what` names: `name`, `name-version`, `name-version-release` (epoch optional). */
export function matchesPackage(pkg: YumEntry, what: string): boolean {
  const evs = [pkg.version, `${pkg.version}-${pkg.release}`, `${pkg.epoch}:${pkg.version}`, `${pkg.epoch}:${pkg.version}-${pkg.release}`];
  return what === pkg.name || evs.some((v) => what === `${pkg.name}-${v}`) || what === `${pkg.name}-${pkg.version}-${pkg.release}.${pkg.arch}`;
}

/** Removes the packages `what` names from `state`. */
function removeFromState(ctx: YumRepoContext, state: YumState, what: string): YumEntry[] {
  const gone = state.packages.filter((p) => matchesPackage(p, what));
  if (gone.length === 0) throw new NotFoundError(`cannot remove ${what}: no such package in yum repo ${ctx.name} (give name, name-version or name-version-release)`);
  state.packages = state.packages.filter((p) => !gone.includes(p));
  return gone;
}

export interface PublishYumOptions {
  signer: Signer;
  /** Settings to change (they are remembered for later publishes). */
  settings?: Partial<YumSettings>;
  /** Base URL for the `.repo` file when none is saved (not remembered), e.g. `file:///srv/repo/public`. */
  defaultBaseUrl?: string;
}

export interface PublishYumResult {
  packages: number;
  /** Package elements copied from the last publish's documents instead of encoded (summed over the three). */
  reused: number;
  retired: string[];
  deleted: string[];
  repomd: string;
}

/** Checks a package fits the repo profile: el5 needs MD5 file digests and gzip/bzip2 payloads (rpm 4.4). */
export function checkProfile(p: YumEntry, profile: YumProfile): void {
  if (profile !== 'el5') return;
  if (p.fileDigestAlgo !== PgpHash.MD5) throw new FormatError(`cannot publish ${p.href} in an el5 repo: it uses SHA-256 file digests that rpm 4.4 cannot check (pack it with --profile el5)`);
  if (!['gzip', 'bzip2'].includes(p.payloadCompressor)) throw new FormatError(`cannot publish ${p.href} in an el5 repo: its ${p.payloadCompressor} payload needs rpm >= 4.6 (pack it with --profile el5)`);
}

/** Applies retention: keeps the newest `keep` versions per name+arch; returns the retired packages. */
export function applyRetention<T extends YumEntry>(pkgs: T[], keep: number): { kept: T[]; retired: T[] } {
  if (keep <= 0) return { kept: pkgs, retired: [] };
  const groups = new Map<string, T[]>();
  for (const p of pkgs) {
    const k = `${p.name}\0${p.arch}`;
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  const retired = new Set<T>();
  for (const g of groups.values()) {
    g.sort((a, b) => compareEvr(b, a));
    g.slice(keep).forEach((p) => retired.add(p));
  }
  return { kept: pkgs.filter((p) => !retired.has(p)), retired: [...retired] };
}

/** Publish order of packages: name, arch, then version ascending. */
export function sortPackages<T extends YumEntry>(pkgs: readonly T[]): T[] {
  return [...pkgs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : compareEvr(a, b)));
}

/** What buildRepodata makes. */
export interface BuiltRepodata {
  files: Array<{ href: string; body: Buffer }>;
  repomd: string;
  /** What was written, for the catalogue (whose next publish may copy from these documents). */
  record: RepodataRecord;
  /** Packages whose elements were copied from `previous` (per document, summed). */
  reused: number;
}

/**
 * Builds the three metadata files and repomd.xml for `pkgs` (pure apart from gzip). `previous` holds the elements
 * of the documents the last publish wrote: those of unchanged packages are copied, not encoded (the same bytes).
 * Packages to encode must be whole records, or have one in `wholes`.
 */
export async function buildRepodata(
  pkgs: readonly YumEntry[],
  opts: { checksumType: ChecksumType; timestamp: number; serial?: number; previous?: RepodataElements; wholes?: ReadonlyMap<YumEntry, YumPackage> },
): Promise<BuiltRepodata> {
  const t = opts.checksumType;
  const sorted = sortPackages(pkgs);
  const prev = opts.previous;
  const whole = (p: YumEntry): YumPackage => {
    const w = isWholeRecord(p) ? p : opts.wholes?.get(p);
    if (!w) throw new Error(`buildRepodata: no whole record of ${p.href} to encode`);
    return w;
  };
  let reused = 0;
  // The three gzips run side by side on libuv's thread pool.
  const built = await Promise.all(
    REPODATA_TYPES.map(async (type) => {
      const reuse = (p: YumEntry): ElementBytes | undefined => {
        const element = prev!.get(type, p);
        if (element) reused++;
        return element;
      };
      // The document as pieces (copied elements stay views of the served documents): gzipped and hashed as they are.
      const parts = repodataXmlParts(type, sorted, t, prev && reuse, whole);
      const gz = await compressParts('gzip', parts, { level: 6 });
      const sum = hashBytes(gz, [t])[t];
      const href = `repodata/${sum}-${type}.xml.gz`;
      const openHash = createHash(t);
      let openSize = 0;
      for (const part of parts) {
        openHash.update(part);
        openSize += part.length;
      }
      const record: RepomdRecord = { type, href, checksum: sum, openChecksum: openHash.digest('hex'), size: gz.length, openSize, timestamp: opts.timestamp };
      return { file: { href, body: gz }, record };
    }),
  );
  return {
    files: built.map((b) => b.file),
    repomd: repomdXml(built.map((b) => b.record), { checksumType: t, revision: opts.timestamp }),
    record: { encoder: REPODATA_ENCODER, checksumType: t, serial: opts.serial ?? 0, files: built.map(({ record: r }) => ({ type: r.type, href: r.href, checksum: r.checksum })) },
    reused,
  };
}

/** Publishes `state` (retention, repodata, key, repomd.xml + .asc last, `.repo`, then GC after the grace period), updating it for the caller to write. */
async function publishState(ctx: YumRepoContext, state: YumState, opts: PublishYumOptions, served?: ServedRepodata): Promise<PublishYumResult> {
  const prefix = yumPrefix(ctx.name);
  const now = (ctx.now ?? (() => new Date()))();
  const settings: YumSettings = { ...state.settings, ...Object.fromEntries(Object.entries(opts.settings ?? {}).filter(([, v]) => v !== undefined)) };
  state.settings = settings;
  for (const p of state.packages) checkProfile(p, settings.profile);
  const { kept, retired } = applyRetention(state.packages, settings.retention);
  state.packages = kept;

  const checksumType: ChecksumType = settings.profile === 'el5' ? 'sha1' : 'sha256';
  const timestamp = Math.floor(now.getTime() / 1000);
  const previous = repodataElements(served, state.repodata, checksumType);
  // Whole records only for what cannot be copied (packages just added are whole already): none after adding one rpm.
  const toEncode = kept.filter((p) => !isWholeRecord(p) && !(previous && REPODATA_TYPES.every((t) => previous.get(t, p))));
  const records = await ctx.catalogue.records(toEncode);
  const wholes = new Map(toEncode.map((p, i) => [p, records[i]]));
  const { files, repomd, record, reused } = await buildRepodata(kept, { checksumType, timestamp, serial: state.serial, previous, wholes });
  // EL5's gpg 1.4 verifies SHA-256; modern clients get the signer's default (SHA-512).
  const asc = await opts.signer.detachArmored(repomd, settings.profile === 'el5' ? { hash: 'sha256' } : {});
  const key = opts.signer.publicKeyArmored();

  const gc = { nowMs: now.getTime(), graceMs: settings.graceHours * 3_600_000, pending: Object.fromEntries(state.pending.map((d) => [d.key, d.since])) as GcPending };
  const packageKeys = kept.map((p) => `${prefix}/${p.href}`);
  const swap = ctx.storage.linkDirectory && ctx.storage.copy ? { link: ctx.storage.linkDirectory.bind(ctx.storage), copy: ctx.storage.copy.bind(ctx.storage) } : undefined;
  const written = swap
    ? await publishGeneration(ctx.storage, swap, prefix, { files, repomd, asc, key, timestamp, packageKeys, gc })
    : await publishFlat(ctx.storage, prefix, { files, repomd, asc, key, packageKeys, gc });

  const baseUrl = settings.baseUrl ?? opts.defaultBaseUrl;
  if (baseUrl) {
    const base = `${baseUrl.replace(/\/+$/, '')}/${prefix}/`;
    const text = repoFile({ id: `lxl-${ctx.name}`, name: `linux-xen-legacy (${ctx.name})`, baseUrl: base, gpgKeyUrl: `${base}repodata/repomd.xml.key` });
    await ctx.storage.put(`${prefix}.repo`, text, { cacheControl: CACHE_INDEX, contentType: 'text/plain' });
  }

  const physical = await runGc(ctx.storage, { ...gc, prefix: `${prefix}/`, referenced: written.referenced, pending: written.physicalPending });
  state.pending = Object.entries({ ...written.logicalPending, ...physical.pending })
    .map(([k, since]) => ({ key: k, since }))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
  state.repodata = record;
  return { packages: kept.length, reused, retired: retired.map((p) => p.href), deleted: [...written.dropped, ...physical.delete], repomd };
}

interface RepodataOut {
  files: Array<{ href: string; body: Buffer }>;
  repomd: string;
  asc: string;
  key: string;
  packageKeys: string[];
  gc: { nowMs: number; graceMs: number; pending: GcPending };
}

interface Written {
  /** Physical keys the published state references (the GC over `yum/<name>/` keeps them). */
  referenced: Set<string>;
  /** Pending physical keys, for that GC. */
  physicalPending: GcPending;
  /** Pending `repodata/<file>` names that exist only as carried-over copies (generation layout). */
  logicalPending: GcPending;
  /** `repodata/<file>` names dropped from the served repodata (their grace is over). */
  dropped: string[];
}

const PAIR = ['repomd.xml', 'repomd.xml.asc'] as const;
const META_PUT = { cacheControl: CACHE_IMMUTABLE, contentType: 'application/gzip' };
const KEY_PUT = { cacheControl: CACHE_INDEX, contentType: 'application/pgp-keys' };
const PAIR_PUT = [
  { cacheControl: CACHE_INDEX, contentType: 'application/xml' },
  { cacheControl: CACHE_INDEX, contentType: 'application/pgp-signature' },
];

async function putAll(storage: PublishedStorage, items: PutItem[]): Promise<void> {
  if (storage.putMany) await storage.putMany(items);
  else for (const x of items) await storage.put(x.key, x.body, x.opts);
}

/**
 * Flat layout (S3, or any storage without directory links): unique-named metadata, the key, then repomd.xml and
 * repomd.xml.asc side by side (one batch: on the local folder both are durable before either is renamed). S3 has no
 * way to swap two objects at once: a reader (or a crash) between the two PUTs sees a pair dnf rejects, until the next
 * publish. README's storage section gives the window.
 */
async function publishFlat(storage: PublishedStorage, prefix: string, o: RepodataOut): Promise<Written> {
  for (const f of o.files) await storage.putIfAbsent(`${prefix}/${f.href}`, f.body, META_PUT);
  await storage.put(`${prefix}/repodata/repomd.xml.key`, o.key, KEY_PUT);
  const keys = PAIR.map((n) => `${prefix}/repodata/${n}`);
  const mtimeMs = await freshMtime(storage, keys);
  const pair = PAIR.map((n, i) => ({ key: keys[i], body: i === 0 ? o.repomd : o.asc, opts: { ...PAIR_PUT[i], mtimeMs } }));
  await putAll(storage, pair);
  const referenced = new Set([...o.packageKeys, ...o.files.map((f) => `${prefix}/${f.href}`), ...[...PAIR, 'repomd.xml.key'].map((n) => `${prefix}/repodata/${n}`)]);
  return { referenced, physicalPending: o.gc.pending, logicalPending: {}, dropped: [] };
}

/** A metadata file name inside a repodata directory (`<checksum>-<type>.xml.gz`). */
const META_FILE = /^[0-9a-f]{32,128}-[a-z_]+\.xml(\.gz)?$/;

/**
 * Generation layout (local folder): `repodata` is a symlink to `repodata.<revision>-<random>/`, a complete directory
 * (metadata, key, repomd.xml, repomd.xml.asc). A publish fills a new generation, then swaps the link in one rename, so
 * readers never see a mixed repomd.xml/.asc pair. The new generation also holds the metadata files that earlier
 * repomd.xml versions named and whose grace period runs (hard links), so a client that fetched an older repomd.xml
 * still finds them under repodata/. Old generation directories are collected like any unreferenced file.
 */
async function publishGeneration(
  storage: PublishedStorage,
  swap: { link: (key: string, target: string) => Promise<void>; copy: (from: string, to: string) => Promise<void> },
  prefix: string,
  o: RepodataOut & { timestamp: number },
): Promise<Written> {
  const served = `${prefix}/repodata/`;
  const isServed = (k: string): boolean => k.startsWith(served);
  // Every metadata file any generation (or an older real repodata/) holds, by the name clients use under repodata/.
  const sources = new Map<string, string>();
  const dirOf = new RegExp(`^${prefix.replace(/\./g, '\\.')}/repodata(\\.[^/]+)?/([^/]+)$`);
  for await (const obj of storage.list(`${prefix}/repodata`)) {
    const m = dirOf.exec(obj.key);
    if (m && META_FILE.test(m[2]!) && !sources.has(`${served}${m[2]}`)) sources.set(`${served}${m[2]}`, obj.key);
  }
  const fresh = new Set(o.files.map((f) => `${prefix}/${f.href}`));
  const logical = planGc({
    candidates: sources.keys(),
    referenced: fresh,
    pending: Object.fromEntries(Object.entries(o.gc.pending).filter(([k]) => isServed(k))),
    nowMs: o.gc.nowMs,
    graceMs: o.gc.graceMs,
  });

  const gen = `repodata.${o.timestamp}-${randomBytes(4).toString('hex')}`;
  const dir = `${prefix}/${gen}`;
  const referenced = new Set(o.packageKeys);
  const items: PutItem[] = o.files.map((f) => ({ key: `${dir}/${f.href.slice('repodata/'.length)}`, body: f.body, opts: META_PUT }));
  items.push({ key: `${dir}/repomd.xml.key`, body: o.key, opts: KEY_PUT });
  await putAll(storage, items);
  for (const x of items) referenced.add(x.key);
  // Files still in their grace period: the same bytes under the same names, as hard links.
  for (const k of Object.keys(logical.pending)) {
    const from = sources.get(k);
    if (!from) {
      delete logical.pending[k];
      continue;
    }
    const to = `${dir}/${k.slice(served.length)}`;
    await swap.copy(from, to);
    referenced.add(to);
  }
  // A later Last-Modified second than the served repomd.xml, so If-Modified-Since never hides the new one.
  const mtimeMs = await freshMtime(storage, PAIR.map((n) => `${served}${n}`));
  const pair = PAIR.map((n, i) => ({ key: `${dir}/${n}`, body: i === 0 ? o.repomd : o.asc, opts: { ...PAIR_PUT[i], mtimeMs } }));
  await putAll(storage, pair);
  for (const x of pair) referenced.add(x.key);
  // The one step that makes the new generation visible.
  await swap.link(`${prefix}/repodata`, gen);
  return {
    referenced,
    physicalPending: Object.fromEntries(Object.entries(o.gc.pending).filter(([k]) => !isServed(k))),
    logicalPending: logical.pending,
    dropped: logical.delete,
  };
}
