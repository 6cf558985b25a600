// The main (immutable) header of a binary rpm, built from a PackageSpec and
// the digests the writer computed while archiving the payload. Tag choice
// follows what rpmbuild writes (rpm build/pack.c, build/files.c) for the
// parts dnf, createrepo_c and rpm itself read.

import type { FileEntry, PackageSpec, ScriptName } from '../model.js';
import { type RpmEntry } from './rpm-header.js';
import { isRich, RPM_ARCH, rpmDep, rpmEvr, formatEvr, rpmlibDep, type Evr, type RpmDep, type RpmProfile } from './rpm-names.js';
import { PgpHash, RpmType, S_IFDIR, S_IFLNK, S_IFREG, Sense, Tag, TAG_HEADERI18NTABLE } from './rpm-tags.js';

/**
 * Directories the distribution's `filesystem` package owns. A package must not
 * own them (Fedora packaging guidelines, "File and Directory Ownership"):
 * rpm reports a conflict when modes differ, and on merged-/usr systems /lib is
 * a symlink. They are left out of the header and the payload; rpm creates
 * missing parents itself.
 */
export const SYSTEM_DIRS = new Set([
  'bin', 'boot', 'dev', 'etc', 'home', 'lib', 'lib64', 'media', 'mnt', 'opt', 'proc', 'root', 'run', 'sbin', 'srv', 'sys', 'tmp', 'usr', 'var',
  'etc/kernel', 'etc/kernel/postinst.d', 'etc/kernel/postrm.d', 'etc/kernel/preinst.d', 'etc/kernel/prerm.d',
  'lib/firmware', 'lib/modules', 'usr/bin', 'usr/include', 'usr/lib', 'usr/lib/firmware', 'usr/lib/modules', 'usr/lib64', 'usr/libexec',
  'usr/local', 'usr/sbin', 'usr/share', 'usr/share/doc', 'usr/share/man', 'usr/src', 'var/lib', 'var/log',
]);

/** The files an rpm of `spec` carries: every spec entry except SYSTEM_DIRS, in path order. */
export function rpmFiles(spec: PackageSpec): FileEntry[] {
  return spec.files.filter((f) => !(f.type === 'dir' && SYSTEM_DIRS.has(f.path)));
}

/** Full st_mode of an entry (type bits + permissions). */
export function fileMode(f: FileEntry): number {
  return (f.type === 'dir' ? S_IFDIR : f.type === 'symlink' ? S_IFLNK : S_IFREG) | (f.type === 'symlink' ? 0o777 : f.mode);
}

/** Bytes an entry has in the payload: file size, symlink target length, 0 for directories. */
export function fileDataSize(f: FileEntry): number {
  return f.type === 'file' ? f.size : f.type === 'symlink' ? Buffer.byteLength(f.target) : 0;
}

/** What the writer learned while building the payload. */
export interface PayloadFacts {
  /** Hex digest of each file (regular files only; '' for the rest), same order as rpmFiles(). */
  fileDigests: string[];
  /** Hex SHA-256 of the compressed payload (PAYLOADDIGEST). */
  payloadSha256: string;
  compressor: 'gzip' | 'xz';
  level: number;
}

const SCRIPT_TAGS: Record<ScriptName, { body: number; prog: number; sense: number }> = {
  preinst: { body: Tag.PREIN, prog: Tag.PREINPROG, sense: Sense.SCRIPT_PRE },
  postinst: { body: Tag.POSTIN, prog: Tag.POSTINPROG, sense: Sense.SCRIPT_POST },
  prerm: { body: Tag.PREUN, prog: Tag.PREUNPROG, sense: Sense.SCRIPT_PREUN },
  postrm: { body: Tag.POSTUN, prog: Tag.POSTUNPROG, sense: Sense.SCRIPT_POSTUN },
};

/** Debian section → the old rpm Group (rpm's GROUPS file); Group is informational since rpm 4.13. */
const RPM_GROUP: Record<string, string> = { kernel: 'System Environment/Kernel', admin: 'System Environment/Base', utils: 'Applications/System', libs: 'System Environment/Libraries', misc: 'Applications/System' };

/** rpm's ISA suffix for arch-qualified self provides (rpm macros %_isa). */
const ISA: Record<string, string> = { x86_64: '(x86-64)', i686: '(x86-32)' };

/** The package's EVR under `profile`. */
export function specEvr(spec: PackageSpec, profile: RpmProfile): Evr {
  return rpmEvr(spec.version, { profile });
}

