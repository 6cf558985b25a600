// The server's Publisher for the embedded mode: brings each format's
// catalogue in line with the metadata store, then publishes it with the
// repo-layout publishers through PublishedStorage (safe order, DESIGN.md §5),
// to the local published folder or to the configured storage URL (S3: under
// the bucket's lock object); `project/trace/<host>` is written last.
//   apt:      <public>/apt/<repo>/dists/{testing,stable}, pool shared by both suites
//   yum:      <public>/yum/<repo>/ (stable) and <public>/yum/<repo>-testing/
//   tarballs: <public>/tarballs/<repo>/<krel>/ + SHA256SUMS(.asc), and tarballs/<repo>/index.json
// testing lists every package (testing and promoted); stable only promoted ones.
// The format catalogues are JSON files under <var>/state/<repo>/ (one server
// instance; the PostgreSQL deployment of issue 10 keeps them in the store).

import { createReadStream } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import { FsStorage } from '../storage/fs-storage.js';
import { S3PublishLock } from '../storage/s3-lock.js';
import { S3Storage } from '../storage/s3-storage.js';
import { openStorage, storageConfigFromUrl } from '../storage/storage-config.js';
import { writeTrace } from '../storage/trace.js';
import { CACHE_IMMUTABLE, CACHE_INDEX, type PublishedStorage } from '../storage/storage.js';
import { JsonAptCatalog } from '../repo-layout/apt/apt-catalog.js';
import { addDebs } from '../repo-layout/apt/apt-changes.js';
import { FsXzBlockCache } from '../repo-layout/apt/packages-xz.js';
import { publishApt } from '../repo-layout/apt/apt-publish.js';
import { JsonYumCatalogue } from '../repo-layout/yum/yum-catalogue.js';
import { updateYum, type YumRepoContext } from '../repo-layout/yum/yum-repo.js';
import { formatSha256Sums } from '../repo-layout/sums/sha256sums.js';
import { formatTarballIndex, groupByVersion, tarballIndex, tarballRepoPrefix, tarballVersionDir, type TarballEntry } from '../repo-layout/tarball/tarball-index.js';
import type { Signer } from '../repo-layout/signing/signer.js';
import type { ArtifactStore } from './artifact-store.js';
import type { Channel, MetadataStore, PackageRecord, RepoRecord } from './metadata-store.js';
import type { Publisher, PublishReport } from './publisher.js';
import { SignedRpms } from './signed-rpms.js';

export interface RepoPublisherOptions {
  store: MetadataStore;
  artifacts: ArtifactStore;
  /** The published tree (served in embedded mode). */
  publicDir: string;
  /** Where format catalogues live: `<stateDir>/<repo>/`. */
  stateDir: string;
  signer: Signer;
  /** URL clients reach the published tree at (for .sources/.list/.repo files). */
  baseUrl?: string;
  /** Storage URL (folder, file:// or s3://…) to publish to instead of publicDir. */
  storage?: string;
  /** On S3: how long a publish waits for another deployment's bucket lock (default: the lock's TTL + S3_LOCK_WAIT_MARGIN_MS, so a lock left by a killed publisher expires first). */
  s3LockWaitMs?: number;
  log: Logger;
}

/** Key of the bucket-wide publish lock object (deployments sharing a bucket). */
export const S3_PUBLISH_LOCK_KEY = 'locks/publish.json';
/** How much longer than the S3 lock's TTL a publish waits for it (clock skew between deployments, slow requests). */
export const S3_LOCK_WAIT_MARGIN_MS = 15_000;

const SUITES: readonly Channel[] = ['testing', 'stable'];
const inSuite = (p: PackageRecord, suite: Channel): boolean => suite === 'testing' || p.channel === 'stable';

/** Publishes a repo's catalogue as APT, YUM and tarball trees on the local published folder. */
export class RepoPublisher implements Publisher {
  /** Where clients reach the published tree; settable once the server knows its address. */
  baseUrl: string | undefined;

  private readonly storage: PublishedStorage;
  private readonly s3Lock: S3PublishLock | undefined;
  private readonly signedRpms: SignedRpms;

  constructor(private readonly opts: RepoPublisherOptions) {
    this.baseUrl = opts.baseUrl;
    this.signedRpms = new SignedRpms({ artifacts: opts.artifacts, signer: opts.signer, log: opts.log });
    this.storage = opts.storage ? openStorage(storageConfigFromUrl(opts.storage)) : new FsStorage({ root: opts.publicDir });
    // The metadata-store lock serialises publishes within this deployment; the lock object covers deployments sharing a bucket.
    this.s3Lock = this.storage instanceof S3Storage ? new S3PublishLock({ store: this.storage, key: S3_PUBLISH_LOCK_KEY }) : undefined;
  }

