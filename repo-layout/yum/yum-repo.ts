// YUM repository operations on a published tree: add rpms, remove them, and
// publish signed repodata. Layout under the storage root (DESIGN.md §5 order):
//
//   yum/<name>/Packages/<first letter>/<name>-<ver>-<rel>.<arch>.rpm   immutable
//   yum/<name>/repodata/<checksum>-{primary,filelists,other}.xml.gz    immutable, unique names
//   yum/<name>/repodata/repomd.xml.key                                 armored public key
//   yum/<name>/repodata/repomd.xml, repomd.xml.asc                     written last
//   yum/<name>.repo                                                    ready-made client config
//
// Adding an rpm reads only that rpm; publishing works from the catalogue.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { compressBuffer } from '../compress.js';
import { hashBytes } from '../digests.js';
import { ConflictError, FormatError, NotFoundError } from '../errors.js';
import { readRpmFile } from '../rpm/rpm-reader.js';
import { PgpHash } from '../rpm/rpm-tags.js';
import { compareEvr } from '../rpm/rpm-vercmp.js';
import type { Signer } from '../signing/signer.js';
import { CACHE_IMMUTABLE, CACHE_INDEX, type PublishedStorage } from '../../storage/storage.js';
import { repoFile, repomdXml, type RepomdRecord } from './repomd.js';
import type { PendingDelete, YumCatalogue, YumProfile, YumSettings, YumState } from './yum-catalogue.js';
import { yumPackageFrom, type YumPackage } from './yum-package.js';
import { filelistsXml, otherXml, primaryXml, type ChecksumType } from './yum-xml.js';
import { mapLimit } from '../concurrency.js';
import { awaitFreshSecond } from '../../storage/fresh-mtime.js';

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

/** Adds rpm files: validates each (headers and digests), stores it immutably, records it. Re-adding identical bytes is a no-op. */
export async function addRpms(ctx: YumRepoContext, files: string[]): Promise<AddResult[]> {
  const prefix = yumPrefix(ctx.name);
  // Read and check every file before storing any, a few at a time.
  const parsed = await mapLimit(files, ADD_CONCURRENCY, async (file) => {
    const info = await readRpmFile(file, { verify: true, digests: ['sha256', 'sha1'] });
    const st = await stat(file);
    const d = info.fileDigests!;
    const href = packageHref(info);
    return { file, href, pkg: yumPackageFrom(info, { href, sha256: d.sha256!, sha1: d.sha1!, size: d.size, mtime: Math.floor(st.mtimeMs / 1000) }) };
  });
  const release = await ctx.catalogue.lock();
  try {
    const state = await ctx.catalogue.read();
    const byHref = new Map(state.packages.map((p) => [p.href, p]));
    const results: AddResult[] = [];
    const fresh: typeof parsed = [];
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
    await mapLimit(fresh, ADD_CONCURRENCY, async (x) => {
      const key = `${prefix}/${x.href}`;
      if (await ctx.storage.head(key)) {
        const small = x.pkg.packageSize <= 8 << 20;
        const have = small ? createHash('sha256').update(await ctx.storage.getBytes(key)).digest('hex') : await hashStream(await ctx.storage.get(key));
        if (have !== x.pkg.sha256) throw new ConflictError(`cannot add ${x.file}: ${key} exists with other bytes (published files are immutable)`);
      } else {
        const body = x.pkg.packageSize <= 8 << 20 ? await readFile(x.file) : createReadStream(x.file);
        await ctx.storage.put(key, body, { cacheControl: CACHE_IMMUTABLE, contentType: 'application/x-rpm' });
      }
    });
    const keys = new Set(fresh.map((x) => `${prefix}/${x.href}`));
    state.packages.push(...fresh.map((x) => x.pkg));
    state.pending = state.pending.filter((d) => !keys.has(d.key));
    await ctx.catalogue.write(state);
    return results;
  } finally {
    await release();
  }
}

// Parallel adds overlap the storage's per-file fsyncs.
const ADD_CONCURRENCY = 16;


async function hashStream(s: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of s) h.update(c);
  return h.digest('hex');
}

