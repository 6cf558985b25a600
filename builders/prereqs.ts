// Build prerequisites of the kernel build library: the Debian packages a
// worker needs (the kernel-build section of .ci/apt-packages.txt) and the kernel
// line's source package (linux-source-6.1). Each package is probed by a file it
// installs, so the check is fast and needs no dpkg database; missing ones are
// named with the exact apt-get command, which `lxl up --install-prereqs` runs.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ConfigError } from '../repo-layout/errors.js';
import { CCACHE_LINK_DIRS } from './kernel-build.js';
import type { KernelLine } from './kernel-line.js';

/** A Debian package and the files that show it is installed (any one of them). */
export interface Prereq {
  package: string;
  probes: string[];
  why: string;
}

const bin = (name: string): string[] => [`/usr/bin/${name}`, `/bin/${name}`];

/** What every kernel build needs, besides the line's source (kept in step with .ci/apt-packages.txt). */
export const BUILD_PREREQS: readonly Prereq[] = [
  { package: 'build-essential', probes: ['/usr/share/build-essential/essential-packages-list'], why: 'gcc, make and libc headers' },
  { package: 'bc', probes: bin('bc'), why: 'kernel build scripts' },
  { package: 'bison', probes: bin('bison'), why: 'Kconfig parser' },
  { package: 'flex', probes: bin('flex'), why: 'Kconfig lexer' },
  { package: 'libelf-dev', probes: ['/usr/include/libelf.h'], why: 'objtool' },
  { package: 'libssl-dev', probes: ['/usr/include/openssl/ssl.h'], why: 'module signing tools' },
  { package: 'cpio', probes: bin('cpio'), why: 'kernel headers archive' },
  { package: 'kmod', probes: [...bin('kmod'), '/sbin/depmod', '/usr/sbin/depmod'], why: 'depmod at modules_install' },
  { package: 'patch', probes: bin('patch'), why: 'the legacy patch series' },
  { package: 'perl', probes: bin('perl'), why: 'kernel build scripts' },
  { package: 'xz-utils', probes: bin('xz'), why: 'unpacking the source, xz packages' },
];

/** ccache, for builds that compile through it (`--ccache`): probed by the gcc link the build puts first on PATH. */
export const CCACHE_PREREQ: Prereq = { package: 'ccache', probes: CCACHE_LINK_DIRS.map((d) => `${d}/gcc`), why: 'compiler cache (--ccache)' };

/** What prereqsFor adds besides the lines' own needs. */
export interface PrereqOptions {
  /** The builds compile through ccache. */
  ccache?: boolean;
}

/**
 * The prerequisites of building `lines`: BUILD_PREREQS, ccache when asked for, and each line's source package when
 * the source is a local tarball.
 */
export function prereqsFor(lines: readonly KernelLine[], opts: PrereqOptions = {}): Prereq[] {
  const out = [...BUILD_PREREQS];
  if (opts.ccache) out.push(CCACHE_PREREQ);
  for (const p of lineSourcePrereqs(lines)) if (!out.some((q) => q.package === p.package)) out.push(p);
  return out;
}

/** The Debian packages that hold the lines' sources (a line whose source is a local tarball from a package), one per package. */
export function lineSourcePrereqs(lines: readonly KernelLine[]): Prereq[] {
  const out: Prereq[] = [];
  for (const l of lines) {
    if (l.source.kind !== 'tarball' || !l.source.debianPackage) continue;
    const pkg = l.source.debianPackage;
    if (!out.some((p) => p.package === pkg)) out.push({ package: pkg, probes: [l.source.tarball], why: `the ${l.line} kernel source` });
  }
  return out;
}

/** The prerequisites that are not installed. `exists` is for tests. */
export function missingPrereqs(prereqs: readonly Prereq[], exists: (file: string) => boolean = existsSync): Prereq[] {
  return prereqs.filter((p) => !p.probes.some((f) => exists(f)));
}

/** The exact command that installs `missing` on Debian (with sudo unless running as root). */
export function installCommand(missing: readonly Prereq[], root = process.getuid?.() === 0): string {
  const sudo = root ? '' : 'sudo ';
  const names = [...new Set(missing.map((p) => p.package))].join(' ');
  return `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${names}`;
}