  async publish(repo: RepoRecord, signal: AbortSignal): Promise<PublishReport> {
    if (!this.s3Lock) return this.publishUnlocked(repo, signal);
    // By default a publish waits out the lock's whole TTL: a lock left behind by a killed publisher (no renewals, no
    // release) has expired by then and is taken over, so the publish after a crash succeeds instead of failing.
    const waitMs = this.opts.s3LockWaitMs ?? this.s3Lock.ttlMs + S3_LOCK_WAIT_MARGIN_MS;
    return this.s3Lock.withLock((lost) => this.publishUnlocked(repo, AbortSignal.any([signal, lost])), { waitMs, signal });
  }

  private async publishUnlocked(repo: RepoRecord, signal: AbortSignal): Promise<PublishReport> {
    const storage = this.storage;
    const started = new Date();
    const pkgs = await this.opts.store.listPackages({ repo: repo.name });
    const report: PublishReport = {};
    if (repo.settings.formats.includes('apt')) report.apt = await this.apt(repo, pkgs.filter((p) => p.kind === 'deb'), storage);
    signal.throwIfAborted();
    if (repo.settings.formats.includes('yum')) report.yum = await this.yum(repo, pkgs.filter((p) => p.kind === 'rpm'), storage);
    signal.throwIfAborted();
    if (repo.settings.formats.includes('tarballs')) report.tarballs = await this.tarballs(repo, pkgs.filter((p) => p.kind === 'tarball'), storage, signal);
    signal.throwIfAborted();
    // Mirror trace, the last write of a completed publish.
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'localhost';
    await writeTrace(storage, '', { host, started, finished: new Date(), creator: 'lxl server' });
    return report;
  }

  private async apt(repo: RepoRecord, debs: PackageRecord[], storage: PublishedStorage): Promise<unknown> {
    const prefix = `apt/${repo.name}`;
    const catalog = new JsonAptCatalog({ stateDir: path.join(this.opts.stateDir, repo.name) });
    const xzBlockCache = new FsXzBlockCache(path.join(this.opts.stateDir, repo.name, 'apt', 'xz-blocks'));
    // The suites' changes and the publish, with one catalogue write at the end.
    const r = await catalog.inOneWrite(async () => {
      // The pool files the adds stored or checked: the publish does not stat them again, and their flushes overlap its
      // first steps (it awaits them before any index that lists them changes).
      const poolFilesPresent = new Set<string>();
      const flushes: Array<Promise<void>> = [];
      for (const suite of SUITES) {
        const want = debs.filter((p) => inSuite(p, suite));
        // Both suites exist even when empty, so a client pointed at stable gets an empty, signed suite, not a 404.
        await catalog.add(suite, []);
        const have = await catalog.list(suite);
        const key = (r: { name: string; version: string; arch: string }) => `${r.name} ${r.version} ${r.arch}`;
        const haveKeys = new Set(have.map(key));
        const wantKeys = new Set(want.map(key));
        const add = want.filter((p) => !haveKeys.has(key(p)));
        // Artifacts are content-addressed and never rewritten, so a local pool links them rather than copying.
        const files = await Promise.all(add.map((p) => this.opts.artifacts.localPath(p.sha256)));
        if (add.length) {
          const added = await addDebs({ storage, catalog, suite, prefix, link: true, files, xz: { cache: xzBlockCache }, poolDurability: (d) => flushes.push(d) });
          for (const { record } of added) poolFilesPresent.add(record.filename);
        }
        const drop = have.filter((r) => !wantKeys.has(key(r)));
        if (drop.length) await catalog.remove(suite, drop.map((r) => ({ name: r.name, version: r.version, arch: r.arch })));
      }
      const poolDurable = Promise.all(flushes);
      // A publish that fails first does not end before the flush does (publishApt handles its rejection meanwhile).
      return publishApt({
        storage,
        catalog,
        signer: this.opts.signer,
        prefix,
        origin: 'linux-xen-legacy',
        label: `linux-xen-legacy ${repo.name}`,
        retention: repo.settings.retention,
        name: 'linux-xen-legacy',
        baseUrl: this.baseUrl,
        xzBlockCache,
        poolFilesPresent,
        poolDurable,
      }).finally(() => poolDurable.catch(() => {}));
    });
    return { suites: r.suites, deleted: r.deleted.length, pending: r.pending };
  }

