// Which package names and arches an lxl repo accepts, per format (DESIGN.md
// §2), and whether a package fits the kernel line it is uploaded for. The
// server refuses anything else at upload time, before it is stored.

import type { PackageKind } from './metadata-store.js';

/** Arch names each format uses for kernel packages (deb: dpkg-architecture; rpm: rpm's arch names; tarball: the kernel's). */
export const ARCHES: Readonly<Record<PackageKind, readonly string[]>> = {
  deb: ['amd64', 'i386', 'all'],
  rpm: ['x86_64', 'i686', 'noarch'],
  tarball: ['x86_64', 'i386'],
};

/** A kernel line such as `6.1` (major.minor). */
export const LINE_RE = /^\d+\.\d+$/;

/** True when a kernel release (`6.1.192-xen-legacy`) or version (`6.1.192-1`) belongs to `line` (`6.1`, not `6.10`). */
export function fitsLine(versionOrKrel: string, line: string): boolean {
  const v = versionOrKrel.replace(/^\d+:/, '');
  return v === line || v.startsWith(`${line}.`) || v.startsWith(`${line}-`) || v.startsWith(`${line}+`) || v.startsWith(`${line}~`);
}

/** What a package name says about its kernel: the krel it carries, or that its version is the kernel version. */
export type NameRule = { krel: string } | { versionIsKernel: true };

const DEB_NAMES: Array<[RegExp, (m: RegExpExecArray) => NameRule]> = [
  [/^linux-(?:image|headers)-(\d+\.\d+[a-z0-9.+~-]*)$/, (m) => ({ krel: m[1] })],
  [/^linux-(?:image|headers)-xen-legacy$/, () => ({ versionIsKernel: true })],
  [/^linux-xen-legacy$/, () => ({ versionIsKernel: true })],
];
const RPM_NAMES: Array<[RegExp, (m: RegExpExecArray) => NameRule]> = [[/^kernel-xen-legacy(?:-devel|-headers|-core|-modules)?$/, () => ({ versionIsKernel: true })]];
/** Tarballs are named `linux-xen-legacy-<krel>-<arch>.tar.{xz,gz}` (DESIGN.md §2). */
export const TARBALL_NAME_RE = /^linux-xen-legacy-(\d+\.\d+[a-z0-9.+~-]*)-(x86_64|i386)\.tar(?:\.(xz|gz))?$/;

/** Why a package does not belong to `line`, or undefined when it does. */
export function lineMismatch(kind: PackageKind, name: string, version: string, line: string): string | undefined {
  if (kind === 'tarball') {
    const m = TARBALL_NAME_RE.exec(name);
    if (!m) return `tarball name ${JSON.stringify(name)} is not linux-xen-legacy-<krel>-<x86_64|i386>.tar.xz or .tar.gz`;
    return fitsLine(m[1], line) ? undefined : `tarball ${name} carries kernel ${m[1]}, which is not in kernel line ${line}`;
  }
  const table = kind === 'deb' ? DEB_NAMES : RPM_NAMES;
  for (const [re, rule] of table) {
    const m = re.exec(name);
    if (!m) continue;
    const r = rule(m);
    if ('krel' in r) return fitsLine(r.krel, line) ? undefined : `package ${name} carries kernel ${r.krel}, which is not in kernel line ${line}`;
    return fitsLine(version, line) ? undefined : `package ${name} has version ${version}, which is not in kernel line ${line}`;
  }
  const expected = kind === 'deb' ? 'linux-image-<krel>, linux-headers-<krel> or linux-xen-legacy' : 'kernel-xen-legacy';
  return `package name ${JSON.stringify(name)} is not a linux-xen-legacy kernel package (expected ${expected})`;
}
