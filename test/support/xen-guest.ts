// Runs one PV guest kernel on the cached Xen host (xen-host.ts) and returns
// what the guest saw: its /proc/partitions, /sys/block, /proc/consoles and
// device nodes, printed by a busybox init to the guest console, which dom0
// copies to the serial log between markers.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './exec.js';
import { bootQemu } from './qemu-boot.js';
import { addFiles, busyboxInitramfs, packCpio } from './qemu-initramfs.js';
import { dom0Initramfs, dom0Kernel, dom0RunFiles, xenHypervisor } from './xen-host.js';
import { tempDir } from './tmp.js';

/** One guest run. */
export interface XenGuestOptions {
  /** The guest's bzImage (a PV-capable x86_64 kernel). */
  kernel: string;
  /** The guest command line (xl's `extra`). */
  extra: string;
  /** The guest disk's vdev (default `sda`); the image has one partition. */
  vdev?: string;
  timeoutMs?: number;
}

/** What the guest reported, plus the raw logs for failure messages. */
export interface XenGuestReport {
  /** Block devices: name → "major:minor" from /sys/block/<name>/dev and partitions. */
  blocks: Map<string, string>;
  /** /proc/consoles lines. */
  consoles: string[];
  /** `ls -l` lines of the console device nodes. */
  nodes: string;
  /** The guest's report lines (between its LXL-GUEST markers). */
  report: string;
  /** dom0's LXL-STEP lines, with dom0 uptimes. */
  steps: string[];
  guestLog: string;
  serial: string;
  seconds: number;
}

// The guest's /init. Xenbus waits for boot disks before init, but give the
// frontend a few seconds anyway under TCG.
const GUEST_INIT = `#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
i=0; while [ -z "$(ls /sys/block)" ] && [ $i -lt 20 ]; do sleep 1; i=$((i+1)); done
sleep 1
echo LXL-GUEST-BEGIN
echo "cmdline: $(cat /proc/cmdline)"
for d in /sys/block/*/ /sys/block/*/*/partition; do
  d=\${d%/partition}; d=\${d%/}; [ -e "$d/dev" ] && echo "block: $(basename $d) $(cat $d/dev)"
done
cat /proc/consoles | sed 's/^/console: /'
ls -l /dev/tty1 /dev/tty2 /dev/hvc0 /dev/console 2>&1 | sed 's/^/node: /'
echo "legacy_names: $(cat /sys/module/xen_blkfront/parameters/legacy_names 2>&1)"
echo LXL-GUEST-END
poweroff -f
`;

/** Boots Xen with the cached dom0 and runs `kernel` as a PV domU with a partitioned disk on `vdev`. */
export async function runXenGuest(opts: XenGuestOptions): Promise<XenGuestReport> {
  const [xen, dom0, dom0Cpio] = await Promise.all([xenHypervisor(), dom0Kernel(), dom0Initramfs()]);
  const dir = await tempDir('lxl-xen-run-');
  const disk = path.join(dir, 'disk.img');
  await run('truncate', ['-s', '16M', disk]);
  await run('sfdisk', ['--quiet', disk], { input: 'label: dos\nstart=2048, type=83\n' });
  const guestInitrd = await busyboxInitramfs('amd64', GUEST_INIT);
  const cfg = [
    'name = "guest"',
    'type = "pv"',
    'kernel = "/guest/kernel"',
    'ramdisk = "/guest/initrd.cpio"',
    'memory = 128',
    'vcpus = 1',
    `extra = "${opts.extra}"`,
    `disk = [ "format=raw, vdev=${opts.vdev ?? 'sda'}, access=rw, script=lxl-block, target=/dev/loop0" ]`,
    'on_poweroff = "destroy"',
    'on_reboot = "destroy"',
    'on_crash = "destroy"',
    '',
  ].join('\n');
  const runRoot = path.join(dir, 'run');
  await addFiles(runRoot, {
    ...dom0RunFiles(),
    ...dom0.files,
    'guest/guest.cfg': { text: cfg },
    'guest/kernel': { from: opts.kernel },
    'guest/initrd.cpio': { from: guestInitrd },
    'guest/disk.img': { from: disk },
  });
  const runCpio = await packCpio(runRoot, path.join(dir, 'run.cpio'));
  // Linux unpacks concatenated cpio archives in order: dom0 userland, then this run's files.
  const initrd = path.join(dir, 'dom0-run.cpio');
  await run('sh', ['-c', 'cat "$1" "$2" > "$3"', 'sh', dom0Cpio, runCpio, initrd]);
  await writeFile(path.join(dir, 'guest.cfg'), cfg);
  const boot = await bootQemu({
    kernel: xen,
    append: 'console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M noreboot',
    initrd: `${dom0.vmlinuz} console=hvc0,${initrd}`,
    cpu: 'Nehalem',
    memoryMb: 2048,
    until: /LXL-DOM0-DONE/,
    timeoutMs: opts.timeoutMs ?? 15 * 60_000,
  });
  const serial = boot.console;
  const guestLog = between(serial, 'LXL-GUEST-LOG-BEGIN', 'LXL-GUEST-LOG-END');
  const report = between(guestLog, 'LXL-GUEST-BEGIN', 'LXL-GUEST-END');
  if (!report) throw new Error(`the guest printed no report\n--- serial tail\n${serial.split('\n').slice(-80).join('\n')}`);
  const blocks = new Map<string, string>();
  for (const m of report.matchAll(/^block: (\S+) (\d+:\d+)$/gm)) blocks.set(m[1]!, m[2]!);
  return {
    blocks,
    consoles: [...report.matchAll(/^console: (.*)$/gm)].map((m) => m[1]!.trim()),
    nodes: [...report.matchAll(/^node: (.*)$/gm)].map((m) => m[1]!).join('\n'),
    report: report.trim(),
    steps: [...serial.matchAll(/^LXL-STEP (.*)$/gm)].map((m) => m[1]!),
    guestLog,
    serial,
    seconds: boot.seconds,
  };
}

function between(text: string, begin: string, end: string): string {
  const a = text.lastIndexOf(begin);
  const b = text.indexOf(end, a);
  return a >= 0 && b > a ? text.slice(a + begin.length, b) : '';
}
