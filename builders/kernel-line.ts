// Kernel line definitions (kernel/<line>/line.json): where the source comes
// from, the patch series, the LOCALVERSION and the Kconfig fragments of each
// arch and flavour. Paths in the file are relative to the file's folder and
// come back absolute.

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KernelBuildError } from './kernel-errors.js';

/** Architectures a line can build, in the kernel's own names (ARCH=). */
export const KERNEL_BUILD_ARCHES = ['x86_64', 'i386'] as const;
export type KernelBuildArch = (typeof KERNEL_BUILD_ARCHES)[number];

/** Kconfig targets a flavour can start from before its fragments are merged. */
export const KCONFIG_BASES = ['tinyconfig', 'allnoconfig', 'defconfig'] as const;
export type KconfigBase = (typeof KCONFIG_BASES)[number];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

const sourceSchema = z.union([
  z.strictObject({
    /** A tarball on this machine, e.g. /usr/src/linux-source-6.1.tar.xz from Debian's linux-source-6.1. */
    tarball: z.string().min(1),
    /** Optional: refuse a tarball with other bytes. Debian updates replace the file, so it is often left out. */
    sha256: sha256.optional(),
    /** The Debian package that installs the tarball, named in the error when it is missing. */
    debianPackage: z.string().optional(),
  }),
  z.strictObject({
    url: z.url(),
    sha256,
    /** Detached PGP signature URL (kernel.org signs the uncompressed .tar). */
    signatureUrl: z.url().optional(),
    /** Keyring (relative to line.json) gpgv checks the signature with; required with signatureUrl. */
    keyring: z.string().optional(),
    /** What the signature covers: the downloaded file, or the tar inside its compression. */
    signedContent: z.enum(['file', 'uncompressed']).default('file'),
  }),
]);

const fragmentList = z.array(z.string().min(1)).default([]);

const lineSchema = z.strictObject({
  line: z.string().regex(/^\d+\.\d+$/),
  description: z.string().optional(),
  localversion: z.string().regex(/^-[A-Za-z0-9.+_-]+$/),
  source: sourceSchema,
  series: z.string().min(1),
  /** Fragments every build of the line gets (the legacy options). */
  common: fragmentList,
  /** Per arch: fragments for every flavour, and optionally more for one flavour (options only that arch has). */
  arches: z.partialRecord(z.enum(KERNEL_BUILD_ARCHES), z.strictObject({ fragments: fragmentList, flavours: z.record(z.string(), fragmentList).optional() })),
  flavours: z.record(
    z.string().regex(/^[a-z][a-z0-9-]*$/),
    z.strictObject({ description: z.string().optional(), base: z.enum(KCONFIG_BASES), fragments: fragmentList }),
  ),
});

export type KernelSource =
  | { kind: 'tarball'; tarball: string; sha256?: string; debianPackage?: string }
  | { kind: 'url'; url: string; sha256: string; signatureUrl?: string; keyring?: string; signedContent: 'file' | 'uncompressed' };

/** A loaded line with absolute paths. */
export interface KernelLine {
  line: string;
  dir: string;
  localversion: string;
  source: KernelSource;
  /** Absolute path of the quilt-style series file; patches sit next to it. */
  series: string;
  common: string[];
  arches: Partial<Record<KernelBuildArch, { fragments: string[]; flavours?: Record<string, string[]> }>>;
  flavours: Record<string, { description?: string; base: KconfigBase; fragments: string[] }>;
}

/** The repository's kernel/ folder (line definitions shipped with lxl). */
export const KERNEL_LINES_DIR = fileURLToPath(new URL('../kernel/', import.meta.url));

/** The names of the lines defined in `dir` (its subfolders holding a line.json), sorted. */
export async function kernelLineNames(dir: string = KERNEL_LINES_DIR): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
    throw new KernelBuildError('line', `cannot list kernel lines in ${dir}: ${(err as Error).message}`, { cause: err });
  });
  const names = await Promise.all(entries.filter((e) => e.isDirectory()).map(async (e) => ((await stat(path.join(dir, e.name, 'line.json')).catch(() => undefined))?.isFile() ? e.name : undefined)));
  return names.filter((n): n is string => n !== undefined).sort();
}

/** Loads and validates `kernel/<line>/line.json` (pass a line name, a folder or the file); fragment files must exist. */
export async function loadKernelLine(ref: string): Promise<KernelLine> {
  const file = await resolveLineFile(ref);
  const dir = path.dirname(file);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new KernelBuildError('line', `cannot read kernel line ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = lineSchema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new KernelBuildError('line', `invalid kernel line ${file}: ${why}`);
  }
  const d = parsed.data;
  const abs = (p: string) => path.resolve(dir, p);
  const source: KernelSource =
    'tarball' in d.source
      ? { kind: 'tarball', ...d.source, tarball: abs(d.source.tarball) }
      : { kind: 'url', ...d.source, keyring: d.source.keyring && abs(d.source.keyring) };
  if (source.kind === 'url' && source.signatureUrl && !source.keyring) {
    throw new KernelBuildError('line', `invalid kernel line ${file}: source.signatureUrl needs source.keyring`);
  }
  const line: KernelLine = {
    line: d.line,
    dir,
    localversion: d.localversion,
    source,
    series: abs(d.series),
    common: d.common.map(abs),
    arches: Object.fromEntries(
      Object.entries(d.arches).map(([a, v]) => [a, { fragments: v!.fragments.map(abs), ...(v!.flavours && { flavours: Object.fromEntries(Object.entries(v!.flavours).map(([n, l]) => [n, l.map(abs)])) }) }]),
    ),
    flavours: Object.fromEntries(
      Object.entries(d.flavours).map(([n, f]) => [n, { ...f, fragments: f.fragments.map(abs) }]),
    ),
  };
  for (const f of [line.series, ...line.common, ...Object.values(line.arches).flatMap((a) => [...a!.fragments, ...Object.values(a!.flavours ?? {}).flat()]), ...Object.values(line.flavours).flatMap((f) => f.fragments)]) {
    await stat(f).catch((err) => {
      throw new KernelBuildError('line', `invalid kernel line ${file}: ${f} does not exist`, { cause: err });
    });
  }
  return line;
}

/** The fragments of one build, in merge order (later wins): arch base, flavour, the arch's own for that flavour, common (legacy options last). */
export function fragmentsFor(line: KernelLine, arch: KernelBuildArch, flavour: string): string[] {
  const a = line.arches[arch];
  if (!a) throw new KernelBuildError('line', `cannot build line ${line.line} for ${arch}: the line has no such arch (has ${Object.keys(line.arches).join(', ')})`);
  const f = line.flavours[flavour];
  if (!f) throw new KernelBuildError('line', `cannot build flavour ${flavour} of line ${line.line}: known flavours are ${Object.keys(line.flavours).join(', ')}`);
  return [...a.fragments, ...f.fragments, ...(a.flavours?.[flavour] ?? []), ...line.common];
}

async function resolveLineFile(ref: string): Promise<string> {
  const candidates = ref.endsWith('.json') ? [ref] : [path.join(ref, 'line.json'), path.join(KERNEL_LINES_DIR, ref, 'line.json')];
  for (const c of candidates) {
    const s = await stat(c).catch(() => undefined);
    if (s?.isFile()) return path.resolve(c);
  }
  throw new KernelBuildError('line', `cannot find kernel line ${ref}: looked for ${candidates.join(', ')}`);
}
