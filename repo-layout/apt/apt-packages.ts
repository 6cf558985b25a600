// Packages stanzas (one per .deb) and whole Packages files. Field order is the
// one apt-ftparchive writes: apt's apt-pkg/tagfile-order.c
// (iTFRewritePackageOrder): known fields in that table's order, Filename,
// Size and the digests between the relations and Homepage, then any field the
// table does not know, in the order the .deb's control file had them.

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

/** The control paragraph as [name, value] pairs (continuation lines kept verbatim). The strict parse already ran when the .deb was added. */
function controlFields(pkg: IndexedPackage): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of pkg.control.split('\n')) {
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
