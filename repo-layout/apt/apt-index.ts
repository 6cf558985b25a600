// Builds every index file of one suite from its packages: per architecture
// Packages, Packages.gz, Packages.xz and Release, then the suite's Release
// listing them all. Pure apart from compression: same packages and options in,
// same bytes out (full rebuild and incremental publish agree byte for byte).

import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { hashBytes, type Digests } from '../digests.js';
import { packagesStanza, comparePackages, type IndexedPackage } from './apt-packages.js';
import { archReleaseFile, releaseFile, type ReleaseEntry } from './apt-release.js';
import { BINARY_ARCHES } from './apt-pool.js';
import { packagesBlockBytes, packagesXzMany, type PackagesXz, type PackagesXzOptions, type XzBlockCache } from './packages-xz.js';

const ALGOS = ['md5', 'sha1', 'sha256', 'sha512'] as const;
// Same bytes as compressBuffer('gzip') (zlib, no name, mtime 0), but off the main thread.
const gzipAsync = promisify(zlib.gzip);

/** Suite-level fields of a publish. */
export interface SuiteOptions {
  origin: string;
  label: string;
  suite: string;
  /** Defaults to the suite name. */
  codename?: string;
  date: Date;
  validUntil?: Date;
  description?: string;
  /** Binary architectures (default amd64 and i386). */
  architectures?: readonly string[];
  /** The one component (default main). */
  component?: string;
  /** xz preset for Packages.xz (default 6). */
  xzLevel?: number;
  /** Packages.xz blocks compressed by earlier publishes (only changed blocks are compressed again). */
  xzBlockCache?: XzBlockCache;
  /** Block sizing of Packages.xz (tests use small blocks). */
  xzBlocks?: Pick<PackagesXzOptions, 'minBlock' | 'maxBlock' | 'divisor'>;
}

/** One index file under `dists/<suite>/`. */
export interface IndexFile {
  /** Path relative to `dists/<suite>/`, e.g. `main/binary-amd64/Packages.gz`. */
  path: string;
  bytes: Buffer;
  digests: Digests<(typeof ALGOS)[number]>;
  /** True for Packages files (published under by-hash too). */
  byHash: boolean;
}

/** Everything a suite publishes, minus signatures. */
export interface SuiteIndex {
  suite: string;
  files: IndexFile[];
  /** The top Release text (to be signed into InRelease and Release.gpg). */
  release: string;
  /** XzBlockCache keys of the suite's Packages.xz blocks. */
  xzKeys: Set<string>;
}

function indexFile(path: string, bytes: Buffer, byHash: boolean): IndexFile {
  return { path, bytes, digests: hashBytes(bytes, ALGOS), byHash };
}

// Stanzas by record object: a long-lived catalogue hands out the same (never mutated) records, so an incremental publish formats only new ones.
const stanzaCache = new WeakMap<IndexedPackage, string>();

/**
 * Takes `stanza` as the Packages stanza of `p` (served-stanzas.ts: text a publish wrote for this very .deb and pool
 * path); false if `p` has one already.
 */
export function rememberStanza(p: IndexedPackage, stanza: string): boolean {
  if (stanzaCache.has(p)) return false;
  stanzaCache.set(p, stanza);
  return true;
}

function cachedStanza(p: IndexedPackage): string {
  let s = stanzaCache.get(p);
  if (s === undefined) stanzaCache.set(p, (s = packagesStanza(p)));
  return s;
}

/**
 * Per binary architecture, its Packages stanzas in index order, in two runs: the architecture's own packages, then
 * the `Architecture: all` ones, each run sorted (comparePackages). The `all` run is the same text at the end of every
 * architecture's Packages, so its xz blocks are the same too: compressed once for all architectures, and an added
 * `all` package changes one block, not one per architecture. Clients do not depend on the order of stanzas.
 */
