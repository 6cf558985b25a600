// Tiny initramfs images for boot tests: Debian's busybox-static (amd64 or
// i386, fetched once with `apt-get download` into the cache) plus an /init
// script, packed as an uncompressed newc cpio with the real cpio tool.

import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './exec.js';
import { CACHE_DIR } from './chroot.js';
import { tempDir } from './tmp.js';

/** Debian architecture of a busybox-static build. */
export type DebArch = 'amd64' | 'i386';

/** Why busybox-based boot images cannot be made here, or undefined. */
export function initramfsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to add the i386 architecture and run apt-get download (CI runs as root)';
  for (const t of ['/usr/bin/apt-get', '/usr/bin/dpkg-deb', '/usr/bin/cpio']) if (!existsSync(t)) return `${t} is missing`;
  return undefined;
}

/** Path of a statically linked busybox for `arch`, downloaded and unpacked into the cache on first use. */
export async function busyboxStatic(arch: DebArch): Promise<string> {
  const dir = path.join(CACHE_DIR, 'busybox', arch);
  const bin = path.join(dir, 'bin', 'busybox');
  if (existsSync(bin)) return bin;
  await ensureForeignArch(arch);
  const dl = await tempDir('lxl-busybox-');
  await run('apt-get', ['download', `busybox-static:${arch}`], { cwd: dl, timeoutMs: 5 * 60_000 });
  const deb = (await readdir(dl)).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download busybox-static:${arch} left no .deb in ${dl}`);
  const x = path.join(dl, 'x');
  await run('dpkg-deb', ['-x', path.join(dl, deb), x]);
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await rename(path.join(x, 'bin', 'busybox'), `${bin}.part`);
  await rename(`${bin}.part`, bin);
  return bin;
}

/** Adds a foreign dpkg architecture (and runs apt-get update) once; a no-op for the native one. */
export async function ensureForeignArch(arch: DebArch): Promise<void> {
  const native = (await run('dpkg', ['--print-architecture'])).stdout.trim();
  if (arch === native) return;
  const foreign = (await run('dpkg', ['--print-foreign-architectures'])).stdout.split('\n');
  const lists = (await readdir('/var/lib/apt/lists').catch(() => [] as string[])).some((f) => f.includes(`binary-${arch}_Packages`));
  if (foreign.includes(arch) && lists) return;
  await run('dpkg', ['--add-architecture', arch]);
  // A mirror mid-sync can fail one index (seen with bookworm-security); the
  // download below still fails loudly if busybox-static:<arch> is unknown.
  await run('apt-get', ['update', '-qq'], { timeoutMs: 10 * 60_000, allowFail: true });
}

/** Files to put into an initramfs: path inside → content (string or Buffer) or a host file to copy. */
export interface InitramfsFiles {
  [inside: string]: { text: string; mode?: number } | { from: string; mode?: number };
}

/** Writes an uncompressed newc cpio with busybox at /bin/busybox (plus /bin/sh) and `files`; returns its path. */
export async function busyboxInitramfs(arch: DebArch, init: string, files: InitramfsFiles = {}): Promise<string> {
  const root = path.join(await tempDir('lxl-initramfs-'), 'root');
  for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'mnt']) await mkdir(path.join(root, d), { recursive: true });
  await run('cp', [await busyboxStatic(arch), path.join(root, 'bin', 'busybox')]);
  await symlink('busybox', path.join(root, 'bin', 'sh'));
  await writeFile(path.join(root, 'init'), init);
  await chmod(path.join(root, 'init'), 0o755);
  await addFiles(root, files);
  return packCpio(root, `${root}.cpio`);
}

/** Copies `files` into the tree at `root`. */
export async function addFiles(root: string, files: InitramfsFiles): Promise<void> {
  for (const [inside, f] of Object.entries(files)) {
    const to = path.join(root, inside);
    await mkdir(path.dirname(to), { recursive: true });
    if ('text' in f) await writeFile(to, f.text);
    else await run('cp', ['--sparse=always', f.from, to]);
    await chmod(to, f.mode ?? 0o644);
  }
}

/** Packs the tree at `root` into an uncompressed newc cpio at `out` (root-owned entries). */
export async function packCpio(root: string, out: string): Promise<string> {
  await rm(out, { force: true });
  await run('sh', ['-c', 'cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 > "$2"', 'sh', root, out]);
  return out;
}
