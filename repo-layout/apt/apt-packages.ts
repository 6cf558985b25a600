// Packages stanzas (one per .deb) and whole Packages files. Field order is the
// one apt-ftparchive writes: apt's apt-pkg/tagfile-order.c
// (iTFRewritePackageOrder): known fields in that table's order, Filename,
// Size and the digests between the relations and Homepage, then any field the
// table does not know, in the order the .deb's control file had them.

import { createHash } from 'node:crypto';
import { FormatError } from '../errors.js';
import { compareDebianVersions } from './debian-version.js';

/** apt's iTFRewritePackageOrder (apt 2.6-3.0), dpkg's obsolete aliases included. */
export const PACKAGES_FIELD_ORDER: readonly string[] = [
  'Package', 'Package-Type', 'Architecture', 'Architecture-Variant', 'Subarchitecture', 'Version',
  'Revision', 'Package-Revision', 'Package_Revision', 'Kernel-Version', 'Built-Using', 'Static-Built-Using',
  'Built-For-Profiles', 'Auto-Built-Package', 'Multi-Arch', 'Status', 'Priority', 'Class', 'Build-Essential',
  'Protected', 'Essential', 'Installer-Menu-Item', 'Section', 'Source', 'Origin', 'Maintainer',
  'Original-Maintainer', 'Bugs', 'Config-Version', 'Conffiles', 'Triggers-Awaited', 'Triggers-Pending',
  'Installed-Size', 'Provides', 'Pre-Depends', 'Depends', 'Recommends', 'Recommended', 'Suggests', 'Optional',
  'Conflicts', 'Breaks', 'Replaces', 'Enhances', 'Filename', 'MSDOS-Filename', 'Size', 'MD5sum', 'SHA1',
  'SHA256', 'SHA512', 'Homepage', 'Description', 'Tag', 'Task',
];

const RANK = new Map(PACKAGES_FIELD_ORDER.map((f, i) => [f.toLowerCase(), i]));

/** Fields an index adds; a .deb's control file must not carry them. */
const INDEX_FIELDS = ['Filename', 'Size', 'MD5sum', 'SHA1', 'SHA256', 'SHA512'];

/** What a Packages stanza needs besides the control file: where the .deb lives and its digests. */
export interface PoolFileInfo {
  /** Path relative to the repository root, e.g. `pool/main/l/linux-xen-legacy/linux-xen-legacy_1_amd64.deb`. */
  filename: string;
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
  sha512: string;
}

/** One package as an index sees it: its control paragraph text plus pool location and digests. */
export interface IndexedPackage extends PoolFileInfo {
  name: string;
  version: string;
  /** Debian architecture: amd64, i386 or all. */
  arch: string;
  /** The DEBIAN/control text as stored in the .deb. */
  control: string;
}

/** Formats one Packages stanza (ending in a newline) in apt-ftparchive's field order. */
export function packagesStanza(pkg: IndexedPackage): string {
  return orderedStanza(pkg) ?? packagesStanzaGeneral(pkg);
}

/** Rank of each field name as dpkg writes it (exact case; other spellings go through RANK). */
const RANK_EXACT = new Map(PACKAGES_FIELD_ORDER.map((f, i) => [f, i]));
/** Fields ranked after these come after the index fields. */
const LAST_INDEX_RANK = RANK.get('sha512')!;
const FIRST_INDEX_RANK = RANK.get('filename')!;

/**
 * The common case, without splitting the control text into names and values: every field's first line is
 * `Name: value` (one space, nothing blank at either end of the value), as dpkg-deb and lxl write them, so the stanza is
 * the text's fields (each with its continuation lines) in index order, with the index fields inserted. Undefined when
 * the text is not like that (packagesStanzaGeneral then decides).
 */
export function orderedStanza(pkg: IndexedPackage): string | undefined {
  const c = pkg.control;
  if (c.length === 0 || c.charCodeAt(c.length - 1) !== 10) return undefined;
  const starts: number[] = [];
  const ranks: number[] = [];
  let sorted = true;
  for (let start = 0; start < c.length; ) {
    const end = c.indexOf('\n', start);
    if (end === start) return undefined;
    const first = c.charCodeAt(start);
    if (first === 32 || first === 9) {
      // A continuation line belongs to the field above it.
      if (start === 0) return undefined;
    } else {
      const colon = c.indexOf(':', start);
      if (colon <= start || colon > end) return undefined;
      // One space after the colon, then printable ASCII at both ends of the value: nothing the general path's trim() removes.
      if (c.charCodeAt(colon + 1) !== 32 || colon + 2 >= end) return undefined;
      const v = c.charCodeAt(colon + 2);
      const last = c.charCodeAt(end - 1);
      if (v <= 32 || v >= 127 || last <= 32 || last >= 127) return undefined;
      const name = c.slice(start, colon);
      const rank = RANK_EXACT.get(name) ?? RANK.get(name.toLowerCase()) ?? PACKAGES_FIELD_ORDER.length;
      if (rank >= FIRST_INDEX_RANK && rank <= LAST_INDEX_RANK) return undefined;
      if (ranks.length > 0 && rank < ranks[ranks.length - 1]) sorted = false;
      starts.push(start);
      ranks.push(rank);
    }
    start = end + 1;
  }
  const index = `Filename: ${pkg.filename}\nSize: ${pkg.size}\nMD5sum: ${pkg.md5}\nSHA1: ${pkg.sha1}\nSHA256: ${pkg.sha256}\nSHA512: ${pkg.sha512}\n`;
  if (sorted) {
    // Already in index order (dpkg-deb's and lxl's usual): the text with the index fields put in before the first field ranked after them.
    const after = ranks.findIndex((r) => r > LAST_INDEX_RANK);
    return after < 0 ? c + index : c.slice(0, starts[after]) + index + c.slice(starts[after]);
  }
  const order = starts.map((_, i) => i);
  // Stable: known fields by rank, unknown ones after them in their original order.
  order.sort((a, b) => ranks[a] - ranks[b] || a - b);
  let out = '';
  let indexed = false;
  for (const i of order) {
    if (!indexed && ranks[i] > LAST_INDEX_RANK) {
      out += index;
      indexed = true;
    }
    out += c.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : c.length);
  }
  return indexed ? out : out + index;
}

