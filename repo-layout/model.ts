// The one package model every writer (deb, rpm, tarball) consumes.
// A PackageSpec is fully resolved: scripts are inline text, files are a sorted
// list with modes and sizes, and regular files point at their bytes on disk (or
// carry small inline content). Writers never look at the raw spec JSON.

import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SpecError, type SpecIssue } from './errors.js';

/** Architectures in the kernel's names; each writer maps them to its own (deb amd64, rpm x86_64/i686, ...). */
export const KERNEL_ARCHES = ['x86_64', 'i386', 'all'] as const;
export type KernelArch = (typeof KERNEL_ARCHES)[number];

/** Maintainer script names, shared by every format (rpm maps them to %pre/%post/%preun/%postun). */
export const SCRIPT_NAMES = ['preinst', 'postinst', 'prerm', 'postrm'] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export type RelationOp = '<<' | '<=' | '=' | '>=' | '>>';

/** One package in a relation, for example `kmod (>= 29)`. */
export interface Relation {
  name: string;
  op?: RelationOp;
  version?: string;
}

/** One dependency: a list of alternatives (`a | b` in deb syntax). Most have exactly one. */
export type Dependency = Relation[];

interface EntryBase {
  /** Relative POSIX path without a leading `./` or `/`, for example `boot/vmlinuz-6.1.0`. */
  path: string;
  /** Permission bits (07777 mask); the type bits come from `type`. */
  mode: number;
}

export interface DirEntry extends EntryBase {
  type: 'dir';
}

export interface SymlinkEntry extends EntryBase {
  type: 'symlink';
  target: string;
}

export interface RegularFileEntry extends EntryBase {
  type: 'file';
  size: number;
  /** Absolute path of the bytes on disk; exactly one of source/content is set. */
  source?: string;
  /** Inline bytes for small explicit entries. */
  content?: Buffer;
}

export type FileEntry = DirEntry | SymlinkEntry | RegularFileEntry;

/** A fully resolved, validated package. Owner is always root:root; mtimes are `sourceDateEpoch`. */
export interface PackageSpec {
  name: string;
  /** Debian-style version: `[epoch:]upstream[-revision]`; may contain `+` and `~`. */
  version: string;
  arch: KernelArch;
  maintainer: string;
  summary: string;
  description: string;
  homepage?: string;
  license: string;
  section: string;
  priority: string;
  depends: Dependency[];
  recommends: Dependency[];
  provides: Dependency[];
  conflicts: Dependency[];
  replaces: Dependency[];
  breaks: Dependency[];
  obsoletes: Dependency[];
  scripts: Partial<Record<ScriptName, string>>;
  /** Sorted by path (byte order), parents before children, no duplicates. */
  files: FileEntry[];
  /** Seconds since the epoch; every mtime in every archive is clamped to this. */
  sourceDateEpoch: number;
}

// Debian policy §5.6.1 (Package) and §5.6.12 (Version).
const NAME_RE = /^[a-z0-9][a-z0-9+.-]+$/;
const VERSION_RE = /^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$/;
const REL_RE = /^([a-z0-9][a-z0-9+.:()-]*?)(?::[a-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^\s)]+)\s*\))?$/i;

/** Parses one deb-syntax dependency such as `kmod (>= 29) | busybox`; throws SpecError naming `field`. */
export function parseDependency(text: string, field: string): Dependency {
  return text.split('|').map((alt) => {
    const m = REL_RE.exec(alt.trim());
    if (!m) throw new SpecError([{ field, rule: `is not a valid relation: ${JSON.stringify(alt.trim())}` }]);
    const [, name, rawOp, version] = m;
    if (!rawOp) return { name };
    // Old dpkg accepted bare < and > meaning <= and >=; normalise to the unambiguous forms.
    const op = (rawOp === '<' ? '<=' : rawOp === '>' ? '>=' : rawOp) as RelationOp;
    return { name, op, version };
  });
}

/** Formats a dependency back into deb syntax. */
export function formatDependency(dep: Dependency): string {
  return dep.map((r) => (r.op ? `${r.name} (${r.op} ${r.version})` : r.name)).join(' | ');
}

/** Checks a relative archive path: no absolute path, no `..`, no empty or `.` segments, no NUL. */
export function checkRelativePath(p: string): string | undefined {
  if (p.length === 0) return 'must not be empty';
  if (p.startsWith('/')) return `must be relative (got ${JSON.stringify(p)})`;
  if (p.includes('\0')) return 'must not contain NUL';
  const segs = p.split('/');
  if (segs.includes('..')) return `must not contain ".." (got ${JSON.stringify(p)})`;
  if (segs.some((s) => s === '' || s === '.')) return `must not contain empty or "." segments (got ${JSON.stringify(p)})`;
  return undefined;
}

const modeSchema = z.union([z.number().int().min(0).max(0o7777), z.string().regex(/^0?[0-7]{3,4}$/, 'must be an octal mode such as "0644"')]);