/** Builds every main-header entry for `spec` (pure). */
export function mainHeaderEntries(spec: PackageSpec, facts: PayloadFacts, profile: RpmProfile): RpmEntry[] {
  const evr = specEvr(spec, profile);
  const arch = RPM_ARCH[spec.arch];
  const rich = profile === 'modern';
  const s = (tag: number, value: string): RpmEntry => ({ tag, type: RpmType.STRING, value });
  const i18n = (tag: number, value: string): RpmEntry => ({ tag, type: RpmType.I18NSTRING, value: [value] });
  const i32 = (tag: number, value: number[]): RpmEntry => ({ tag, type: RpmType.INT32, value });
  const sa = (tag: number, value: string[]): RpmEntry => ({ tag, type: RpmType.STRING_ARRAY, value });

  const files = rpmFiles(spec);
  const out: RpmEntry[] = [
    sa(TAG_HEADERI18NTABLE, ['C']),
    s(Tag.NAME, spec.name),
    s(Tag.VERSION, evr.version),
    s(Tag.RELEASE, evr.release),
    i18n(Tag.SUMMARY, spec.summary),
    i18n(Tag.DESCRIPTION, spec.description.trim() || spec.summary),
    i32(Tag.BUILDTIME, [spec.sourceDateEpoch]),
    s(Tag.BUILDHOST, 'lxl'),
    i32(Tag.SIZE, [files.reduce((n, f) => n + fileDataSize(f), 0)]),
    s(Tag.LICENSE, spec.license),
    s(Tag.PACKAGER, spec.maintainer),
    i18n(Tag.GROUP, RPM_GROUP[spec.section] ?? 'Unspecified'),
    s(Tag.OS, 'linux'),
    s(Tag.ARCH, arch),
    s(Tag.SOURCERPM, `${spec.name}-${evr.version}-${evr.release}.src.rpm`),
    s(Tag.PAYLOADFORMAT, 'cpio'),
    s(Tag.PAYLOADCOMPRESSOR, facts.compressor),
    s(Tag.PAYLOADFLAGS, String(facts.level)),
    sa(Tag.PAYLOADDIGEST, [facts.payloadSha256]),
    i32(Tag.PAYLOADDIGESTALGO, [PgpHash.SHA256]),
  ];
  if (evr.epoch !== undefined) out.push(i32(Tag.EPOCH, [evr.epoch]));
  // One changelog entry: rpm and repodata tools expect at least one (rpmlint no-changelogname-tag).
  out.push(i32(Tag.CHANGELOGTIME, [spec.sourceDateEpoch]), sa(Tag.CHANGELOGNAME, [`${spec.maintainer} - ${formatEvr(evr)}`]), sa(Tag.CHANGELOGTEXT, [`- ${spec.name} ${spec.version}, packaged by lxl`]));
  if (spec.homepage) out.push(s(Tag.URL, spec.homepage));
  if (profile === 'modern') {
    out.push(s(Tag.ENCODING, 'utf-8'));
    if (files.length) out.push(i32(Tag.FILEDIGESTALGO, [PgpHash.SHA256]));
  }

  const requires: RpmDep[] = spec.depends.map((d, i) => rpmDep(d, { field: `depends[${i}]`, rich }));
  for (const [name, t] of Object.entries(SCRIPT_TAGS) as [ScriptName, (typeof SCRIPT_TAGS)[ScriptName]][]) {
    const body = spec.scripts[name];
    if (body === undefined) continue;
    out.push(s(t.body, body), s(t.prog, '/bin/sh'));
    requires.push({ name: '/bin/sh', flags: Sense.INTERP | t.sense, version: '' });
  }
  requires.push(rpmlibDep('CompressedFileNames'));
  if (profile === 'modern') requires.push(rpmlibDep('FileDigests'));
  requires.push(rpmlibDep('PayloadFilesHavePrefix'));
  if (facts.compressor === 'xz') requires.push(rpmlibDep('PayloadIsXz'));
  if (requires.some((r) => isRich(r.name))) requires.push(rpmlibDep('RichDependencies'));
  if (/[~]/.test(evr.version + evr.release)) requires.push(rpmlibDep('TildeInVersions'));

  const self = formatEvr(evr);
  const provides: RpmDep[] = [{ name: spec.name, flags: Sense.EQUAL, version: self }];
  if (ISA[arch]) provides.push({ name: `${spec.name}${ISA[arch]}`, flags: Sense.EQUAL, version: self });
  provides.push(...spec.provides.map((d, i) => rpmDep(d, { field: `provides[${i}]`, rich: false })));
  const conflicts = [...spec.conflicts, ...spec.breaks].map((d, i) => rpmDep(d, { field: `conflicts[${i}]`, rich }));
  const obsoletes = spec.obsoletes.map((d, i) => rpmDep(d, { field: `obsoletes[${i}]`, rich: false }));
  const recommends = profile === 'modern' ? spec.recommends.map((d, i) => rpmDep(d, { field: `recommends[${i}]`, rich })) : [];

  out.push(...depEntries(provides, Tag.PROVIDENAME, Tag.PROVIDEFLAGS, Tag.PROVIDEVERSION));
  out.push(...depEntries(requires, Tag.REQUIRENAME, Tag.REQUIREFLAGS, Tag.REQUIREVERSION));
  out.push(...depEntries(conflicts, Tag.CONFLICTNAME, Tag.CONFLICTFLAGS, Tag.CONFLICTVERSION));
  out.push(...depEntries(obsoletes, Tag.OBSOLETENAME, Tag.OBSOLETEFLAGS, Tag.OBSOLETEVERSION));
  out.push(...depEntries(recommends, Tag.RECOMMENDNAME, Tag.RECOMMENDFLAGS, Tag.RECOMMENDVERSION));
  if (files.length) out.push(...fileEntries(files, facts.fileDigests, spec.sourceDateEpoch));
  return out;
}

