// Kernels for tests, built once per inputs hash with the real build library
// and cached under $LXL_TEST_CACHE/kernels by the builders' own build cache
// (builders/build-cache.ts: same key, same layout), so every test file reuses
// one build, and `lxl up`/`lxl worker` pointed at this folder with
// LXL_BUILD_CACHE reuse it too. A cached kernel keeps its staged tree
// (boot/, lib/modules/), vmlinux and the build log.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildCacheDir, cachedBuild, type BuildCacheRequest } from '../../builders/build-cache.js';
import { ccacheLinks } from '../../builders/kernel-build.js';
import { loadKernelLine, type KconfigBase, type KernelBuildArch } from '../../builders/kernel-line.js';
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
  // Through ccache when it is installed (.ci/run installs it), so that a test which builds the same kernel again from
  // source (the worker's full pipeline) takes the objects instead of compiling them twice.
  const b = await cachedBuild(KERNEL_CACHE, await cacheRequest(req), { cacheDir: CACHE_DIR, ccache: ccacheLinks() !== undefined });
  return {
    dir: b.dir,
    krel: b.krel,
    version: b.version,
    stageDir: b.stageDir,
    bzImage: path.join(b.stageDir, 'boot', `vmlinuz-${b.krel}`),
    vmlinux: b.vmlinux,
    config: path.join(b.stageDir, 'boot', `config-${b.krel}`),
    log: b.log,
  };
}

/** The cache folder of `req` (it may not exist yet). */
export async function cachedKernelDir(req: CachedKernelRequest): Promise<string> {
  return buildCacheDir(KERNEL_CACHE, await cacheRequest(req));
}

async function cacheRequest(req: CachedKernelRequest): Promise<BuildCacheRequest> {
  return { line: await loadKernelLine(req.line ?? '6.1'), arch: req.arch, flavour: req.flavour ?? 'minimal', config: req.config, patches: req.patches };
}