const explicitFileSchema = z.object({
  path: z.string(),
  type: z.enum(['file', 'dir', 'symlink']).default('file'),
  mode: modeSchema.optional(),
  source: z.string().optional(),
  content: z.string().optional(),
  target: z.string().optional(),
});

/** The JSON shape of a spec file (`lxl pack --spec`). Paths are relative to the spec file. */
export const specFileSchema = z.object({
  name: z.string({ error: 'is required' }),
  version: z.string({ error: 'is required' }),
  arch: z.enum(KERNEL_ARCHES, { error: `must be one of ${KERNEL_ARCHES.join(', ')}` }),
  maintainer: z.string({ error: 'is required' }),
  summary: z.string({ error: 'is required' }),
  description: z.string().default(''),
  homepage: z.string().optional(),
  license: z.string().default('GPL-2.0-only'),
  section: z.string().default('kernel'),
  priority: z.string().default('optional'),
  depends: z.array(z.string()).default([]),
  recommends: z.array(z.string()).default([]),
  provides: z.array(z.string()).default([]),
  conflicts: z.array(z.string()).default([]),
  replaces: z.array(z.string()).default([]),
  breaks: z.array(z.string()).default([]),
  obsoletes: z.array(z.string()).default([]),
  scripts: z.partialRecord(z.enum(SCRIPT_NAMES), z.string()).default({}),
  root: z.string().optional(),
  files: z.array(explicitFileSchema).default([]),
  sourceDateEpoch: z.number().int().nonnegative().optional(),
});
export type SpecFile = z.input<typeof specFileSchema>;

/** Options for resolving a spec: where relative paths start, and the clamp time if the spec has none. */
export interface ResolveOptions {
  baseDir: string;
  /** Fallback when the spec has no sourceDateEpoch: $SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number;
}

/** Reads and resolves a spec JSON file into a validated PackageSpec. Throws SpecError listing every broken rule. */
export async function loadSpecFile(specPath: string, opts: Partial<ResolveOptions> = {}): Promise<PackageSpec> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(specPath, 'utf8'));
  } catch (err) {
    throw new SpecError([{ field: 'spec', rule: `cannot read ${specPath} as JSON: ${(err as Error).message}` }], { cause: err });
  }
  return resolveSpec(raw, { baseDir: path.dirname(path.resolve(specPath)), ...opts });
}

/** Validates raw spec data (the JSON shape) and resolves files and scripts from disk. */
export async function resolveSpec(raw: unknown, opts: ResolveOptions): Promise<PackageSpec> {
  const parsed = specFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SpecError(parsed.error.issues.map((i) => ({ field: i.path.join('.') || 'spec', rule: i.message })));
  }
  const s = parsed.data;
  const issues: SpecIssue[] = [];
  checkIdentity(s, issues);

  const deps = (field: string, list: string[]): Dependency[] =>
    list.flatMap((text, i) => {
      try {
        return [parseDependency(text, `${field}[${i}]`)];
      } catch (err) {
        if (err instanceof SpecError) issues.push(...err.issues);
        return [];
      }
    });

  const scripts: Partial<Record<ScriptName, string>> = {};
  for (const [name, rel] of Object.entries(s.scripts) as [ScriptName, string][]) {
    const abs = path.resolve(opts.baseDir, rel);
    try {
      scripts[name] = await readFile(abs, 'utf8');
    } catch {
      issues.push({ field: `scripts.${name}`, rule: `file not found: ${abs}` });
    }
  }

  const files = await collectFiles(s, opts.baseDir, issues);
  const epoch = s.sourceDateEpoch ?? opts.sourceDateEpoch ?? envSourceDateEpoch() ?? 0;
  const spec: PackageSpec = {
    name: s.name,
    version: s.version,
    arch: s.arch,
    maintainer: s.maintainer,
    summary: s.summary,
    description: s.description,
    homepage: s.homepage,
    license: s.license,
    section: s.section,
    priority: s.priority,
    depends: deps('depends', s.depends),
    recommends: deps('recommends', s.recommends),
    provides: deps('provides', s.provides),
    conflicts: deps('conflicts', s.conflicts),
    replaces: deps('replaces', s.replaces),
    breaks: deps('breaks', s.breaks),
    obsoletes: deps('obsoletes', s.obsoletes),
    scripts,
    files,
    sourceDateEpoch: epoch,
  };
  if (issues.length > 0) throw new SpecError(issues);
  return spec;
}

/** Validates an already-built PackageSpec (for specs made in code, e.g. by the builder). */
export function validatePackageSpec(spec: PackageSpec): PackageSpec {
  const issues: SpecIssue[] = [];
  checkIdentity(spec, issues);
  const seen = new Set<string>();
  spec.files.forEach((f, i) => {
    const bad = checkRelativePath(f.path);
    if (bad) issues.push({ field: `files[${i}].path`, rule: bad });
    if (seen.has(f.path)) issues.push({ field: `files[${i}].path`, rule: `duplicate path ${JSON.stringify(f.path)}` });
    seen.add(f.path);
  });
  if (issues.length > 0) throw new SpecError(issues);
  return { ...spec, files: sortEntries(spec.files) };
}

