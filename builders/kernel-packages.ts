// Turns a staged kernel tree (boot/ + lib/modules/<krel>/) into the packages of
// DESIGN.md §2: the linux-image-<krel> .deb and the linux-xen-legacy meta .deb,
// the kernel-xen-legacy .rpm in the modern and el5 profiles, and the
// linux-xen-legacy-<krel>-<arch> tarballs (.tar.xz and .tar.gz). Specs are
// pure data; writeKernelPackages writes them with the repo-layout writers.

import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import path from 'node:path';
import { hashFile } from '../repo-layout/digests.js';
import { SpecError } from '../repo-layout/errors.js';
import { validatePackageSpec, walkStagedTree, type FileEntry, type PackageSpec } from '../repo-layout/model.js';
import type { PackageFormat, PackOptions } from '../repo-layout/packager.js';
import { packagerFor } from '../repo-layout/packagers.js';
import type { Signer } from '../repo-layout/signing/signer.js';
import { formatEvr, rpmEvr } from '../repo-layout/rpm/rpm-names.js';
import { debKernelScripts, rpmKernelScripts } from './maintainer-scripts.js';
import { discardWriteStream } from '../storage/durable-file.js';

/** What the packages are made of. */
export interface KernelPackageInput {
  /** The staged tree: boot/vmlinuz-<krel>, System.map-<krel>, config-<krel>, lib/modules/<krel>/. */
  stageDir: string;
  /** Kernel release (uname -r), e.g. `6.1.192-xen-legacy`. */
  krel: string;
  arch: 'x86_64' | 'i386';
  /** Package version (Debian syntax; may hold `+` and `~`), e.g. `6.1.192+1~legacy1`. */
  version: string;
  sourceDateEpoch: number;
  maintainer?: string;
}

/** Every spec of one kernel build. */
export interface KernelPackageSpecs {
  image: PackageSpec;
  meta: PackageSpec;
  rpm: PackageSpec;
  rpmEl5: PackageSpec;
  tarball: PackageSpec;
}

/** One written package file. */
export interface BuiltArtifact {
  /** Absolute path. */
  file: string;
  /** The file's base name (what the server stores it as). */
  filename: string;
  format: PackageFormat;
  /** For rpms: the profile it was written for (a repo takes the one matching its own profile). */
  profile?: 'modern' | 'el5';
  sha256: string;
  size: number;
}

const DEFAULT_MAINTAINER = 'lxl <lxl@localhost>';

// Files depmod makes at install time: Debian's and Fedora's kernels do not ship
// them, so dpkg/rpm never see a packaged file change under them. The tarball keeps them.
const DEPMOD_OUTPUT = /^modules\.(?!order$|builtin$|builtin\.modinfo$)/;

/** Builds (and validates) every PackageSpec of one staged kernel. Throws SpecError when the tree lacks the image. */
export async function kernelPackageSpecs(input: KernelPackageInput): Promise<KernelPackageSpecs> {
  const { krel } = input;
  const image = `boot/vmlinuz-${krel}`;
  const st = await stat(path.join(input.stageDir, image)).catch(() => undefined);
  if (!st?.isFile()) throw new SpecError([{ field: 'stageDir', rule: `cannot package kernel ${krel}: ${path.join(input.stageDir, image)} is missing` }]);
  const all = withModulesDir(await walkStagedTree(input.stageDir), krel);
  const packaged = all.filter((f) => !isDepmodOutput(f.path, krel));
  const base = {
    arch: input.arch,
    maintainer: input.maintainer ?? DEFAULT_MAINTAINER,
    homepage: 'https://www.kernel.org/',
    license: 'GPL-2.0-only',
    section: 'kernel',
    priority: 'optional',
    depends: [],
    recommends: [],
    provides: [],
    conflicts: [],
    replaces: [],
    breaks: [],
    obsoletes: [],
    scripts: {},
    sourceDateEpoch: input.sourceDateEpoch,
  } satisfies Partial<PackageSpec>;
  const facts = { krel, imagePath: `/${image}` };
  const about = `Linux ${krel} for Xen guests, patched for legacy guests: console on tty1 and disks named sd*.`;

  const imageSpec = validatePackageSpec({
    ...base,
    name: `linux-image-${krel}`,
    version: input.version,
    summary: `Linux ${krel} for Xen guests (linux-xen-legacy)`,
    description: about,
    depends: [[{ name: 'kmod' }, { name: 'module-init-tools' }]],
    scripts: debKernelScripts(facts),
    files: packaged,
  });
  const meta = validatePackageSpec({
    ...base,
    name: 'linux-xen-legacy',
    version: input.version,
    summary: 'Linux for Xen guests, patched for legacy guests (latest)',
    description: `This package depends on the latest linux-xen-legacy kernel image (${krel}).`,
    section: 'kernel',
    depends: [[{ name: `linux-image-${krel}`, op: '=', version: input.version }]],
    files: [],
  });
  const rpmBase = {
    ...base,
    name: 'kernel-xen-legacy',
    summary: `Linux ${krel} for Xen guests (linux-xen-legacy)`,
    description: about,
    scripts: rpmKernelScripts(facts),
    files: packaged,
  };
  const rpm = validatePackageSpec({ ...rpmBase, version: input.version, provides: rpmProvides(input.version, 'modern') });
  const el5v = el5Version(input.version);
  const rpmEl5 = validatePackageSpec({ ...rpmBase, version: el5v, provides: rpmProvides(el5v, 'el5') });
  const tarball = validatePackageSpec({ ...base, name: 'linux-xen-legacy', version: krel, summary: `Linux ${krel}`, description: about, files: all });
  return { image: imageSpec, meta, rpm, rpmEl5, tarball };
}