/** True when `pkg` is what `what` names: `name`, `name-version`, `name-version-release` (epoch optional). */
export function matchesPackage(pkg: YumPackage, what: string): boolean {
  const evs = [pkg.version, `${pkg.version}-${pkg.release}`, `${pkg.epoch}:${pkg.version}`, `${pkg.epoch}:${pkg.version}-${pkg.release}`];
  return what === pkg.name || evs.some((v) => what === `${pkg.name}-${v}`) || what === `${pkg.name}-${pkg.version}-${pkg.release}.${pkg.arch}`;
}

/** Removes the packages `what` names from the catalogue (files go at a later publish, after the grace period). */
export async function removePackages(ctx: YumRepoContext, what: string): Promise<YumPackage[]> {
  const release = await ctx.catalogue.lock();
  try {
    const state = await ctx.catalogue.read();
    const gone = state.packages.filter((p) => matchesPackage(p, what));
    if (gone.length === 0) throw new NotFoundError(`cannot remove ${what}: no such package in yum repo ${ctx.name} (give name, name-version or name-version-release)`);
    state.packages = state.packages.filter((p) => !gone.includes(p));
    await ctx.catalogue.write(state);
    return gone;
  } finally {
    await release();
  }
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
  retired: string[];
  deleted: string[];
  repomd: string;
}

/** Checks a package fits the repo profile: el5 needs MD5 file digests and gzip/bzip2 payloads (rpm 4.4). */
export function checkProfile(p: YumPackage, profile: YumProfile): void {
  if (profile !== 'el5') return;
  if (p.fileDigestAlgo !== PgpHash.MD5) throw new FormatError(`cannot publish ${p.href} in an el5 repo: it uses SHA-256 file digests that rpm 4.4 cannot check (pack it with --profile el5)`);
  if (!['gzip', 'bzip2'].includes(p.payloadCompressor)) throw new FormatError(`cannot publish ${p.href} in an el5 repo: its ${p.payloadCompressor} payload needs rpm >= 4.6 (pack it with --profile el5)`);
}

/** Applies retention: keeps the newest `keep` versions per name+arch; returns the retired packages. */
export function applyRetention(pkgs: YumPackage[], keep: number): { kept: YumPackage[]; retired: YumPackage[] } {
  if (keep <= 0) return { kept: pkgs, retired: [] };
  const groups = new Map<string, YumPackage[]>();
  for (const p of pkgs) {
    const k = `${p.name}\0${p.arch}`;
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  const retired = new Set<YumPackage>();
  for (const g of groups.values()) {
    g.sort((a, b) => compareEvr(b, a));
    g.slice(keep).forEach((p) => retired.add(p));
  }
  return { kept: pkgs.filter((p) => !retired.has(p)), retired: [...retired] };
}

/** Publish order of packages: name, arch, then version ascending. */
export function sortPackages(pkgs: YumPackage[]): YumPackage[] {
  return [...pkgs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : compareEvr(a, b)));
}

/** Builds the three metadata files and repomd.xml for `pkgs` (pure apart from gzip). */
export async function buildRepodata(pkgs: YumPackage[], opts: { checksumType: ChecksumType; timestamp: number }): Promise<{ files: Array<{ href: string; body: Buffer }>; repomd: string }> {
  const t = opts.checksumType;
  const sorted = sortPackages(pkgs);
  const docs: Array<[RepomdRecord['type'], string]> = [
    ['primary', primaryXml(sorted, t)],
    ['filelists', filelistsXml(sorted, t)],
    ['other', otherXml(sorted, t)],
  ];
  const files: Array<{ href: string; body: Buffer }> = [];
  const records: RepomdRecord[] = [];
  for (const [type, xml] of docs) {
    const open = Buffer.from(xml, 'utf8');
    const gz = await compressBuffer('gzip', open, { level: 6 });
    const sum = hashBytes(gz, [t])[t];
    const href = `repodata/${sum}-${type}.xml.gz`;
    files.push({ href, body: gz });
    records.push({ type, href, checksum: sum, openChecksum: hashBytes(open, [t])[t], size: gz.length, openSize: open.length, timestamp: opts.timestamp });
  }
  return { files, repomd: repomdXml(records, { checksumType: t, revision: opts.timestamp }) };
}

