// The kernel build library: one job (line + flavour + arch) from source to a
// staged tree (boot/ + lib/modules/<krel>/) ready for the package writers.
// Phases: fetch, unpack, patch, config, compile, install. Builds are
// reproducible: the timestamp, user, host and debug prefix are fixed.
// With `ccache`, compiles go through ccache (its cache in <cacheDir>/ccache):
// a rebuild of the same tree in another folder, or after a patch that touches
// a few files, compiles only what changed, and ccache gives the compiler's own
// bytes, so a build stays reproducible. Off by default: a first build through
// it is slower (measured below).

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { configureKernel } from './kernel-config.js';
import { KernelBuildError, type KernelBuildPhase } from './kernel-errors.js';
import { fragmentsFor, type KconfigBase, type KernelBuildArch, type KernelLine } from './kernel-line.js';
import { applySeries } from './kernel-patches.js';
import { fetchSource, unpackSource } from './kernel-source.js';
import { runTool } from './kernel-tools.js';

/** One build: what to build, where, and how to report. */
export interface KernelBuildRequest {
  line: KernelLine;
  arch: KernelBuildArch;
  /** A flavour of the line; its fragments come from fragmentsFor(). Ignored when `config` is given. */
  flavour?: string;
  /** An explicit base + fragments instead of a flavour (test kernels such as a dom0). */
  config?: { base: KconfigBase; fragments: string[] };
  /** Apply the line's patch series (default true). */
  patches?: boolean;
  /** Scratch folder; its `src/` is wiped and refilled. */
  workDir: string;
  /** Where boot/ and lib/modules/ are staged (wiped first). */
  stageDir: string;
  /** Shared download cache for URL sources; also holds the compiler cache (`ccache/`). */
  cacheDir: string;
  /** Compile through ccache, with its cache in `<cacheDir>/ccache` (default false). */
  ccache?: boolean;
  /** make -j (default: all CPUs). */
  jobs?: number;
  /** Fixed clock; default the mtime of the tree's top Makefile, so one tarball always gives one value. */
  sourceDateEpoch?: number;
  signal?: AbortSignal;
  /** Each line of tool output. */
  onLine?: (line: string) => void;
  /** Called as each phase starts. */
  onPhase?: (phase: KernelBuildPhase) => void;
}

/** What a finished build left behind. */
export interface KernelBuildResult {
  /** Kernel release, e.g. `6.1.192-xen-legacy` (uname -r, the /lib/modules folder). */
  krel: string;
  /** Upstream version from the Makefile, e.g. `6.1.192`. */
  version: string;
  tree: string;
  stageDir: string;
  vmlinux: string;
  bzImage: string;
  config: Map<string, string>;
  patches: string[];
  sourceDateEpoch: number;
}

/** A prepared, configured tree (the config phase done, nothing compiled). */
export interface PreparedTree {
  tree: string;
  env: NodeJS.ProcessEnv;
  config: Map<string, string>;
  patches: string[];
  sourceDateEpoch: number;
}

/** Runs fetch, unpack, patch and config: cheap (about a minute) and enough to check a series or fragments. */
export async function prepareKernelTree(req: KernelBuildRequest): Promise<PreparedTree> {
  const phase = (p: KernelBuildPhase) => req.onPhase?.(p);
  const cfg = req.config ?? (() => {
    if (!req.flavour) throw new KernelBuildError('line', 'cannot pick a configuration: give a flavour or an explicit config');
    return { base: req.line.flavours[req.flavour]?.base ?? 'tinyconfig', fragments: fragmentsFor(req.line, req.arch, req.flavour) };
  })();
  // Asked for and missing: say so before minutes of unpacking.
  const links = req.ccache ? ccacheLinks() : undefined;
  if (req.ccache && !links) throw new KernelBuildError('line', 'cannot compile through ccache: it is not installed (apt-get install ccache), or build without --ccache');
  phase('fetch');
  const tarball = await fetchSource(req.line.source, { cacheDir: req.cacheDir, signal: req.signal });
  phase('unpack');
  await mkdir(req.workDir, { recursive: true });
  const tree = await unpackSource(tarball, req.workDir, req.signal);
  phase('patch');
  const patches = req.patches === false ? [] : await applySeries(req.line.series, tree, { signal: req.signal, onLine: req.onLine });
  const sourceDateEpoch = req.sourceDateEpoch ?? Math.floor((await stat(path.join(tree, 'Makefile'))).mtimeMs / 1000);
  const ccache: CcacheSetup | undefined = links ? { links, dir: path.join(req.cacheDir, 'ccache'), statsLog: path.join(req.workDir, 'ccache-stats.log') } : undefined;
  if (ccache) {
    await rm(ccache.statsLog, { force: true });
    req.onLine?.(`compiling through ccache (${ccache.links}), cache ${ccache.dir}`);
  }
  const env = buildEnv(tree, req.arch, sourceDateEpoch, { ccache });
  phase('config');
  const config = await configureKernel(tree, {
    arch: req.arch,
    base: cfg.base,
    fragments: cfg.fragments,
    localversion: req.line.localversion,
    env,
    signal: req.signal,
    onLine: req.onLine,
  });
  return { tree, env, config, patches, sourceDateEpoch };
}