/** A multi-line message naming what is missing and how to install it. */
export function describeMissing(missing: readonly Prereq[]): string {
  return [
    `cannot build kernels: ${missing.length} Debian package${missing.length === 1 ? ' is' : 's are'} missing:`,
    ...missing.map((p) => `  ${p.package.padEnd(18)} (${p.why})`),
    'Install them with:',
    `  ${installCommand(missing)}`,
    'or run again with --install-prereqs (as root).',
  ].join('\n');
}

/** How ensurePrereqs acts. */
export interface EnsurePrereqsOptions {
  /** apt-get install what is missing (root), then check again (`--install-prereqs`). */
  install?: boolean;
  /** Progress lines. */
  say?: (msg: string) => void;
  /** For tests: whether a probe file exists, and what installs the missing packages. */
  exists?: (file: string) => boolean;
  installer?: (missing: readonly Prereq[]) => Promise<void>;
}

/**
 * Checks `needed` before any build starts (`lxl up`, `lxl worker`): a ConfigError naming the missing packages and the
 * apt-get command that installs them, unless `install` installs them and they are all there afterwards.
 */
export async function ensurePrereqs(needed: readonly Prereq[], opts: EnsurePrereqsOptions = {}): Promise<void> {
  const missing = missingPrereqs(needed, opts.exists);
  if (missing.length === 0) {
    opts.say?.('build prerequisites: all installed');
    return;
  }
  if (!opts.install) throw new ConfigError(describeMissing(missing));
  const still = await installMissing(needed, missing, opts);
  if (still.length) throw new ConfigError(describeMissing(still));
}

/** Installs `missing` (apt-get, or the test's installer), then returns what of `needed` is still missing. */
async function installMissing(needed: readonly Prereq[], missing: readonly Prereq[], opts: EnsurePrereqsOptions): Promise<Prereq[]> {
  opts.say?.(`installing ${missing.map((p) => p.package).join(' ')} ...`);
  await (opts.installer ?? installPrereqs)(missing);
  return missingPrereqs(needed, opts.exists);
}

/** Runs apt-get update + install for `missing` (root only), with its output on stderr; throws an LxlError when it fails. */
export async function installPrereqs(missing: readonly Prereq[]): Promise<void> {
  if (process.getuid?.() !== 0) throw new ConfigError(`cannot install the build prerequisites: apt-get needs root; run:\n  ${installCommand(missing, false)}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const names = [...new Set(missing.map((p) => p.package))];
  await runApt(['update'], env);
  await runApt(['install', '-y', '--no-install-recommends', ...names], env);
}

function runApt(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('apt-get', args, { env, stdio: ['ignore', process.stderr, process.stderr] });
    child.on('error', (err) => reject(new ConfigError(`cannot run apt-get ${args[0]}: ${err.message}`, { cause: err })));
    child.on('exit', (code, sig) => {
      if (code === 0) resolve();
      else reject(new ConfigError(`cannot install the build prerequisites: apt-get ${args[0]} exited ${code ?? sig}`));
    });
  });
}

/**
 * The sources of the lines a worker knows (`lxl worker`): it builds whatever line the server queues, so a missing
 * source is a warning naming the line and the install command, not an error (such a job fails with the source's own
 * error); with `install` the missing packages are installed first. Returns the ones still missing.
 */
export async function checkLineSources(lines: readonly KernelLine[], opts: EnsurePrereqsOptions & { warn: (msg: string) => void }): Promise<Prereq[]> {
  const needed = lineSourcePrereqs(lines);
  let missing = missingPrereqs(needed, opts.exists);
  if (missing.length > 0 && opts.install) missing = await installMissing(needed, missing, opts);
  for (const p of missing) {
    const of = lines.filter((l) => l.source.kind === 'tarball' && l.source.debianPackage === p.package).map((l) => l.line);
    opts.warn(`jobs of kernel line ${of.join(', ')} will fail here: ${p.package} is not installed (no ${p.probes.join(' or ')}); install it with: ${installCommand([p])} (or start with --install-prereqs)`);
  }
  if (needed.length > 0 && missing.length === 0) opts.say?.(`kernel sources: ${needed.map((p) => p.package).join(', ')} installed`);
  return missing;
}