  private async yum(repo: RepoRecord, rpms: PackageRecord[], storage: PublishedStorage): Promise<unknown> {
    const out: Record<string, unknown> = {};
    for (const suite of SUITES) {
      const name = suite === 'stable' ? repo.name : `${repo.name}-testing`;
      const ctx: YumRepoContext = { storage, catalogue: new JsonYumCatalogue({ dir: path.join(this.opts.stateDir, repo.name, 'yum', name) }), name };
      const want = rpms.filter((p) => inSuite(p, suite));
      const state = await ctx.catalogue.read();
      const have = new Set(state.packages.map((p) => p.sha256));
      // Published is the copy signed with the repo key; an rpm published unsigned before keeps its (immutable) bytes.
      const files: Array<{ sha256: string; path?: string }> = [];
      for (const p of want) files.push(have.has(p.sha256) ? { sha256: p.sha256 } : await this.signedRpms.signed(p.sha256));
      const wantSha = new Set(files.map((f) => f.sha256));
      const base = this.baseUrl ?? pathToFileURL(this.opts.publicDir).href;
      // One catalogue update: the new rpms, minus what the repo no longer lists, published.
      const { published: r } = await updateYum(ctx, {
        add: files.filter((f) => !have.has(f.sha256)).map((f) => f.path!),
        link: true,
        keep: (p) => wantSha.has(p.sha256),
        publish: { signer: this.opts.signer, settings: { profile: repo.settings.profile, retention: repo.settings.retention }, defaultBaseUrl: base },
      });
      out[name] = { packages: r!.packages, reused: r!.reused, deleted: r!.deleted.length };
    }
    return out;
  }

  private async tarballs(repo: RepoRecord, tars: PackageRecord[], storage: PublishedStorage, signal: AbortSignal): Promise<unknown> {
    // One folder per kernel version holding every arch's tarballs (testing and stable; the index says which is which).
    // Order (DESIGN.md §5): 1. the tarballs (immutable), 2. each changed folder's SHA256SUMS, then its
    // SHA256SUMS.asc, 3. index.json last, so a script following the index finds every file it names.
    const entries: TarballEntry[] = tars.map((p) => ({
      krel: typeof p.meta.krel === 'string' ? p.meta.krel : p.version,
      arch: p.arch,
      line: p.line,
      filename: p.filename,
      sha256: p.sha256,
      size: p.size,
      channel: p.channel,
      createdAt: p.createdAt,
    }));
    const groups = groupByVersion(entries);
    const recordOf = new Map(tars.map((p) => [`${p.sha256} ${p.filename}`, p]));
    for (const g of groups) {
      const dir = tarballVersionDir(repo.name, g.krel);
      for (const e of g.entries) {
        signal.throwIfAborted();
        const key = `${dir}/${e.filename}`;
        const rec = recordOf.get(`${e.sha256} ${e.filename}`)!;
        if (!(await storage.head(key))) await storage.put(key, createReadStream(await this.opts.artifacts.localPath(rec.sha256)), { cacheControl: CACHE_IMMUTABLE });
      }
    }
    let changed = 0;
    for (const g of groups) {
      signal.throwIfAborted();
      const dir = tarballVersionDir(repo.name, g.krel);
      const sums = formatSha256Sums(g.entries.map((e) => ({ name: e.filename, sha256: e.sha256 })));
      // Unchanged folders keep their files: no window where SHA256SUMS and its signature disagree.
      const old = await storage.getBytes(`${dir}/SHA256SUMS`).catch(() => undefined);
      if (old?.toString('utf8') === sums && (await storage.head(`${dir}/SHA256SUMS.asc`))) continue;
      // Signed first: a signer that fails leaves the folder's pair as it was, and no signing sits between the two writes.
      const asc = await this.opts.signer.detachArmored(sums);
      await storage.put(`${dir}/SHA256SUMS`, sums, { cacheControl: CACHE_INDEX, contentType: 'text/plain' });
      await storage.put(`${dir}/SHA256SUMS.asc`, asc, { cacheControl: CACHE_INDEX, contentType: 'application/pgp-signature' });
      changed++;
    }
    signal.throwIfAborted();
    const index = tarballIndex({ repo: repo.name, entries, generated: new Date(), keyPath: 'keys/linux-xen-legacy.asc' });
    await storage.put(`${tarballRepoPrefix(repo.name)}/index.json`, formatTarballIndex(index), { cacheControl: CACHE_INDEX, contentType: 'application/json' });
    return { versions: groups.length, files: entries.length, changedFolders: changed };
  }
}
