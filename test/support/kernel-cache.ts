// Kernels for tests, built once per inputs hash with the real build library
// (builders/kernel-build.ts) and cached under $LXL_TEST_CACHE/kernels, so every
// test file (and the builder issue's tests) reuses one build. A cached kernel
// keeps its staged tree (boot/, lib/modules/), vmlinux and the build log.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildKernel } from '../../builders/kernel-build.js';
import { fragmentsFor, loadKernelLine, type KconfigBase, type KernelBuildArch } from '../../builders/kernel-line.js';
import { parseSeries } from '../../builders/kernel-patches.js';
import { CACHE_DIR } from './chroot.js';

export const KERNEL_CACHE = path.join(CACHE_DIR, 'kernels');

/** Which kernel a test needs. */
export interface CachedKernelRequest {
  /** Kernel line (default `6.1`). */
  line?: string;
  arch: KernelBuildArch;
  /** A flavour of the line (default `minimal`), unless `config` is given. */
  flavour?: string;
  /** An explicit configuration: a base target and fragment texts written to files (for test-only kernels). */
  config?: { base: KconfigBase; fragments: Record<string, string> };
  /** Apply the line's patches (default true). */
  patches?: boolean;
}

/** A built kernel in the cache. */
export interface CachedKernel {
  dir: string;
  krel: string;
  version: string;
  /** The staged tree: boot/vmlinuz-<krel>, boot/System.map-<krel>, boot/config-<krel>, lib/modules/<krel>/. */
  stageDir: string;
  bzImage: string;
  vmlinux: string;
  config: string;
  log: string;
}

interface Meta {
  krel: string;
  version: string;
}

/** Why kernel builds cannot run here, or undefined. */
export function kernelBuildUnavailable(): string | undefined {
  if (!existsSync('/usr/src/linux-source-6.1.tar.xz')) return 'linux-source-6.1 is not installed (apt-get install linux-source-6.1, as .ci/run does)';
  for (const t of ['/usr/bin/make', '/usr/bin/gcc', '/usr/bin/bison', '/usr/bin/flex', '/usr/bin/bc', '/usr/bin/patch']) {
    if (!existsSync(t)) return `${t} is missing (install the kernel build dependencies in .ci/apt-packages.txt)`;
  }
  if (!existsSync('/usr/include/libelf.h') || !existsSync('/usr/include/openssl/ssl.h')) return 'libelf-dev or libssl-dev is missing';
  return undefined;
}

/** Returns the cached kernel for `req`, building it first (minutes) when the cache has none. */
export async function cachedKernel(req: CachedKernelRequest): Promise<CachedKernel> {
  const dir = await cachedKernelDir(req);
  if (!existsSync(path.join(dir, 'meta.json'))) await build(req, dir);
  const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as Meta;
  const stageDir = path.join(dir, 'stage');
  return {
    dir,
    ...meta,
    stageDir,
    bzImage: path.join(stageDir, 'boot', `vmlinuz-${meta.krel}`),
    vmlinux: path.join(dir, 'vmlinux'),
    config: path.join(stageDir, 'boot', `config-${meta.krel}`),
    log: path.join(dir, 'build.log'),
  };
}

/** The cache folder of `req` (it may not exist yet). */
export async function cachedKernelDir(req: CachedKernelRequest): Promise<string> {
  const line = await loadKernelLine(req.line ?? '6.1');
  const name = req.config ? 'custom' : (req.flavour ?? 'minimal');
  return path.join(KERNEL_CACHE, `${line.line}-${req.arch}-${name}-${await inputsKey(req)}`);
}

async function build(req: CachedKernelRequest, dir: string): Promise<void> {
  const line = await loadKernelLine(req.line ?? '6.1');
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
      line,
      arch: req.arch,
      flavour: req.flavour ?? 'minimal',
      config,
      patches: req.patches,
      workDir: path.join(tmp, 'work'),
      stageDir: path.join(tmp, 'stage'),
      cacheDir: CACHE_DIR,
      onLine: (l) => {
        pending += `${l}\n`;
      },
      onPhase: (p) => {
        pending += `== phase ${p} (${Math.round((Date.now() - started) / 1000)} s)\n`;
      },
    });
    await copyFile(r.vmlinux, path.join(tmp, 'vmlinux'));
    await writeFile(path.join(tmp, 'meta.json'), JSON.stringify({ krel: r.krel, version: r.version } satisfies Meta));
    pending += `== done in ${Math.round((Date.now() - started) / 1000)} s\n`;
    clearInterval(timer);
    await flush();
    await rm(path.join(tmp, 'work'), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    clearInterval(timer);
    await flush();
    await rm(path.join(tmp, 'work'), { recursive: true, force: true });
    throw err;
  }
}

// Everything that changes the built bytes: the source tarball's identity, the
// patches, the fragments and the request. Not the library's code, so editing
// it does not force rebuilds; delete the cache folder after such edits.
async function inputsKey(req: CachedKernelRequest): Promise<string> {
  const line = await loadKernelLine(req.line ?? '6.1');
  const norm = {
    line: line.line,
    arch: req.arch,
    flavour: req.config ? null : (req.flavour ?? 'minimal'),
    config: req.config ?? null,
    patches: req.patches !== false,
  };
  const h = createHash('sha256').update(JSON.stringify({ ...norm, localversion: line.localversion, v: 1 }));
  if (line.source.kind === 'tarball') {
    const s = await stat(line.source.tarball);
    h.update(`${line.source.tarball} ${s.size} ${s.mtimeMs}`);
  } else h.update(line.source.sha256);
  if (req.patches !== false) {
    h.update(await readFile(line.series));
    for (const e of parseSeries(await readFile(line.series, 'utf8'))) h.update(await readFile(path.join(path.dirname(line.series), e.patch)));
  }
  if (!req.config) for (const f of fragmentsFor(line, req.arch, req.flavour ?? 'minimal')) h.update(await readFile(f));
  return h.digest('hex').slice(0, 12);
}
