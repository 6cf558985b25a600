// A Xen host under QEMU TCG for runtime tests of PV guests (DESIGN.md §8):
// Debian's Xen 4.17 hypervisor, Debian's own amd64 kernel as dom0 (both
// fetched with apt-get download; the dom0 kernel's Xen backends are modules,
// insmod-ed by /init), and a dom0 userland (mmdebstrap minbase +
// xen-utils-4.17 + busybox-static) packed as an initramfs. Each run adds its
// /init, which starts xenstored/xenconsoled and runs one guest.
// Everything is cached under $LXL_TEST_CACHE/xen: the one-off set-up takes
// under a minute (mostly mmdebstrap), one guest run 25-60 s.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CACHE_DIR, chrootTarball, chrootUnavailable } from './chroot.js';
import { missingTools, run } from './exec.js';
import { kernelBuildUnavailable } from './kernel-cache.js';
import { packCpio, type InitramfsFiles } from './qemu-initramfs.js';
import { qemuUnavailable } from './qemu-boot.js';
import { tempDir } from './tmp.js';

const XEN_DIR = path.join(CACHE_DIR, 'xen');

/** Why Xen runtime tests cannot run here, or undefined. On by default; LXL_XEN_TESTS=0 skips them. */
export function xenUnavailable(): string | undefined {
  if (process.env.LXL_XEN_TESTS === '0') return 'LXL_XEN_TESTS=0 turns the Xen runtime tests off';
  const hv = existsSync(path.join(XEN_DIR, 'xen-4.17-amd64')) || spawnSync('apt-cache', ['show', '-q', 'xen-hypervisor-4.17-amd64'], { stdio: 'ignore' }).status === 0;
  if (!hv) return 'apt knows no xen-hypervisor-4.17-amd64 (a bookworm apt source is needed to apt-get download it)';
  return qemuUnavailable() ?? kernelBuildUnavailable() ?? chrootUnavailable() ?? missingTools('sfdisk', 'truncate', 'cpio', 'dpkg-deb');
}

/** The Xen 4.17 hypervisor ELF (gunzipped xen-4.17-amd64.gz from Debian's package). */
export async function xenHypervisor(): Promise<string> {
  const out = path.join(XEN_DIR, 'xen-4.17-amd64');
  if (existsSync(out)) return out;
  await mkdir(XEN_DIR, { recursive: true });
  const dl = await tempDir('lxl-xen-');
  await run('apt-get', ['download', 'xen-hypervisor-4.17-amd64'], { cwd: dl, timeoutMs: 5 * 60_000 });
  const deb = (await readdir(dl)).find((f) => f.endsWith('.deb'))!;
  await run('dpkg-deb', ['-x', path.join(dl, deb), path.join(dl, 'x')]);
  const gz = (await readdir(path.join(dl, 'x', 'boot'))).find((f) => /^xen-4\.17.*-amd64\.gz$/.test(f));
  if (!gz) throw new Error(`no boot/xen-4.17*-amd64.gz in ${deb}`);
  await run('sh', ['-c', 'gunzip -c "$1" > "$2"', 'sh', path.join(dl, 'x', 'boot', gz), `${out}.part`]);
  await rename(`${out}.part`, out);
  return out;
}

/** dom0's kernel and the modules /init loads, in load order. */
export interface Dom0Kernel {
  vmlinuz: string;
  /** Debian package the kernel came from (name_version). */
  package: string;
  /** The modules as initramfs files (lxl-mod/<name>.ko plus lxl-mod/order). */
  files: InitramfsFiles;
}

// Modules dom0 needs, in load order (xenfs needs privcmd). Debian builds them
// as modules; a kernel with one of them built in just skips it.
const DOM0_MODULES = ['xen-privcmd', 'xenfs', 'xen-evtchn', 'xen-gntdev', 'xen-gntalloc', 'loop', 'xen-blkback'];

/**
 * dom0's kernel: Debian's linux-image-<abi>-amd64 (the one linux-image-amd64
 * points at), unpacked once into the cache with the modules dom0 needs. A
 * distribution kernel is a real dom0 (XEN_DOM0, backends) and costs a 70 MB
 * download instead of a 5-minute build.
 */
