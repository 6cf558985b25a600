// Debian chroots for acceptance tests, made with mmdebstrap from Debian's
// registry. Each (suite, variant, include-set) is built once into a tarball
// cached under $LXL_TEST_CACHE (default /var/cache/lxl-test) and extracted
// fresh for each test, so a run pays the ~15-45 s mmdebstrap cost once.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { run, type RunOptions, type RunResult } from './exec.js';
import { tempDir } from './tmp.js';

export type Suite = 'bullseye' | 'bookworm' | 'trixie';

export interface ChrootOptions {
  /** Extra packages for mmdebstrap --include. */
  include?: string[];
  /** mmdebstrap variant; default `apt`. */
  variant?: 'minbase' | 'apt' | 'essential';
  /** Foreign architecture such as i386 (default: the host's). */
  arch?: string;
}

export const MIRROR = process.env.LXL_TEST_MIRROR ?? 'http://deb.debian.org/debian';
export const CACHE_DIR = process.env.LXL_TEST_CACHE ?? '/var/cache/lxl-test';

/** Why chroot tests must skip here (not root, no mmdebstrap), or undefined when they can run. */
export function chrootUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'chroot tests need root (CI runs as root)';
  if (!existsSync('/usr/bin/mmdebstrap')) return 'mmdebstrap is not installed (apt-get install mmdebstrap, as .ci/run does)';
  return undefined;
}

/** Returns the path of a cached rootfs tarball for `suite`, building it with mmdebstrap on first use. */
export async function chrootTarball(suite: Suite, opts: ChrootOptions = {}): Promise<string> {
  const include = [...(opts.include ?? [])].sort();
  const variant = opts.variant ?? 'apt';
  const id = createHash('sha256').update(JSON.stringify([suite, variant, include, opts.arch ?? ''])).digest('hex').slice(0, 12);
  const dir = path.join(CACHE_DIR, 'chroots');
  const tarball = path.join(dir, `${suite}-${variant}${opts.arch ? `-${opts.arch}` : ''}-${id}.tar`);
  await mkdir(dir, { recursive: true });
  if (existsSync(tarball)) return tarball;
  const args = [`--variant=${variant}`, '--quiet', '--format=tar'];
  if (include.length) args.push(`--include=${include.join(',')}`);
  if (opts.arch) args.push(`--architectures=${opts.arch}`);
  // flock serialises concurrent builders of the same tarball; the second one finds it made.
  const script = `test -e "$1" || { mmdebstrap ${args.join(' ')} ${suite} "$1.part" ${MIRROR} && mv "$1.part" "$1"; }`;
  // A mirror in the middle of a sync can fail one download (as .ci/run's apt-get update can): two more tries.
  for (let attempt = 1; ; attempt++) {
    const r = await run('flock', [`${tarball}.lock`, 'sh', '-c', script, 'sh', tarball], { timeoutMs: 20 * 60_000, allowFail: attempt < 3 });
    if (r.code === 0) return tarball;
    process.stderr.write(`mmdebstrap ${suite} failed (try ${attempt} of 3), retrying in 10 s:\n${r.stderr.split('\n').slice(-5).join('\n')}\n`);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
  }
}

/** A chroot extracted into a temp dir (removed after the test file). */
export interface Chroot {
  root: string;
  /** Runs a command inside the chroot. */
  run(cmd: string[], opts?: RunOptions): Promise<RunResult>;
}

/** Extracts a fresh chroot of `suite` for one test. */
export async function makeChroot(suite: Suite, opts: ChrootOptions = {}): Promise<Chroot> {
  const tarball = await chrootTarball(suite, opts);
  const root = path.join(await tempDir(`lxl-chroot-${suite}-`), 'root');
  await mkdir(root);
  await run('tar', ['-C', root, '-xf', tarball]);
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' };
  return {
    root,
    run: (cmd, o = {}) => run('chroot', [root, ...cmd], { env, ...o }),
  };
}

/** Removes a chroot early (before the test file ends) to save disk. */
export async function removeChroot(c: Chroot): Promise<void> {
  await rm(c.root, { recursive: true, force: true });
}