function stanzasByArch(pkgs: readonly IndexedPackage[], arches: readonly string[]): Array<[arch: string, runs: string[][]]> {
  const sorted = [...pkgs].sort(comparePackages);
  const all = sorted.filter((p) => p.arch === 'all').map(cachedStanza);
  return arches.map((arch) => [arch, [sorted.filter((p) => p.arch === arch).map(cachedStanza), all]]);
}

/** One architecture's Packages: its stanza runs in index order, its xz block texts, and the text (their concatenation). */
interface ArchPackages {
  arch: string;
  runs: string[][];
  blocks: Buffer[];
  text: Buffer;
}

/** Compressed Packages indices of a suite's architectures, under way (see warmPackagesXz). */
interface PreparedIndices {
  arches: ArchPackages[];
  xzOptions: string;
  xz: Promise<PackagesXz[]>;
  gz: Promise<Buffer[]>;
  /** The digests of each architecture's Packages text (made while xz runs, so the publish need not). */
  plainDigests?: Array<IndexFile['digests']>;
}

/** Indices prepared by warmPackagesXz, per block cache instance (an add and its publish share one), newest last. */
const preparedByCache = new WeakMap<XzBlockCache, PreparedIndices[]>();
/** Prepared suites kept per cache instance (a publish takes its own; the rest wait for theirs). */
const PREPARED_MAX = 8;

function archPackages(byArch: Array<[arch: string, runs: string[][]]>, xz: PackagesXzOptions): ArchPackages[] {
  // The `all` run ends every architecture's text: its block bytes are made once and shared.
  const lastRuns = new Map<readonly string[], Buffer[]>();
  return byArch.map(([arch, runs]) => {
    const blocks = packagesBlockBytes(runs, { ...xz, lastRuns });
    return { arch, runs, blocks, text: Buffer.concat(blocks) };
  });
}

/** Starts Packages.xz (one xz run for every architecture's missing blocks) and Packages.gz (libuv's thread pool). */
function compressIndices(arches: ArchPackages[], xz: PackagesXzOptions): Pick<PreparedIndices, 'xz' | 'gz'> {
  return {
    xz: packagesXzMany(arches.map((a) => a.blocks), xz),
    gz: gzipAll(arches),
  };
}

const gzipAll = (arches: ArchPackages[]): Promise<Buffer[]> => Promise.all(arches.map((a) => gzipAsync(a.text, { level: 9 })));

const sameStanzas = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((s, i) => s === b[i]);
const sameRuns = (a: readonly string[][], b: readonly string[][]): boolean => a.length === b.length && a.every((r, i) => sameStanzas(r, b[i]));

/** The indices warmPackagesXz prepared for exactly these stanzas and options (taken out of the cache's list), if any. */
function takePrepared(cache: XzBlockCache | undefined, byArch: Array<[arch: string, runs: string[][]]>, xzOptions: string): PreparedIndices | undefined {
  const list = cache && preparedByCache.get(cache);
  const i = list?.findIndex((p) => p.xzOptions === xzOptions && p.arches.length === byArch.length && p.arches.every((a, j) => a.arch === byArch[j][0] && sameRuns(a.runs, byArch[j][1]))) ?? -1;
  return i < 0 ? undefined : list!.splice(i, 1)[0];
}

/**
 * Compresses into `xzBlockCache` the Packages.xz blocks that these packages need and it lacks, so that a publish of
 * the same packages with the same xz options finds every block there, and starts their Packages.gz: a publish with
 * the same cache instance and the same stanzas uses both as they are. Used while a batch of pool files is stored.
 */