/** Builds one kernel end to end and stages boot/ and lib/modules/<krel>/ in req.stageDir. */
export async function buildKernel(req: KernelBuildRequest): Promise<KernelBuildResult> {
  const prepared = await prepareKernelTree(req);
  const { tree, env } = prepared;
  const make = (phase: KernelBuildPhase, args: string[], what: string) =>
    runTool(phase, 'make', [`ARCH=${req.arch}`, 'LOCALVERSION=', ...args], { cwd: tree, env, signal: req.signal, onLine: req.onLine, what });
  const withModules = prepared.config.get('CONFIG_MODULES') === 'y';
  req.onPhase?.('compile');
  const jobs = req.jobs ?? availableParallelism();
  await make('compile', [`-j${jobs}`, 'bzImage', ...(withModules ? ['modules'] : [])], 'compile the kernel');
  const statsLog = env.CCACHE_STATSLOG;
  if (statsLog) {
    const t = ccacheTally(await readFile(statsLog, 'utf8').catch(() => ''));
    req.onLine?.(`ccache: ${t.hits} of ${t.hits + t.misses} compiles came from the cache (${env.CCACHE_DIR})`);
  }
  const krel = (await make('install', ['-s', 'kernelrelease'], 'read the kernel release')).output.trim();
  const version = (await make('install', ['-s', 'kernelversion'], 'read the kernel version')).output.trim();
  req.onPhase?.('install');
  await stageKernel(tree, krel, req, withModules, make);
  return {
    krel,
    version,
    tree,
    stageDir: req.stageDir,
    vmlinux: path.join(tree, 'vmlinux'),
    bzImage: path.join(tree, 'arch/x86/boot/bzImage'),
    config: prepared.config,
    patches: prepared.patches,
    sourceDateEpoch: prepared.sourceDateEpoch,
  };
}

/** Where ccache installs its compiler-named links (Debian's /usr/lib/ccache; /usr/lib64/ccache elsewhere). */
export const CCACHE_LINK_DIRS: readonly string[] = ['/usr/lib/ccache', '/usr/lib64/ccache'];

/** Where ccache's compiler-named links are, or undefined when ccache is not installed. */
export function ccacheLinks(): string | undefined {
  return CCACHE_LINK_DIRS.find((d) => existsSync(path.join(d, 'gcc')));
}

/** ccache through its links: the folder of links, the cache, and the file where each compile's outcome is logged. */
export interface CcacheSetup {
  links: string;
  dir: string;
  statsLog: string;
}

/** Compiles answered from the cache and compiled afresh, from a ccache stats log (one `# <source>` record per call). */
export function ccacheTally(statsLog: string): { hits: number; misses: number } {
  let hits = 0;
  let misses = 0;
  for (const record of statsLog.split(/^# /m)) {
    if (/^(direct|preprocessed)_cache_hit$/m.test(record)) hits++;
    else if (/^cache_miss$/m.test(record)) misses++;
  }
  return { hits, misses };
}

/**
 * The reproducible-build environment (Documentation/kbuild/reproducible-builds.rst). With `ccache`, gcc is found in
 * its links folder first; paths under the tree hash as relative ones (CCACHE_BASEDIR), so the same tree unpacked in
 * another folder hits the same entries (tried: every kernel object does; only objtool's own objects, built with -g
 * and absolute paths, miss). Unless the caller's environment says otherwise, ccache runs in depend mode (it takes
 * the includes from the compiler's -MD output instead of running the preprocessor once more) and stores objects
 * uncompressed: kernel/ and mm/ of the minimal config, cold, took 130 s through it against 112 s without (154 s with
 * ccache's defaults), and 36 s once cached, on this project's 2-core machines.
 */
export function buildEnv(tree: string, arch: KernelBuildArch, sourceDateEpoch: number, opts: { ccache?: CcacheSetup } = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ARCH: arch,
    LC_ALL: 'C',
    TZ: 'UTC',
    SOURCE_DATE_EPOCH: String(sourceDateEpoch),
    KBUILD_BUILD_TIMESTAMP: new Date(sourceDateEpoch * 1000).toUTCString(),
    KBUILD_BUILD_USER: 'lxl',
    KBUILD_BUILD_HOST: 'lxl',
    KBUILD_BUILD_VERSION: '1',
    KCFLAGS: `-fdebug-prefix-map=${tree}=.`,
  };
  // A caller's O=/KBUILD_OUTPUT or CROSS_COMPILE would send the build elsewhere.
  delete env.KBUILD_OUTPUT;
  delete env.CROSS_COMPILE;
  delete env.MAKEFLAGS;
  if (opts.ccache) {
    env.PATH = `${opts.ccache.links}${path.delimiter}${env.PATH ?? ''}`;
    env.CCACHE_DIR = opts.ccache.dir;
    env.CCACHE_BASEDIR = tree;
    env.CCACHE_STATSLOG = opts.ccache.statsLog;
    if (env.CCACHE_DEPEND === undefined && env.CCACHE_NODEPEND === undefined) env.CCACHE_DEPEND = '1';
    if (env.CCACHE_COMPRESS === undefined && env.CCACHE_NOCOMPRESS === undefined) env.CCACHE_NOCOMPRESS = '1';
  }
  return env;
}

async function stageKernel(
  tree: string,
  krel: string,
  req: KernelBuildRequest,
  withModules: boolean,
  make: (phase: KernelBuildPhase, args: string[], what: string) => Promise<unknown>,
): Promise<void> {
  const stage = req.stageDir;
  await rm(stage, { recursive: true, force: true });
  await mkdir(path.join(stage, 'boot'), { recursive: true });
  await copyFile(path.join(tree, 'arch/x86/boot/bzImage'), path.join(stage, 'boot', `vmlinuz-${krel}`));
  await copyFile(path.join(tree, 'System.map'), path.join(stage, 'boot', `System.map-${krel}`));
  await copyFile(path.join(tree, '.config'), path.join(stage, 'boot', `config-${krel}`));
  if (withModules) {
    await make('install', ['modules_install', `INSTALL_MOD_PATH=${stage}`, 'INSTALL_MOD_STRIP=1'], 'install the modules');
    // These point into the build tree, which the package does not carry.
    for (const link of ['build', 'source']) await rm(path.join(stage, 'lib/modules', krel, link), { force: true });
  }
}