/** Options for writing the packages. */
export interface WriteKernelPackagesOptions {
  /** Deb payload compression (the repo's setting; gzip reads everywhere). */
  debCompression?: 'gzip' | 'xz';
  /** Signs the rpms when given. */
  signer?: Signer;
  signal?: AbortSignal;
  /** Called before each package is written. */
  onPackage?: (filename: string, index: number, total: number) => void;
}

/** Writes every package into outDir (deb/, rpm/, rpm-el5/, tarballs/) and returns them with sha256 and size. */
export async function writeKernelPackages(input: KernelPackageInput, outDir: string, opts: WriteKernelPackagesOptions = {}): Promise<BuiltArtifact[]> {
  const specs = await kernelPackageSpecs(input);
  const deb = await packagerFor('deb');
  const rpm = await packagerFor('rpm');
  const tar = await packagerFor('tar');
  const common: PackOptions = { signal: opts.signal };
  const jobs: Array<{ dir: string; spec: PackageSpec; packager: typeof deb; opts: PackOptions; profile?: 'modern' | 'el5' }> = [
    { dir: 'deb', spec: specs.image, packager: deb, opts: { ...common, compression: opts.debCompression ?? 'gzip' } },
    { dir: 'deb', spec: specs.meta, packager: deb, opts: { ...common, compression: opts.debCompression ?? 'gzip' } },
    { dir: 'rpm', spec: specs.rpm, packager: rpm, opts: { ...common, profile: 'modern', signer: opts.signer }, profile: 'modern' },
    { dir: 'rpm-el5', spec: specs.rpmEl5, packager: rpm, opts: { ...common, profile: 'el5', compression: 'gzip', signer: opts.signer }, profile: 'el5' },
    { dir: 'tarballs', spec: specs.tarball, packager: tar, opts: { ...common, compression: 'xz' } },
    { dir: 'tarballs', spec: specs.tarball, packager: tar, opts: { ...common, compression: 'gzip' } },
  ];
  const out: BuiltArtifact[] = [];
  for (const [i, j] of jobs.entries()) {
    const filename = j.packager.fileName(j.spec, j.opts);
    opts.onPackage?.(filename, i, jobs.length);
    const file = path.join(outDir, j.dir, filename);
    await writeOne(file, (s) => j.packager.write(j.spec, s, j.opts));
    const d = await hashFile(file, ['sha256']);
    out.push({ file, filename, format: j.packager.format, profile: j.profile, sha256: d.sha256, size: d.size });
  }
  return out;
}

/** The el5 profile's version: rpm 4.4 has no `~` ordering, so `~` becomes `.` (so there `1~rc1` sorts after `1`; documented). */
export function el5Version(version: string): string {
  return version.replace(/[~^]/g, '.');
}

/** The kernel release a staged tree holds, from its single boot/vmlinuz-<krel>. */
export async function stagedKrel(stageDir: string): Promise<string> {
  const names = (await readdir(path.join(stageDir, 'boot')).catch(() => [] as string[])).filter((n) => n.startsWith('vmlinuz-'));
  if (names.length !== 1) throw new SpecError([{ field: 'stageDir', rule: `cannot tell the kernel release of ${stageDir}: expected one boot/vmlinuz-<krel>, found ${names.length}` }]);
  return names[0].slice('vmlinuz-'.length);
}

// `kernel = V-R` (with the release the rpm writer gives the package) and installonlypkg(kernel), so yum/dnf keep several.
function rpmProvides(version: string, profile: 'modern' | 'el5'): PackageSpec['provides'] {
  return [[{ name: 'kernel', op: '=', version: formatEvr(rpmEvr(version, { profile })) }], [{ name: 'installonlypkg(kernel)' }]];
}

function isDepmodOutput(p: string, krel: string): boolean {
  const dir = `lib/modules/${krel}/`;
  return p.startsWith(dir) && !p.slice(dir.length).includes('/') && DEPMOD_OUTPUT.test(p.slice(dir.length));
}

// A kernel without modules still gets /lib/modules/<krel>/, where depmod writes.
function withModulesDir(files: FileEntry[], krel: string): FileEntry[] {
  const want = ['lib', 'lib/modules', `lib/modules/${krel}`];
  const have = new Set(files.map((f) => f.path));
  return [...files, ...want.filter((p) => !have.has(p)).map((p): FileEntry => ({ type: 'dir', path: p, mode: 0o755 }))];
}

async function writeOne(file: string, write: (out: Writable) => Promise<void>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  let stream: WriteStream | undefined;
  try {
    stream = createWriteStream(tmp);
    await write(stream);
    // The writer ends the stream; wait for the descriptor to close so the bytes are all on disk.
    if (!stream.closed) await once(stream, 'close');
    await rename(tmp, file);
  } catch (err) {
    await discardWriteStream(stream);
    await rm(tmp, { force: true });
    throw err;
  }
}