export async function warmPackagesXz(pkgs: readonly IndexedPackage[], opts: Pick<SuiteOptions, 'architectures' | 'xzLevel' | 'xzBlocks'> & { xzBlockCache: XzBlockCache }): Promise<void> {
  const xz: PackagesXzOptions = { level: opts.xzLevel ?? 6, cache: opts.xzBlockCache, ...opts.xzBlocks };
  const arches = archPackages(stanzasByArch(pkgs, opts.architectures ?? BINARY_ARCHES), xz);
  const prepared: PreparedIndices = { arches, xzOptions: xzOptionsKey(xz), ...compressIndices(arches, xz) };
  // A publish that awaits them sees their errors; unclaimed, they must not be unhandled rejections.
  prepared.gz.catch(() => {});
  // xz and gzip run elsewhere meanwhile; the publish would otherwise hash the texts after they end. A turn later: the
  // relay hands xz its input within this turn (command-relay.ts), and hashing first would start xz ~8 ms later.
  setImmediate(() => {
    prepared.plainDigests = arches.map((a) => hashBytes(a.text, ALGOS));
  });
  const list = preparedByCache.get(opts.xzBlockCache) ?? [];
  list.push(prepared);
  preparedByCache.set(opts.xzBlockCache, list.slice(-PREPARED_MAX));
  await prepared.xz;
}

function xzOptionsKey(xz: PackagesXzOptions): string {
  return JSON.stringify([xz.level, xz.minBlock, xz.maxBlock, xz.divisor]);
}

/** Builds the index files and Release of one suite. `Architecture: all` packages appear in every binary-<arch>. */
export async function buildSuiteIndex(pkgs: readonly IndexedPackage[], opts: SuiteOptions): Promise<SuiteIndex> {
  const component = opts.component ?? 'main';
  const arches = [...(opts.architectures ?? BINARY_ARCHES)];
  const codename = opts.codename ?? opts.suite;
  const xzKeys = new Set<string>();
  const xz: PackagesXzOptions = { level: opts.xzLevel ?? 6, cache: opts.xzBlockCache, ...opts.xzBlocks };
  const stanzas = stanzasByArch(pkgs, arches);
  // What an add prepared for these very stanzas is used as it is (a failure there is retried here); else xz (a child
  // process) and gzip (libuv's thread pool) start now, and the main thread hashes each Packages meanwhile.
  const ready = takePrepared(opts.xzBlockCache, stanzas, xzOptionsKey(xz));
  const byArch = ready?.arches ?? archPackages(stanzas, xz);
  const started = ready ?? compressIndices(byArch, xz);
  const xzP = started.xz.catch((err: unknown) => (ready ? packagesXzMany(byArch.map((a) => a.blocks), xz) : Promise.reject(err)));
  const gzP = started.gz.catch((err: unknown) => (ready ? gzipAll(byArch) : Promise.reject(err)));
  const plain = byArch.map((a, i): IndexFile => {
    const path = `${component}/binary-${a.arch}/Packages`;
    const digests = ready?.plainDigests?.[i];
    return digests ? { path, bytes: a.text, digests, byHash: true } : indexFile(path, a.text, true);
  });
  const [xzOut, gzOut] = await Promise.all([xzP, gzP]);
  const perArch = byArch.map((a, i) => {
    const dir = `${component}/binary-${a.arch}`;
    xzOut[i].keys.forEach((k) => xzKeys.add(k));
    const rel = archReleaseFile({ origin: opts.origin, label: opts.label, suite: opts.suite, codename, component, architecture: a.arch });
    return [plain[i], indexFile(`${dir}/Packages.gz`, gzOut[i], true), indexFile(`${dir}/Packages.xz`, xzOut[i].bytes, true), indexFile(`${dir}/Release`, Buffer.from(rel), false)];
  });
  const files = perArch.flat().sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const entries: ReleaseEntry[] = files.map((f) => ({ path: f.path, ...f.digests }));
  const release = releaseFile({
    origin: opts.origin,
    label: opts.label,
    suite: opts.suite,
    codename,
    date: opts.date,
    validUntil: opts.validUntil,
    architectures: arches,
    components: [component],
    description: opts.description,
    files: entries,
  });
  return { suite: opts.suite, files, release, xzKeys };
}