export async function dom0Kernel(): Promise<Dom0Kernel> {
  const dir = path.join(XEN_DIR, 'dom0-kernel');
  if (!existsSync(path.join(dir, 'package'))) await fetchDom0Kernel(dir);
  const order = (await readFile(path.join(dir, 'modules', 'order'), 'utf8')).split('\n').filter(Boolean);
  const files: InitramfsFiles = { 'lxl-mod/order': { text: order.map((m) => `${m}\n`).join('') } };
  for (const m of order) files[`lxl-mod/${m}.ko`] = { from: path.join(dir, 'modules', `${m}.ko`) };
  return { vmlinuz: path.join(dir, 'vmlinuz'), package: (await readFile(path.join(dir, 'package'), 'utf8')).trim(), files };
}

async function fetchDom0Kernel(dir: string): Promise<void> {
  const deps = (await run('apt-cache', ['depends', '--no-recommends', '--no-suggests', 'linux-image-amd64'])).stdout;
  const pkg = /Depends: (linux-image-[0-9][^\s<>]*-amd64)$/m.exec(deps)?.[1];
  if (!pkg) throw new Error(`cannot tell which kernel linux-image-amd64 depends on:\n${deps}`);
  const dl = await tempDir('lxl-dom0-kernel-');
  await run('apt-get', ['download', pkg], { cwd: dl, timeoutMs: 10 * 60_000 });
  const deb = (await readdir(dl)).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${dl}`);
  const x = path.join(dl, 'x');
  await run('dpkg-deb', ['-x', path.join(dl, deb), x]);
  await rm(path.join(dl, deb), { force: true });
  const vmlinuz = (await readdir(path.join(x, 'boot'))).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new Error(`no boot/vmlinuz-* in ${deb}`);
  const krel = vmlinuz.slice('vmlinuz-'.length);
  const modDir = path.join(x, 'lib', 'modules', krel);
  const builtin = await readFile(path.join(modDir, 'modules.builtin'), 'utf8');
  const all = (await run('find', [modDir, '-name', '*.ko*'])).stdout.split('\n').filter(Boolean);
  const tmp = `${dir}.part-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(path.join(tmp, 'modules'), { recursive: true });
  const order: string[] = [];
  for (const m of DOM0_MODULES) {
    const ko = all.find((f) => path.basename(f) === `${m}.ko`);
    if (ko) {
      await rename(ko, path.join(tmp, 'modules', `${m}.ko`));
      order.push(m);
    } else if (!new RegExp(`/${m.replace(/-/g, '[-_]')}\\.ko$`, 'm').test(builtin)) {
      throw new Error(`${deb} has no uncompressed ${m}.ko and does not build it in (busybox insmod needs plain .ko files)`);
    }
  }
  await writeFile(path.join(tmp, 'modules', 'order'), order.map((m) => `${m}\n`).join(''));
  await rename(path.join(x, 'boot', vmlinuz), path.join(tmp, 'vmlinuz'));
  await writeFile(path.join(tmp, 'package'), `${deb.replace(/_amd64\.deb$/, '')}\n`);
  await rm(x, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  await mkdir(XEN_DIR, { recursive: true });
  await rename(tmp, dir);
}

// dom0's /init: bring up the Xen toolstack, run the guest from /guest, print
// its console log between markers, then power off. Every step prints an
// LXL-STEP marker, so a stuck run shows where it stopped.
// - xenstored daemonizes before it creates its socket, so a client started
//   right after it finds no socket, falls back to /dev/xen/xenbus and waits
//   forever (that is where runs stopped before): it runs undaemonized in the
//   background, and /init waits until its socket answers.
// - xl and xen-init-dom0 take flock()s (CONFIG_FILE_LOCKING) and coreutils'
//   timeout needs timer_create (CONFIG_POSIX_TIMERS): a tinyconfig dom0
//   lacked both, so xen-init-dom0 failed and timeout never fired.
const DOM0_INIT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sys /sys
busybox mount -t devtmpfs dev /dev
busybox mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /run/xen /run/xenstored /var/log/xen/console /var/lib/xen /var/lib/xenstored
busybox mount -t devpts devpts /dev/pts
for m in $(cat /lxl-mod/order); do busybox insmod /lxl-mod/$m.ko || echo LXL-INSMOD-FAIL $m; done
busybox mount -t xenfs xenfs /proc/xen
echo LXL-DOM0-UP
step() { echo "LXL-STEP $1 at $(cut -d' ' -f1 /proc/uptime) s"; }
fail() { echo "LXL-DOM0-FAIL $*"; tail -n 40 /tmp/xl.log /var/log/xen/*.log 2>/dev/null; echo LXL-DOM0-DONE; busybox poweroff -f; }
step xenstored
xenstored --no-fork > /dev/console 2>&1 &
i=0; until xenstore-read -s / > /dev/null 2>&1; do i=$((i+1)); [ $i -le 60 ] || fail xenstored; sleep 1; done
step xen-init-dom0
timeout 120 xen-init-dom0 > /dev/console 2>&1 || fail xen-init-dom0
step xenconsoled
xenconsoled --interactive --log=guest --log-dir=/var/log/xen/console > /dev/console 2>&1 &
step losetup
busybox losetup /dev/loop0 /guest/disk.img || fail losetup
step xl-create
timeout 300 xl create -F /guest/guest.cfg > /tmp/xl.log 2>&1
echo LXL-XL-EXIT=$?
step xl-exited
sleep 1
echo LXL-GUEST-LOG-BEGIN
cat /var/log/xen/console/guest-*.log
echo LXL-GUEST-LOG-END
tail -n 30 /tmp/xl.log /var/log/xen/*.log 2>/dev/null
echo LXL-DOM0-DONE
busybox poweroff -f
`;

// libxl's stock block script waits on udev and times out under TCG; this one
// only tells blkback which device to serve.
const BLOCK_SCRIPT = `#!/bin/sh
[ "$1" = add ] || exit 0
dev=$(xenstore-read "$XENBUS_PATH/params")
mm=$(stat -L -c '%t:%T' "$dev")
xenstore-write "$XENBUS_PATH/physical-device" "$mm" "$XENBUS_PATH/physical-device-path" "$dev" "$XENBUS_PATH/hotplug-status" connected
`;

/** The files each run adds on top of the cached dom0 userland: /init and the block script (edits here need no new userland). */
export function dom0RunFiles(): InitramfsFiles {
  return {
    init: { text: DOM0_INIT, mode: 0o755 },
    'etc/xen/scripts/lxl-block': { text: BLOCK_SCRIPT, mode: 0o755 },
  };
}

/** The dom0 userland initramfs (uncompressed cpio, about 140 MB), made once from an mmdebstrap tarball; /init comes per run (dom0RunFiles). */
export async function dom0Initramfs(): Promise<string> {
  const name = 'dom0-bookworm-userland-v1.cpio';
  const out = path.join(XEN_DIR, name);
  if (existsSync(out)) return out;
  await mkdir(XEN_DIR, { recursive: true });
  const tarball = await chrootTarball('bookworm', { variant: 'minbase', include: ['xen-utils-4.17', 'xenstore-utils', 'busybox-static'] });
  const root = path.join(await tempDir('lxl-dom0-'), 'root');
  await mkdir(root);
  await run('tar', ['-C', root, '-xf', tarball]);
  // Docs, locales, python, perl and apt lists are dead weight in RAM (and slow
  // to unpack under TCG); xl, xenstored and xenconsoled are C programs.
  for (const p of ['usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/perl', 'usr/lib/python3.11', 'usr/lib/udev/hwdb.bin', 'usr/lib/udev/hwdb.d', 'var/lib/apt/lists', 'var/cache/apt', 'var/cache/debconf']) await rm(path.join(root, p), { recursive: true, force: true });
  await packCpio(root, `${out}.part`);
  await rename(`${out}.part`, out);
  await rm(root, { recursive: true, force: true });
  // Older layouts of this file are 140-220 MB each: drop them.
  for (const f of await readdir(XEN_DIR)) if (/^dom0-.*\.cpio$/.test(f) && f !== name) await rm(path.join(XEN_DIR, f), { force: true });
  return out;
}