/** Publishes the repo: retention, repodata, key, repomd.xml + .asc last, `.repo`, then GC after the grace period. */
export async function publishYum(ctx: YumRepoContext, opts: PublishYumOptions): Promise<PublishYumResult> {
  const prefix = yumPrefix(ctx.name);
  const now = (ctx.now ?? (() => new Date()))();
  const release = await ctx.catalogue.lock();
  try {
    const state: YumState = await ctx.catalogue.read();
    const settings: YumSettings = { ...state.settings, ...Object.fromEntries(Object.entries(opts.settings ?? {}).filter(([, v]) => v !== undefined)) };
    state.settings = settings;
    for (const p of state.packages) checkProfile(p, settings.profile);
    const { kept, retired } = applyRetention(state.packages, settings.retention);
    state.packages = kept;

    const checksumType: ChecksumType = settings.profile === 'el5' ? 'sha1' : 'sha256';
    const timestamp = Math.floor(now.getTime() / 1000);
    const { files, repomd } = await buildRepodata(kept, { checksumType, timestamp });
    for (const f of files) await ctx.storage.putIfAbsent(`${prefix}/${f.href}`, f.body, { cacheControl: CACHE_IMMUTABLE, contentType: 'application/gzip' });

    // EL5's gpg 1.4 verifies SHA-256; modern clients get the signer's default (SHA-512).
    const asc = await opts.signer.detachArmored(repomd, settings.profile === 'el5' ? { hash: 'sha256' } : {});
    await ctx.storage.put(`${prefix}/repodata/repomd.xml.key`, opts.signer.publicKeyArmored(), { cacheControl: CACHE_INDEX, contentType: 'application/pgp-keys' });
    // repomd.xml and its .asc are two files, so a reader (or a crash) between the two writes sees a pair
    // dnf rejects; a batch (local folder) makes both durable first and then renames them back to back.
    const pair = [
      { key: `${prefix}/repodata/repomd.xml`, body: repomd, opts: { cacheControl: CACHE_INDEX, contentType: 'application/xml' } },
      { key: `${prefix}/repodata/repomd.xml.asc`, body: asc, opts: { cacheControl: CACHE_INDEX, contentType: 'application/pgp-signature' } },
    ];
    await awaitFreshSecond(ctx.storage, pair.map((x) => x.key));
    if (ctx.storage.putMany) await ctx.storage.putMany(pair);
    else for (const x of pair) await ctx.storage.put(x.key, x.body, x.opts);
    const baseUrl = settings.baseUrl ?? opts.defaultBaseUrl;
    if (baseUrl) {
      const base = `${baseUrl.replace(/\/+$/, '')}/${prefix}/`;
      const text = repoFile({ id: `lxl-${ctx.name}`, name: `linux-xen-legacy (${ctx.name})`, baseUrl: base, gpgKeyUrl: `${base}repodata/repomd.xml.key` });
      await ctx.storage.put(`${prefix}.repo`, text, { cacheControl: CACHE_INDEX, contentType: 'text/plain' });
    }

    const referenced = new Set<string>([
      ...kept.map((p) => `${prefix}/${p.href}`),
      ...files.map((f) => `${prefix}/${f.href}`),
      ...['repomd.xml', 'repomd.xml.asc', 'repomd.xml.key'].map((n) => `${prefix}/repodata/${n}`),
    ]);
    const deleted = await collectGarbage(ctx.storage, `${prefix}/`, referenced, state, now.getTime() - settings.graceHours * 3_600_000, now.getTime());
    await ctx.catalogue.write(state);
    return { packages: kept.length, retired: retired.map((p) => p.href), deleted, repomd };
  } finally {
    await release();
  }
}

/** Marks unreferenced files pending, and deletes those pending since before `cutoff`. */
async function collectGarbage(storage: PublishedStorage, prefix: string, referenced: Set<string>, state: YumState, cutoff: number, nowMs: number): Promise<string[]> {
  const pending = new Map<string, PendingDelete>(state.pending.filter((d) => !referenced.has(d.key)).map((d) => [d.key, d]));
  for await (const o of storage.list(prefix)) {
    if (!referenced.has(o.key) && !pending.has(o.key)) pending.set(o.key, { key: o.key, since: nowMs });
  }
  const deleted: string[] = [];
  for (const d of [...pending.values()]) {
    if (d.since <= cutoff) {
      await storage.delete(d.key);
      pending.delete(d.key);
      deleted.push(d.key);
    }
  }
  state.pending = [...pending.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  return deleted;
}