function depEntries(deps: RpmDep[], nameTag: number, flagsTag: number, versionTag: number): RpmEntry[] {
  if (deps.length === 0) return [];
  return [
    { tag: nameTag, type: RpmType.STRING_ARRAY, value: deps.map((d) => d.name) },
    { tag: flagsTag, type: RpmType.INT32, value: deps.map((d) => d.flags) },
    { tag: versionTag, type: RpmType.STRING_ARRAY, value: deps.map((d) => d.version) },
  ];
}

function fileEntries(files: FileEntry[], digests: string[], mtime: number): RpmEntry[] {
  const dirnames: string[] = [];
  const dirIndex = new Map<string, number>();
  const dirindexes: number[] = [];
  const basenames: string[] = [];
  for (const f of files) {
    const slash = f.path.lastIndexOf('/');
    const dir = `/${slash < 0 ? '' : `${f.path.slice(0, slash)}/`}`;
    let di = dirIndex.get(dir);
    if (di === undefined) {
      di = dirnames.length;
      dirnames.push(dir);
      dirIndex.set(dir, di);
    }
    dirindexes.push(di);
    basenames.push(f.path.slice(slash + 1));
  }
  const n = files.length;
  const fill = <T>(v: T): T[] => Array.from({ length: n }, () => v);
  return [
    { tag: Tag.FILESIZES, type: RpmType.INT32, value: files.map(fileDataSize) },
    { tag: Tag.FILEMODES, type: RpmType.INT16, value: files.map(fileMode) },
    { tag: Tag.FILERDEVS, type: RpmType.INT16, value: fill(0) },
    { tag: Tag.FILEMTIMES, type: RpmType.INT32, value: fill(mtime) },
    { tag: Tag.FILEDIGESTS, type: RpmType.STRING_ARRAY, value: files.map((f, i) => (f.type === 'file' ? digests[i] : '')) },
    { tag: Tag.FILELINKTOS, type: RpmType.STRING_ARRAY, value: files.map((f) => (f.type === 'symlink' ? f.target : '')) },
    { tag: Tag.FILEFLAGS, type: RpmType.INT32, value: fill(0) },
    { tag: Tag.FILEUSERNAME, type: RpmType.STRING_ARRAY, value: fill('root') },
    { tag: Tag.FILEGROUPNAME, type: RpmType.STRING_ARRAY, value: fill('root') },
    { tag: Tag.FILEVERIFYFLAGS, type: RpmType.INT32, value: fill(0xffffffff) },
    { tag: Tag.FILEDEVICES, type: RpmType.INT32, value: fill(1) },
    { tag: Tag.FILEINODES, type: RpmType.INT32, value: files.map((_, i) => i + 1) },
    { tag: Tag.FILELANGS, type: RpmType.STRING_ARRAY, value: fill('') },
    { tag: Tag.DIRINDEXES, type: RpmType.INT32, value: dirindexes },
    { tag: Tag.BASENAMES, type: RpmType.STRING_ARRAY, value: basenames },
    { tag: Tag.DIRNAMES, type: RpmType.STRING_ARRAY, value: dirnames },
  ];
}
