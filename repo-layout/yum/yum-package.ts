// The catalogue record of one published rpm: everything primary, filelists
// and other need, taken from the rpm header once when the rpm is added, so a
// publish never re-reads package files.

import type { RpmDepInfo, RpmInfo } from '../rpm/rpm-reader.js';
import { S_IFDIR } from '../rpm/rpm-tags.js';

/** A dependency as repodata writes it (createrepo_c's rpm:entry). */
export interface YumDep {
  name: string;
  flags?: 'EQ' | 'LT' | 'GT' | 'LE' | 'GE';
  epoch?: string;
  ver?: string;
  rel?: string;
  pre?: boolean;
}

export interface YumFile {
  path: string;
  type?: 'dir' | 'ghost';
}

/** One package in a YUM repo's catalogue (JSON-serialisable). */
export interface YumPackage {
  /** Location relative to the repo directory, e.g. `Packages/k/kernel-1-1.x86_64.rpm`. */
  href: string;
  name: string;
  arch: string;
  epoch: number;
  version: string;
  release: string;
  sha256: string;
  sha1: string;
  summary: string;
  description: string;
  packager: string;
  url: string;
  license: string;
  vendor: string;
  group: string;
  buildhost: string;
  sourcerpm: string;
  fileTime: number;
  buildTime: number;
  packageSize: number;
  installedSize: number;
  archiveSize: number;
  headerStart: number;
  headerEnd: number;
  provides: YumDep[];
  requires: YumDep[];
  conflicts: YumDep[];
  obsoletes: YumDep[];
  files: YumFile[];
  changelog: Array<{ author: string; date: number; text: string }>;
  /** 1 MD5, 8 SHA-256 (profile checks). */
  fileDigestAlgo: number;
  payloadCompressor: string;
  /** Its number among the catalogue's adds (YumState.serial; absent in records older than it): see repodata-reuse.ts. */
  serial?: number;
}

/**
 * The fields of a package record a catalogue keeps at hand (catalogue.json): all that adds, removals, retention,
 * `lxl yum list` and a publish that copies the package's elements from the served repodata need. The rest of the
 * record (deps, files, changelog, texts) is read only to encode its elements (YumCatalogue.records).
 */
export const ENTRY_FIELDS = ['href', 'name', 'arch', 'epoch', 'version', 'release', 'sha256', 'sha1', 'packageSize', 'fileDigestAlgo', 'payloadCompressor', 'serial'] as const;

/** A package as the catalogue lists it: a whole YumPackage (just added), or its ENTRY_FIELDS and where the rest is. */
export type YumEntry = Pick<YumPackage, (typeof ENTRY_FIELDS)[number]> & {
  /** Where the catalogue keeps the whole record: [offset, length] in YumState.records (absent until it is written). */
  at?: [number, number];
};

/** True when `e` is a whole record (not only the fields the catalogue keeps at hand). */
export function isWholeRecord(e: YumEntry): e is YumPackage & YumEntry {
  return Array.isArray((e as Partial<YumPackage>).files);
}

/** The ENTRY_FIELDS of `p` (and its `at`), as catalogue.json holds them. */
export function entryOf(p: YumEntry): YumEntry {
  const e: Record<string, unknown> = {};
  for (const k of ENTRY_FIELDS) if (p[k] !== undefined) e[k] = p[k];
  if (p.at) e.at = p.at;
  return e as unknown as YumEntry;
}

// rpmds.h sense bits used here.
const LESS = 1 << 1;
const GREATER = 1 << 2;
const EQUAL = 1 << 3;
const PREREQ = 1 << 6;
const SCRIPT_PRE = 1 << 9;
const SCRIPT_POST = 1 << 10;

/** Splits `[E:]V[-R]` as createrepo_c does (epoch defaults to "0"). */
export function splitEvr(evr: string): { epoch: string; ver: string; rel?: string } {
  const m = /^(\d+):(.*)$/.exec(evr);
  const epoch = m ? m[1] : '0';
  const rest = m ? m[2] : evr;
  const dash = rest.lastIndexOf('-');
  return dash < 0 ? { epoch, ver: rest } : { epoch, ver: rest.slice(0, dash), rel: rest.slice(dash + 1) };
}

function toYumDep(d: RpmDepInfo): YumDep {
  const out: YumDep = { name: d.name };
  const sense = d.flags & (LESS | GREATER | EQUAL);
  const flags = sense === EQUAL ? 'EQ' : sense === LESS ? 'LT' : sense === GREATER ? 'GT' : sense === (LESS | EQUAL) ? 'LE' : sense === (GREATER | EQUAL) ? 'GE' : undefined;
  if (flags && d.version) Object.assign(out, { flags }, splitEvr(d.version));
  return out;
}

/** createrepo_c's "primary" file rule: /etc/*, any *bin/*, and /usr/lib/sendmail go into primary.xml. */
export function isPrimaryFile(p: string): boolean {
  return p.startsWith('/etc/') || p.includes('bin/') || p === '/usr/lib/sendmail';
}

/** Builds the catalogue record of an rpm from its header and file facts. */
export function yumPackageFrom(info: RpmInfo, file: { href: string; sha256: string; sha1: string; size: number; mtime: number }): YumPackage {
  const own = new Set(info.files.map((f) => f.path));
  // Requires as createrepo_c lists them: no rpmlib(), no own primary files, duplicates merged, pre for install-time scripts.
  const requires: YumDep[] = [];
  const seen = new Map<string, YumDep>();
  for (const r of info.requires) {
    if (r.name.startsWith('rpmlib(')) continue;
    if (r.name.startsWith('/') && own.has(r.name) && isPrimaryFile(r.name)) continue;
    const dep = toYumDep(r);
    const pre = (r.flags & (PREREQ | SCRIPT_PRE | SCRIPT_POST)) !== 0;
    const key = `${dep.name}\0${dep.flags ?? ''}\0${dep.epoch ?? ''}\0${dep.ver ?? ''}\0${dep.rel ?? ''}`;
    const prev = seen.get(key);
    if (prev) {
      if (pre) prev.pre = true;
      continue;
    }
    if (pre) dep.pre = true;
    seen.set(key, dep);
    requires.push(dep);
  }
  return {
    href: file.href,
    name: info.name,
    arch: info.arch,
    epoch: info.epoch ?? 0,
    version: info.version,
    release: info.release,
    sha256: file.sha256,
    sha1: file.sha1,
    summary: info.summary,
    description: info.description,
    packager: info.packager ?? '',
    url: info.url ?? '',
    license: info.license,
    vendor: info.vendor ?? '',
    group: info.group ?? '',
    buildhost: info.buildhost ?? '',
    sourcerpm: info.sourcerpm ?? '',
    fileTime: file.mtime,
    buildTime: info.buildtime,
    packageSize: file.size,
    installedSize: info.size,
    archiveSize: info.archiveSize,
    headerStart: info.headerStart,
    headerEnd: info.headerEnd,
    provides: info.provides.map(toYumDep),
    requires,
    conflicts: info.conflicts.map(toYumDep),
    obsoletes: info.obsoletes.map(toYumDep),
    files: info.files.map((f) => ((f.mode & 0o170000) === S_IFDIR ? { path: f.path, type: 'dir' } : (f.flags & (1 << 6)) !== 0 ? { path: f.path, type: 'ghost' } : { path: f.path })),
    changelog: info.changelog.map((c) => ({ author: c.author, date: c.time, text: c.text })),
    fileDigestAlgo: info.fileDigestAlgo,
    payloadCompressor: info.payloadCompressor,
  };
}
