// A cache of built kernels keyed by their build inputs, shared by the worker
// (`lxl up`, `lxl worker --build-cache`) and the tests (test/support/kernel-cache.ts):
//   <root>/<line>-<arch>-<flavour|custom>-<key>/{meta.json, stage/, vmlinux, build.log}
// The key hashes everything that changes the built bytes (the source tarball's
// identity, the patch series, the Kconfig fragments, arch, flavour). A build is
// made in `<dir>.tmp-<pid>` and renamed into place when done, so an interrupted
// build leaves no entry and is redone by the next run.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildKernel } from './kernel-build.js';
import type { KernelBuildPhase } from './kernel-errors.js';
import { fragmentsFor, type KconfigBase, type KernelBuildArch, type KernelLine } from './kernel-line.js';
import { parseSeries } from './kernel-patches.js';

/** What to build: a flavour of a line, or an explicit config (fragment texts, for test-only kernels). */
export interface BuildCacheRequest {
  line: KernelLine;
  arch: KernelBuildArch;
  /** A flavour of the line (default `minimal`), unless `config` is given. */
  flavour?: string;
  config?: { base: KconfigBase; fragments: Record<string, string> };
  /** Apply the line's patches (default true). */
  patches?: boolean;
}

/** A cached build. */
export interface CachedBuild {
  dir: string;
  krel: string;
  version: string;
  sourceDateEpoch: number;
  /** boot/vmlinuz-<krel>, System.map-<krel>, config-<krel>, lib/modules/<krel>/. */
  stageDir: string;
  vmlinux: string;
  log: string;
  /** True when this call built it, false when it was already cached. */
  built: boolean;
}

/** How to build on a cache miss. */
export interface BuildCacheOptions {
  /** Download cache for URL sources (and the compiler cache). */
  cacheDir: string;
  /** Compile through ccache (builders/kernel-build.ts; default false). Not part of the key: the bytes are the same. */
  ccache?: boolean;
  jobs?: number;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
  onPhase?: (phase: KernelBuildPhase) => void;
}

interface Meta {
  krel: string;
  version: string;
  sourceDateEpoch?: number;
}

/** The inputs key of `req`: 12 hex digits. Not the library's code, so editing it does not force rebuilds (delete the entry after such edits). */
export async function buildCacheKey(req: BuildCacheRequest): Promise<string> {
  const { line } = req;
  const flavour = req.flavour ?? 'minimal';
  const norm = { line: line.line, arch: req.arch, flavour: req.config ? null : flavour, config: req.config ?? null, patches: req.patches !== false };
  const h = createHash('sha256').update(JSON.stringify({ ...norm, localversion: line.localversion, v: 1 }));
  if (line.source.kind === 'tarball') {
    // A local tarball (Debian's linux-source) is replaced by package updates: its size and mtime stand for its bytes.
    const s = await stat(line.source.tarball);
    h.update(`${line.source.tarball} ${s.size} ${s.mtimeMs}`);
  } else h.update(line.source.sha256);
  if (req.patches !== false) {
    h.update(await readFile(line.series));
    for (const e of parseSeries(await readFile(line.series, 'utf8'))) h.update(await readFile(path.join(path.dirname(line.series), e.patch)));
  }
  if (!req.config) for (const f of fragmentsFor(line, req.arch, flavour)) h.update(await readFile(f));
  return h.digest('hex').slice(0, 12);
}

/** The cache folder of `req` under `root` (it may not exist yet). */
export async function buildCacheDir(root: string, req: BuildCacheRequest): Promise<string> {
  const name = req.config ? 'custom' : (req.flavour ?? 'minimal');
  return path.join(root, `${req.line.line}-${req.arch}-${name}-${await buildCacheKey(req)}`);
}

/** The cached build of `req`, or undefined when there is none. */
export async function lookupBuild(root: string, req: BuildCacheRequest): Promise<CachedBuild | undefined> {
  const dir = await buildCacheDir(root, req);
  if (!existsSync(path.join(dir, 'meta.json'))) return undefined;
  return readEntry(dir, false);
}

/** Returns the cached build of `req`, building it first (minutes) on a miss. */
export async function cachedBuild(root: string, req: BuildCacheRequest, opts: BuildCacheOptions): Promise<CachedBuild> {
  const dir = await buildCacheDir(root, req);
  if (existsSync(path.join(dir, 'meta.json'))) return readEntry(dir, false);
  await removeStaleTemps(dir);
  await build(req, dir, opts);
  return readEntry(dir, true);
}

