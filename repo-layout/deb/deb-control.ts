// Pure encoders for the control member of a .deb: the control paragraph (in
// dpkg's field order), md5sums, conffiles, Installed-Size and the arch table.

import { formatDescription, Paragraph } from '../deb822.js';
import type { Dependency, KernelArch, PackageSpec } from '../model.js';
import { formatDependency, SCRIPT_NAMES } from '../model.js';

/**
 * The most bytes a control.tar member may have, packed or unpacked (both readers hold it to this). It holds the control
 * file, the maintainer scripts and md5sums: a kernel package's is ~100 KB packed, ~1 MB unpacked. The cap keeps a
 * broken or hostile .deb from making a reader allocate what its headers claim, or unpack a bomb.
 */
export const MAX_CONTROL_TAR_BYTES = 64 * 1024 * 1024;

// Kernel arch names → Debian architectures (dpkg's data/cputable and ostable:
// x86_64 is "amd64", i386 stays "i386"; "all" is arch-independent, deb-control(5)).
const DEB_ARCH: Record<KernelArch, string> = { x86_64: 'amd64', i386: 'i386', all: 'all' };

/** The Debian architecture name for a kernel arch name. */
export function debArch(arch: KernelArch): string {
  return DEB_ARCH[arch];
}

/** The version as it appears in a .deb file name: without the epoch (dpkg-name, Debian archive convention). */
export function debFileVersion(version: string): string {
  return version.replace(/^[0-9]+:/, '');
}

// Relationship fields in dpkg's dep_order (Dpkg::Control::FieldsCore): Pre-Depends,
// Depends, Recommends, Suggests, Enhances, Conflicts, Breaks, Replaces, Provides.
const RELATION_FIELDS: Array<[string, keyof PackageSpec]> = [
  ['Depends', 'depends'],
  ['Recommends', 'recommends'],
  ['Conflicts', 'conflicts'],
  ['Breaks', 'breaks'],
  ['Replaces', 'replaces'],
  ['Provides', 'provides'],
];

/** The control paragraph, fields in dpkg's CTRL_PKG_DEB order (Package … Installed-Size, relations, Section … Description). */
export function debControl(spec: PackageSpec, installedSizeKiB: number): Paragraph {
  const p = new Paragraph([
    ['Package', spec.name],
    ['Version', spec.version],
    ['Architecture', debArch(spec.arch)],
    ['Maintainer', spec.maintainer],
    ['Installed-Size', String(installedSizeKiB)],
  ]);
  for (const [field, key] of RELATION_FIELDS) {
    const deps = spec[key] as Dependency[];
    if (deps.length > 0) p.set(field, deps.map(formatDependency).join(', '));
  }
  p.set('Section', spec.section);
  p.set('Priority', spec.priority);
  if (spec.homepage) p.set('Homepage', spec.homepage);
  p.set('Description', formatDescription(spec.summary, spec.description));
  return p;
}

/**
 * Installed-Size in KiB by dpkg-gencontrol's rule: each regular file and symlink
 * adds ceil(size/1024) (a symlink's size is its target's length), each directory
 * adds 1, counting the package root and the DEBIAN directory, plus the maintainer
 * scripts and conffiles that debhelper places there before dpkg-gencontrol runs.
 * This reproduces Debian's published values (hello 2.10-3: 277; linux-image-6.1.0-56-cloud-amd64: 105548).
 */
export function installedSizeKiB(spec: PackageSpec): number {
  const kib = (bytes: number): number => Math.ceil(bytes / 1024);
  let total = 1; // the package root
  for (const f of spec.files) {
    if (f.type === 'file') total += kib(f.size);
    else if (f.type === 'symlink') total += kib(Buffer.byteLength(f.target));
    else total += 1;
  }
  const meta = [...SCRIPT_NAMES.flatMap((n) => (spec.scripts[n] === undefined ? [] : [spec.scripts[n]!])), debConffiles(spec)].filter((t) => t !== '');
  total += 1 + meta.reduce((n, t) => n + kib(Buffer.byteLength(t)), 0); // DEBIAN/ always exists then
  return total;
}

/** The md5sums member: `<md5>  <path>` per regular file, paths without `./`, in archive order. */
export function debMd5sums(spec: PackageSpec, md5s: ReadonlyMap<string, string>): string {
  return spec.files
    .filter((f) => f.type === 'file')
    .map((f) => `${md5s.get(f.path)}  ${f.path}\n`)
    .join('');
}

/** The conffiles member: every regular file under etc/ as an absolute path (empty when none). */
export function debConffiles(spec: PackageSpec): string {
  return spec.files
    .filter((f) => f.type === 'file' && f.path.startsWith('etc/'))
    .map((f) => `/${f.path}\n`)
    .join('');
}
