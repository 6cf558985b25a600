// The tarball repository's layout and its JSON index, for scripts (Gentoo,
// Arch, anything without apt or yum):
//   tarballs/<repo>/<krel>/linux-xen-legacy-<krel>-<arch>.tar.{xz,gz}
//   tarballs/<repo>/<krel>/SHA256SUMS + SHA256SUMS.asc   (like kernel.org)
//   tarballs/<repo>/index.json                            (versions, arches, files)
// Pure: the publisher (server/repo-publisher.ts) writes what these return.

import { compareDebianVersions } from '../apt/debian-version.js';
import { FormatError } from '../errors.js';

/** One published tarball, as the catalogue knows it. */
export interface TarballEntry {
  /** Kernel release (the version folder), e.g. `6.1.192-xen-legacy`. */
  krel: string;
  /** Kernel arch: x86_64 or i386. */
  arch: string;
  /** Kernel line, e.g. `6.1`. */
  line: string;
  filename: string;
  sha256: string;
  size: number;
  channel: 'testing' | 'stable';
  /** Upload time, ms since the epoch. */
  createdAt: number;
}

/** One file in the index; `path` is relative to the index's folder. */
export interface TarballIndexFile {
  name: string;
  path: string;
  sha256: string;
  size: number;
  compression: 'xz' | 'gzip' | 'none';
}

/** One kernel version in the index. */
export interface TarballIndexVersion {
  version: string;
  line: string;
  /** Newest upload of the version (ISO 8601). */
  date: string;
  dir: string;
  sha256sums: string;
  signature: string;
  arches: Record<string, { channel: 'testing' | 'stable'; files: TarballIndexFile[] }>;
}

/** tarballs/<repo>/index.json. */
export interface TarballIndex {
  format: 1;
  repo: string;
  generated: string;
  /** The signing key, relative to the published root. */
  key: string;
  /** Newest version per channel and arch (stable also appears in testing). */
  latest: { stable: Record<string, string>; testing: Record<string, string> };
  /** Newest first. */
  versions: TarballIndexVersion[];
}

/** Kernel releases that may name a folder: the tarball name rule's krel (no `/`, no leading dot). */
const KREL_RE = /^\d+\.\d+[a-z0-9.+~-]*$/;

/** The storage prefix of a repo's tarball tree. */
export function tarballRepoPrefix(repo: string): string {
  return `tarballs/${repo}`;
}

/** The folder of one kernel version, relative to the published root. */
export function tarballVersionDir(repo: string, krel: string): string {
  if (!KREL_RE.test(krel)) throw new FormatError(`cannot place tarballs of kernel ${JSON.stringify(krel)}: not a kernel release such as 6.1.192-xen-legacy`);
  return `${tarballRepoPrefix(repo)}/${krel}`;
}

/** The entries grouped by kernel release, newest release first. */
export function groupByVersion(entries: readonly TarballEntry[]): Array<{ krel: string; entries: TarballEntry[] }> {
  const by = new Map<string, TarballEntry[]>();
  for (const e of entries) by.set(e.krel, [...(by.get(e.krel) ?? []), e]);
  return [...by.entries()].sort((a, b) => compareDebianVersions(b[0], a[0])).map(([krel, list]) => ({ krel, entries: list.sort((x, y) => (x.filename < y.filename ? -1 : x.filename > y.filename ? 1 : 0)) }));
}

/** Builds the index document; deterministic for the same entries and `generated`. */
export function tarballIndex(opts: { repo: string; entries: readonly TarballEntry[]; generated: Date; keyPath: string }): TarballIndex {
  const latest: TarballIndex['latest'] = { stable: {}, testing: {} };
  const versions = groupByVersion(opts.entries).map(({ krel, entries }): TarballIndexVersion => {
    tarballVersionDir(opts.repo, krel);
    const arches: TarballIndexVersion['arches'] = {};
    for (const e of entries) {
      const a = (arches[e.arch] ??= { channel: 'stable', files: [] });
      if (e.channel === 'testing') a.channel = 'testing';
      a.files.push({ name: e.filename, path: `${krel}/${e.filename}`, sha256: e.sha256, size: e.size, compression: compressionOf(e.filename) });
    }
    const sorted = Object.fromEntries(Object.entries(arches).sort(([a], [b]) => (a < b ? -1 : 1)));
    for (const [arch, a] of Object.entries(sorted)) {
      // Newest first: the first version seen per arch is the latest.
      latest.testing[arch] ??= krel;
      if (a.channel === 'stable') latest.stable[arch] ??= krel;
    }
    return {
      version: krel,
      line: entries[0].line,
      date: new Date(Math.max(...entries.map((e) => e.createdAt))).toISOString(),
      dir: `${krel}/`,
      sha256sums: `${krel}/SHA256SUMS`,
      signature: `${krel}/SHA256SUMS.asc`,
      arches: sorted,
    };
  });
  return { format: 1, repo: opts.repo, generated: opts.generated.toISOString(), key: opts.keyPath, latest, versions };
}

/** The index as published: pretty JSON with a final newline. */
export function formatTarballIndex(index: TarballIndex): string {
  return `${JSON.stringify(index, null, 2)}\n`;
}

function compressionOf(name: string): TarballIndexFile['compression'] {
  if (name.endsWith('.xz')) return 'xz';
  if (name.endsWith('.gz')) return 'gzip';
  return 'none';
}
