// Release files: the suite's top `dists/<suite>/Release` (signed into
// InRelease and Release.gpg) and the small per-architecture
// `main/binary-<arch>/Release`. Field order follows Debian's archive (dak):
// Origin, Label, Suite, Codename, Date, Valid-Until, Architectures,
// Components, Description, Acquire-By-Hash, then the checksum sections.

import { formatParagraph } from '../deb822.js';
import { FormatError } from '../errors.js';

/** One index file listed in a Release: its path relative to `dists/<suite>/`, size and digests. */
export interface ReleaseEntry {
  path: string;
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
  sha512: string;
}

/** The fields of a suite's Release. */
export interface ReleaseInfo {
  origin: string;
  label: string;
  suite: string;
  codename: string;
  /** When the suite was published; apt ≥ 1.6 refuses a Date in its future, so callers pass a time a little in the past. */
  date: Date;
  /** Optional expiry; apt refuses the suite after it. */
  validUntil?: Date;
  /** Debian architectures, e.g. ['amd64', 'i386']. */
  architectures: string[];
  components: string[];
  description?: string;
  /** Files listed in the checksum sections, in this order. */
  files: ReleaseEntry[];
}

/** The checksum sections of a Release file, weakest first as Debian writes them; apt uses the strongest it knows. */
export const RELEASE_HASHES = [
  { field: 'MD5Sum', key: 'md5', dir: 'MD5Sum' },
  { field: 'SHA1', key: 'sha1', dir: 'SHA1' },
  { field: 'SHA256', key: 'sha256', dir: 'SHA256' },
  { field: 'SHA512', key: 'sha512', dir: 'SHA512' },
] as const;

/**
 * The by-hash directories we publish. apt (≥ 1.1) fetches `by-hash/<strongest listed hash>/`, which is SHA512
 * here; SHA256 is kept for tools that stop at SHA256. MD5Sum/SHA1 are listed for old clients, which never use by-hash.
 */
export const BY_HASH = RELEASE_HASHES.filter((h) => h.key === 'sha256' || h.key === 'sha512');

/** RFC 2822 date in UTC as apt and dak write it: `Sat, 28 Nov 2026 01:02:03 UTC`. */
export function formatReleaseDate(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new FormatError('cannot format a Release date: invalid date');
  // toUTCString gives "Sat, 28 Nov 2026 01:02:03 GMT"; apt parses both, Debian writes UTC.
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

/** Formats a suite's top-level Release file (the text InRelease and Release.gpg sign). */
export function releaseFile(info: ReleaseInfo): string {
  const f: Array<[string, string]> = [
    ['Origin', info.origin],
    ['Label', info.label],
    ['Suite', info.suite],
    ['Codename', info.codename],
    ['Date', formatReleaseDate(info.date)],
  ];
  if (info.validUntil) f.push(['Valid-Until', formatReleaseDate(info.validUntil)]);
  f.push(['Architectures', info.architectures.join(' ')], ['Components', info.components.join(' ')]);
  if (info.description) f.push(['Description', info.description]);
  f.push(['Acquire-By-Hash', 'yes']);
  const width = Math.max(0, ...info.files.map((e) => String(e.size).length));
  for (const h of RELEASE_HASHES) {
    // Each line: " <hex> <size right-aligned> <path>", as dak and apt-ftparchive write them.
    const lines = info.files.map((e) => ` ${e[h.key]} ${String(e.size).padStart(width)} ${e.path}`);
    f.push([h.field, lines.length ? `\n${lines.join('\n')}` : '']);
  }
  for (const [k, v] of f) {
    if (k !== 'MD5Sum' && k !== 'SHA1' && k !== 'SHA256' && k !== 'SHA512' && /[\n\r]/.test(v)) {
      throw new FormatError(`cannot format Release field ${k}: it must be one line`);
    }
  }
  return formatParagraph(f);
}

/** The fields of a per-architecture `binary-<arch>/Release`. */
export interface ArchReleaseInfo {
  origin: string;
  label: string;
  suite: string;
  codename: string;
  component: string;
  architecture: string;
}

/** Formats `main/binary-<arch>/Release` (read by very old apt and by debmirror). */
export function archReleaseFile(info: ArchReleaseInfo): string {
  return formatParagraph([
    ['Archive', info.suite],
    ['Codename', info.codename],
    ['Origin', info.origin],
    ['Label', info.label],
    ['Acquire-By-Hash', 'yes'],
    ['Component', info.component],
    ['Architecture', info.architecture],
  ]);
}
