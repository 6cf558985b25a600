// Where a .deb lives in the pool, and the Debian names of our architectures.
// Layout as in Debian's archive (and reprepro/aptly):
// `pool/<component>/<prefix>/<source>/<name>_<version-without-epoch>_<arch>.deb`,
// where the prefix is the source's first letter, or its first four for `lib*`.

import { FormatError } from '../errors.js';
import type { KernelArch } from '../model.js';

/** Debian architecture names of the kernel arches (dpkg's cputable/ostable: x86_64 → amd64). */
export const DEB_ARCH: Readonly<Record<KernelArch, string>> = { x86_64: 'amd64', i386: 'i386', all: 'all' };

/** The binary architectures a suite publishes. `all` packages go into each of them. */
export const BINARY_ARCHES = ['amd64', 'i386'] as const;

/** The pool prefix of a source package: `l` for linux, `libf` for libfoo. */
export function poolPrefix(source: string): string {
  return source.startsWith('lib') && source.length > 3 ? source.slice(0, 4) : source.slice(0, 1);
}

/** The conventional .deb file name: `name_version_arch.deb`, without the epoch (as dpkg-name does). */
export function debFileName(name: string, version: string, arch: string): string {
  const noEpoch = version.replace(/^[0-9]+:/, '');
  return `${name}_${noEpoch}_${arch}.deb`;
}

/** The pool path of a .deb (relative to the repository root). */
export function poolPath(opts: { component: string; source: string; name: string; version: string; arch: string }): string {
  poolName('component', opts.component);
  poolName('source', opts.source);
  poolName('name', opts.name);
  poolName('arch', opts.arch);
  return `pool/${opts.component}/${poolPrefix(opts.source)}/${opts.source}/${debFileName(opts.name, opts.version, opts.arch)}`;
}

/** Throws FormatError unless `v` can be a pool path segment (a Debian package name's characters). */
function poolName(what: string, v: string): void {
  if (!POOL_NAME.test(v)) throw new FormatError(`cannot place a package in the pool: bad ${what} ${JSON.stringify(v)}`);
}

const POOL_NAME = /^[a-z0-9][a-z0-9+.-]*$/;

/** The source package name from a control paragraph's `Source:` (which may carry `(version)`), else the binary name. */
export function sourceName(control: { get(name: string): string | undefined }, name: string): string {
  const src = control.get('Source')?.trim();
  if (!src) return name;
  return src.split(/\s+/)[0];
}