function checkIdentity(s: { name: string; version: string; maintainer: string; summary: string }, issues: SpecIssue[]): void {
  if (s.name.length === 0) issues.push({ field: 'name', rule: 'is required' });
  else if (!NAME_RE.test(s.name)) issues.push({ field: 'name', rule: 'must be lowercase letters, digits, "+", "-", "." (at least 2 characters, starting alphanumeric)' });
  if (s.version.length === 0) issues.push({ field: 'version', rule: 'is required' });
  else if (/\s/.test(s.version)) issues.push({ field: 'version', rule: 'must not contain spaces' });
  else if (!VERSION_RE.test(s.version)) issues.push({ field: 'version', rule: 'must start with a digit and use only letters, digits and . + ~ - :' });
  if (s.maintainer.trim().length === 0) issues.push({ field: 'maintainer', rule: 'is required' });
  if (s.summary.trim().length === 0) issues.push({ field: 'summary', rule: 'is required' });
  else if (s.summary.includes('\n')) issues.push({ field: 'summary', rule: 'must be one line' });
}

function envSourceDateEpoch(): number | undefined {
  const v = process.env.SOURCE_DATE_EPOCH;
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

async function collectFiles(s: z.output<typeof specFileSchema>, baseDir: string, issues: SpecIssue[]): Promise<FileEntry[]> {
  const byPath = new Map<string, FileEntry>();
  if (s.root !== undefined) {
    const root = path.resolve(baseDir, s.root);
    try {
      for (const e of await walkStagedTree(root)) byPath.set(e.path, e);
    } catch (err) {
      issues.push({ field: 'root', rule: `cannot read staged tree ${root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
  }
  for (const [i, f] of s.files.entries()) {
    const field = `files[${i}]`;
    const bad = checkRelativePath(f.path.replace(/^\.\//, ''));
    if (bad) {
      issues.push({ field: `${field}.path`, rule: bad });
      continue;
    }
    const rel = f.path.replace(/^\.\//, '');
    const mode = f.mode === undefined ? undefined : typeof f.mode === 'number' ? f.mode : parseInt(f.mode, 8);
    if (f.type === 'dir') byPath.set(rel, { type: 'dir', path: rel, mode: mode ?? 0o755 });
    else if (f.type === 'symlink') {
      if (!f.target) issues.push({ field: `${field}.target`, rule: 'is required for a symlink' });
      else byPath.set(rel, { type: 'symlink', path: rel, mode: 0o777, target: f.target });
    } else if (f.content !== undefined) {
      const content = Buffer.from(f.content, 'utf8');
      byPath.set(rel, { type: 'file', path: rel, mode: mode ?? 0o644, size: content.length, content });
    } else if (f.source !== undefined) {
      const abs = path.resolve(baseDir, f.source);
      try {
        const st = await lstat(abs);
        if (!st.isFile()) issues.push({ field: `${field}.source`, rule: `not a regular file: ${abs}` });
        else byPath.set(rel, { type: 'file', path: rel, mode: mode ?? st.mode & 0o7777, size: st.size, source: abs });
      } catch {
        issues.push({ field: `${field}.source`, rule: `file not found: ${abs}` });
      }
    } else issues.push({ field: field, rule: 'a file needs "source" or "content"' });
  }
  addParentDirs(byPath);
  return sortEntries([...byPath.values()]);
}

/** Lists a staged directory tree (not following symlinks), sorted, with modes and sizes. */
export async function walkStagedTree(root: string): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(abs);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.push({ type: 'dir', path: r, mode });
        await walk(abs, r);
      } else if (st.isSymbolicLink()) out.push({ type: 'symlink', path: r, mode: 0o777, target: await readlink(abs) });
      else if (st.isFile()) out.push({ type: 'file', path: r, mode, size: st.size, source: abs });
      else throw new SpecError([{ field: 'root', rule: `unsupported file type (device, fifo or socket): ${abs}` }]);
    }
  };
  await walk(root, '');
  return out;
}

function addParentDirs(byPath: Map<string, FileEntry>): void {
  for (const p of [...byPath.keys()]) {
    const segs = p.split('/');
    for (let i = 1; i < segs.length; i++) {
      const dir = segs.slice(0, i).join('/');
      if (!byPath.has(dir)) byPath.set(dir, { type: 'dir', path: dir, mode: 0o755 });
    }
  }
}

/** Sorts entries by path bytes so every archive lists them in one stable order (parents sort before children). */
export function sortEntries(entries: FileEntry[]): FileEntry[] {
  return [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** Total size in bytes of the regular files (used for Installed-Size and rpm SIZE). */
export function payloadBytes(spec: PackageSpec): number {
  return spec.files.reduce((n, f) => n + (f.type === 'file' ? f.size : 0), 0);
}