/** packagesStanza for any control text: fields split, sorted by rank (stable), written as `Name: value`. */
export function packagesStanzaGeneral(pkg: IndexedPackage): string {
  const fields = controlFields(pkg);
  const lower = new Set(fields.map(([k]) => k.toLowerCase()));
  for (const f of INDEX_FIELDS) {
    if (lower.has(f.toLowerCase())) throw new FormatError(`cannot index ${pkg.filename}: its control file has the index-only field ${f}`);
  }
  fields.push(
    ['Filename', pkg.filename],
    ['Size', String(pkg.size)],
    ['MD5sum', pkg.md5],
    ['SHA1', pkg.sha1],
    ['SHA256', pkg.sha256],
    ['SHA512', pkg.sha512],
  );
  // Stable sort: known fields by rank, unknown ones after them in their original order.
  const ranked = fields.map(([k, v], i) => ({ k, v, r: RANK.get(k.toLowerCase()) ?? PACKAGES_FIELD_ORDER.length, i }));
  ranked.sort((a, b) => a.r - b.r || a.i - b.i);
  let out = '';
  for (const { k, v } of ranked) out += `${k}: ${v}\n`;
  return out;
}

/**
 * The control paragraph as [name, value] pairs (continuation lines kept verbatim, but for a CR before the line end:
 * dpkg-deb builds a control file with CRLF line ends, and its Packages stanza gets LF ones, as its fields' first lines
 * do through trim()). The strict parse already ran when the .deb was added.
 */
function controlFields(pkg: IndexedPackage): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of pkg.control.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    if (line[0] === ' ' || line[0] === '\t') {
      if (out.length === 0) throw new FormatError(`cannot index ${pkg.filename}: its control file starts with a continuation line`);
      out[out.length - 1][1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new FormatError(`cannot index ${pkg.filename}: bad control line ${JSON.stringify(line.slice(0, 60))}`);
    out.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return out;
}

/**
 * A fingerprint of packagesStanza's output: the digest of the stanzas of a few packages that take each of its paths
 * (already ordered, reordered, unknown fields, a value packagesStanzaGeneral trims). A publish records it; a stanza a
 * Packages file of that publish holds is reused (served-stanzas.ts) only while the fingerprint is the same, so that
 * a change to the formatting is never hidden behind reused text.
 */
export function stanzaFormat(): string {
  if (format === undefined) {
    const pool = { filename: 'pool/main/p/p/p_1_amd64.deb', size: 1, md5: 'm', sha1: 's1', sha256: 's256', sha512: 's512', name: 'p', version: '1', arch: 'amd64' };
    const controls = [
      'Package: p\nVersion: 1\nArchitecture: amd64\nMaintainer: M <m@example.invalid>\nInstalled-Size: 1\nDepends: a\nSection: kernel\nPriority: optional\nHomepage: https://example.invalid/\nDescription: d\n long\n .\n more\n',
      'Package: p\nDescription: d\n long\nVersion: 1\nX-Custom: c\nArchitecture: amd64\nPre-Depends: b\nMulti-Arch: same\nTag: t\nBuilt-Using: u (= 1)\n',
      'Package:  p \nversion:1\nArchitecture: amd64\nDescription: d\n',
      'Package: p\r\nArchitecture: amd64\r\nDescription: d\r\n long\r\n .\r\n',
    ];
    const h = createHash('sha256');
    for (const control of controls) h.update(packagesStanza({ ...pool, control })).update('\0');
    format = h.digest('hex').slice(0, 16);
  }
  return format;
}

let format: string | undefined;

/** Orders packages the way every index lists them: by name, then Debian version, then architecture. */
export function comparePackages(a: IndexedPackage, b: IndexedPackage): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  const v = compareDebianVersions(a.version, b.version);
  if (v !== 0) return v;
  return a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0;
}

/** Formats a whole Packages file for the given packages (sorted here; stanzas separated by blank lines). */
export function packagesFile(pkgs: readonly IndexedPackage[]): string {
  return [...pkgs].sort(comparePackages).map(packagesStanza).join('\n');
}
