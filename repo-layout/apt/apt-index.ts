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
import { packagesXz, type PackagesXzOptions, type XzBlockCache } from './packages-xz.js';

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

function cachedStanza(p: IndexedPackage): string {
  let s = stanzaCache.get(p);
  if (s === undefined) stanzaCache.set(p, (s = packagesStanza(p)));
  return s;
}

/** Per binary architecture, its Packages stanzas in index order (`Architecture: all` packages are in every one). */
function stanzasByArch(pkgs: readonly IndexedPackage[], arches: readonly string[]): Array<[arch: string, stanzas: string[]]> {
  const sorted = [...pkgs].sort(comparePackages);
  const stanzas = new Map(sorted.map((p) => [p, cachedStanza(p)]));
  return arches.map((arch) => [arch, sorted.filter((p) => p.arch === arch || p.arch === 'all').map((p) => stanzas.get(p)!)]);
}

/**
 * Compresses into `xzBlockCache` the Packages.xz blocks that these packages need and it lacks, so that a publish of
 * the same packages with the same xz options finds every block there. Used while a batch of pool files is stored.
 */
export async function warmPackagesXz(pkgs: readonly IndexedPackage[], opts: Pick<SuiteOptions, 'architectures' | 'xzLevel' | 'xzBlocks'> & { xzBlockCache: XzBlockCache }): Promise<void> {
  await Promise.all(
    stanzasByArch(pkgs, opts.architectures ?? BINARY_ARCHES).map(([, stanzas]) => packagesXz(stanzas, { level: opts.xzLevel ?? 6, cache: opts.xzBlockCache, ...opts.xzBlocks })),
  );
}

/** Builds the index files and Release of one suite. `Architecture: all` packages appear in every binary-<arch>. */
export async function buildSuiteIndex(pkgs: readonly IndexedPackage[], opts: SuiteOptions): Promise<SuiteIndex> {
  const component = opts.component ?? 'main';
  const arches = [...(opts.architectures ?? BINARY_ARCHES)];
  const codename = opts.codename ?? opts.suite;
  const xzKeys = new Set<string>();
  const perArch = await Promise.all(
    stanzasByArch(pkgs, arches).map(async ([arch, archStanzas]) => {
      const text = Buffer.from(archStanzas.join('\n'));
      const dir = `${component}/binary-${arch}`;
      // Start xz (a child process) first, then gzip on libuv's thread pool, so both run alongside; the main thread
      // hashes Packages (and Packages.gz once gzip is done) meanwhile.
      const xzP = packagesXz(archStanzas, { level: opts.xzLevel ?? 6, cache: opts.xzBlockCache, ...opts.xzBlocks });
      const gzP = gzipAsync(text, { level: 9 }).then((gz) => indexFile(`${dir}/Packages.gz`, gz, true));
      const plain = indexFile(`${dir}/Packages`, text, true);
      const [xzOut, gz] = await Promise.all([xzP, gzP]);
      xzOut.keys.forEach((k) => xzKeys.add(k));
      const rel = archReleaseFile({ origin: opts.origin, label: opts.label, suite: opts.suite, codename, component, architecture: arch });
      return [plain, gz, indexFile(`${dir}/Packages.xz`, xzOut.bytes, true), indexFile(`${dir}/Release`, Buffer.from(rel), false)];
    }),
  );
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
