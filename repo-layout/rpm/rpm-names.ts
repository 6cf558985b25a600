// How a Debian-style PackageSpec maps onto rpm names: architectures,
// epoch/version/release and dependency flags.

import { SpecError } from '../errors.js';
import type { Dependency, KernelArch, Relation, RelationOp } from '../model.js';
import { Sense } from './rpm-tags.js';

/** Kernel arch → rpm arch (rpm's rpmrc.in arch_canon: x86_64, i686 for 32-bit PAE kernels, noarch). */
export const RPM_ARCH: Record<KernelArch, string> = { x86_64: 'x86_64', i386: 'i686', all: 'noarch' };

export type RpmProfile = 'modern' | 'el5';

/** An rpm epoch/version/release triple. */
export interface Evr {
  epoch?: number;
  version: string;
  release: string;
}

/** Splits `[epoch:]upstream[-revision]` at the last `-`; the release defaults to "1". */
export function rpmEvr(debVersion: string, opts: { profile?: RpmProfile; field?: string; defaultRelease?: string } = {}): Evr {
  const field = opts.field ?? 'version';
  let rest = debVersion;
  let epoch: number | undefined;
  const m = /^(\d+):(.*)$/.exec(rest);
  if (m) {
    epoch = Number(m[1]);
    rest = m[2];
  }
  const dash = rest.lastIndexOf('-');
  const version = dash < 0 ? rest : rest.slice(0, dash);
  const release = dash < 0 ? (opts.defaultRelease ?? '1') : rest.slice(dash + 1);
  const bad = (rule: string): never => {
    throw new SpecError([{ field, rule: `${rule} (rpm version from ${JSON.stringify(debVersion)})` }]);
  };
  if (version === '' || (release === '' && opts.defaultRelease !== '')) bad('needs a non-empty version and release');
  // rpm rejects '-' in version/release and ':' outside the epoch (build/parsePreamble.c checkForValidVersion).
  for (const [what, s] of [
    ['version', version],
    ['release', release],
  ] as const) {
    if (s === '') continue;
    if (!/^[A-Za-z0-9._+~^]+$/.test(s)) bad(`rpm ${what} ${JSON.stringify(s)} may only use letters, digits and . _ + ~ ^`);
  }
  // rpm 4.4 (EL5) has no '~' ordering: refuse rather than sort wrongly there.
  if (opts.profile === 'el5' && /[~^]/.test(version + release)) bad('the el5 profile cannot use "~" or "^" (rpm 4.4 does not order them)');
  return { epoch, version, release };
}

/** Formats an EVR as rpm writes it in dependencies: `[E:]V[-R]`. */
export function formatEvr(evr: Partial<Evr> & { version: string }): string {
  return `${evr.epoch !== undefined ? `${evr.epoch}:` : ''}${evr.version}${evr.release ? `-${evr.release}` : ''}`;
}

const OP_FLAGS: Record<RelationOp, number> = {
  '<<': Sense.LESS,
  '<=': Sense.LESS | Sense.EQUAL,
  '=': Sense.EQUAL,
  '>=': Sense.GREATER | Sense.EQUAL,
  '>>': Sense.GREATER,
};
const OP_RICH: Record<RelationOp, string> = { '<<': '<', '<=': '<=', '=': '=', '>=': '>=', '>>': '>' };

/** One rpm dependency: name, sense flags and version string ("" when unversioned). */
export interface RpmDep {
  name: string;
  flags: number;
  version: string;
}

function relVersion(r: Relation, field: string): string {
  if (!r.version) return '';
  // A dependency version without a revision stays without a release, so `>= 1.0` matches any release.
  const evr = rpmEvr(r.version, { field, defaultRelease: '' });
  return formatEvr(evr);
}

/** Maps one deb-style dependency; alternatives become a rich `(a or b)` dependency when `rich` is allowed. */
export function rpmDep(dep: Dependency, opts: { field: string; rich: boolean }): RpmDep {
  if (dep.length === 1) {
    const r = dep[0];
    return { name: r.name, flags: r.op ? OP_FLAGS[r.op] : Sense.ANY, version: r.op ? relVersion(r, opts.field) : '' };
  }
  if (!opts.rich) {
    throw new SpecError([{ field: opts.field, rule: 'alternatives ("a | b") need rich dependencies, which the el5 profile (rpm 4.4) and this field do not support' }]);
  }
  const parts = dep.map((r) => (r.op ? `${r.name} ${OP_RICH[r.op]} ${relVersion(r, opts.field)}` : r.name));
  return { name: `(${parts.join(' or ')})`, flags: Sense.ANY, version: '' };
}

/** True when a dependency name is a rich (boolean) dependency. */
export function isRich(name: string): boolean {
  return name.startsWith('(');
}

/** rpmlib() feature requirements (lib/rpmds.c rpmlibProvides), with the versions rpmbuild writes. */
export const RPMLIB = {
  CompressedFileNames: '3.0.4-1',
  PayloadFilesHavePrefix: '4.0-1',
  FileDigests: '4.6.0-1',
  PayloadIsXz: '5.2-1',
  RichDependencies: '4.12.0-1',
  TildeInVersions: '4.10.0-1',
} as const;

/** An rpmlib() requirement entry. */
export function rpmlibDep(feature: keyof typeof RPMLIB): RpmDep {
  return { name: `rpmlib(${feature})`, flags: Sense.RPMLIB | Sense.LESS | Sense.EQUAL, version: RPMLIB[feature] };
}