async function readEntry(dir: string, built: boolean): Promise<CachedBuild> {
  const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as Meta;
  const vmlinux = path.join(dir, 'vmlinux');
  let epoch = meta.sourceDateEpoch;
  if (epoch === undefined) {
    // Entries made before the clock was recorded: the kernel banner carries KBUILD_BUILD_TIMESTAMP.
    epoch = await bannerEpoch(vmlinux);
    if (epoch !== undefined) {
      // Recorded for next time; readers see the old file or the new one (a cache may be shared by running tests).
      const tmp = path.join(dir, `meta.json.tmp-${process.pid}`);
      await writeFile(tmp, JSON.stringify({ ...meta, sourceDateEpoch: epoch } satisfies Meta));
      await rename(tmp, path.join(dir, 'meta.json'));
    }
  }
  return { dir, krel: meta.krel, version: meta.version, sourceDateEpoch: epoch ?? 0, stageDir: path.join(dir, 'stage'), vmlinux, log: path.join(dir, 'build.log'), built };
}

/** SOURCE_DATE_EPOCH from the `Linux version … #1 <timestamp>` banner in vmlinux, or undefined. */
async function bannerEpoch(vmlinux: string): Promise<number | undefined> {
  const data = await readFile(vmlinux).catch(() => undefined);
  if (!data) return undefined;
  for (let at = data.indexOf('Linux version '); at >= 0; at = data.indexOf('Linux version ', at + 1)) {
    const banner = data.subarray(at, at + 512).toString('latin1').split(/[\n\0]/)[0];
    const m = /#\d+\S*(?: [A-Z_]+)* (\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d GMT)/.exec(banner);
    const t = m ? Date.parse(m[1]) : NaN;
    if (Number.isFinite(t)) return Math.floor(t / 1000);
  }
  return undefined;
}

/** Removes `<dir>.tmp-<pid>` folders of processes that are gone (builds that were interrupted). */
async function removeStaleTemps(dir: string): Promise<void> {
  const parent = path.dirname(dir);
  const base = `${path.basename(dir)}.tmp-`;
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(base)) continue;
    const pid = Number(name.slice(base.length));
    if (pid > 0 && pid !== process.pid && alive(pid)) continue;
    await rm(path.join(parent, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    return process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function build(req: BuildCacheRequest, dir: string, opts: BuildCacheOptions): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const log = path.join(tmp, 'build.log');
  let config: { base: KconfigBase; fragments: string[] } | undefined;
  if (req.config) {
    const files: string[] = [];
    for (const [name, text] of Object.entries(req.config.fragments)) {
      const f = path.join(tmp, `${name}.config`);
      await writeFile(f, text);
      files.push(f);
    }
    config = { base: req.config.base, fragments: files };
  }
  const started = Date.now();
  let pending = '';
  const flush = async () => {
    const p = pending;
    pending = '';
    if (p) await appendFile(log, p);
  };
  const timer = setInterval(() => void flush(), 2000);
  try {
    const r = await buildKernel({
      line: req.line,
      arch: req.arch,
      flavour: req.flavour ?? 'minimal',
      config,
      patches: req.patches,
      workDir: path.join(tmp, 'work'),
      stageDir: path.join(tmp, 'stage'),
      cacheDir: opts.cacheDir,
      ccache: opts.ccache,
      jobs: opts.jobs,
      signal: opts.signal,
      onLine: (l) => {
        pending += `${l}\n`;
        opts.onLine?.(l);
      },
      onPhase: (p) => {
        pending += `== phase ${p} (${Math.round((Date.now() - started) / 1000)} s)\n`;
        opts.onPhase?.(p);
      },
    });
    await copyFile(r.vmlinux, path.join(tmp, 'vmlinux'));
    await writeFile(path.join(tmp, 'meta.json'), JSON.stringify({ krel: r.krel, version: r.version, sourceDateEpoch: r.sourceDateEpoch } satisfies Meta));
    pending += `== done in ${Math.round((Date.now() - started) / 1000)} s\n`;
    clearInterval(timer);
    await flush();
    await rm(path.join(tmp, 'work'), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    clearInterval(timer);
    await flush();
    // The partial tree is large; the log stays in the temp folder until the next run removes it.
    await rm(path.join(tmp, 'work'), { recursive: true, force: true });
    throw err;
  }
}
