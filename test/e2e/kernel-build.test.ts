// The minimal flavour of the 6.1 line, patched, built for x86_64 and i386 by
// the build library (cached per inputs hash, see test/support/kernel-cache.ts):
// the staged tree is complete, the kernel carries the new parameters, and
// each image boots under QEMU TCG to a busybox-static init that prints a marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { run, missingTools } from '../support/exec.js';
import { cachedKernel, kernelBuildUnavailable, type CachedKernel } from '../support/kernel-cache.js';
import { bootQemu, qemuUnavailable } from '../support/qemu-boot.js';
import { busyboxInitramfs, initramfsUnavailable, type DebArch } from '../support/qemu-initramfs.js';

const buildSkip = kernelBuildUnavailable() ?? missingTools('nm', 'strings');
const bootSkip = buildSkip ?? qemuUnavailable() ?? initramfsUnavailable();

const ARCHES = [
  { arch: 'x86_64', deb: 'amd64', machine: 'x86_64', elf: 'ELF 64-bit' },
  { arch: 'i386', deb: 'i386', machine: 'i686', elf: 'ELF 32-bit' },
] as const;

const INIT = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
echo "LXL-BOOT-OK $(/bin/busybox uname -m) $(/bin/busybox uname -r) legacy_names=$(/bin/busybox cat /sys/module/xen_blkfront/parameters/legacy_names 2>&1)"
/bin/busybox poweroff -f
`;

const kernels = new Map<string, Promise<CachedKernel>>();
const kernel = (arch: 'x86_64' | 'i386') => {
  if (!kernels.has(arch)) kernels.set(arch, cachedKernel({ arch, flavour: 'minimal' }));
  return kernels.get(arch)!;
};

for (const a of ARCHES) {
  test(`minimal ${a.arch}: builds with the legacy options and carries the new parameters`, { skip: buildSkip, timeout: 40 * 60_000 }, async () => {
    const k = await kernel(a.arch);
    assert.match(k.krel, /^6\.1\.\d+-xen-legacy$/);
    for (const f of [`boot/vmlinuz-${k.krel}`, `boot/System.map-${k.krel}`, `boot/config-${k.krel}`, `lib/modules/${k.krel}/modules.dep`, `lib/modules/${k.krel}/kernel/drivers/block/loop.ko`]) {
      assert.ok(existsSync(path.join(k.stageDir, f)), `${f} is staged`);
    }
    assert.ok(!existsSync(path.join(k.stageDir, 'lib/modules', k.krel, 'build')), 'no build symlink into the build tree');
    const config = await readFile(k.config, 'utf8');
    for (const opt of ['CONFIG_HVC_XEN_LEGACY_TTY=y', 'CONFIG_XEN_BLKDEV_FRONTEND_LEGACY_NAMES=y', 'CONFIG_XEN=y', 'CONFIG_HVC_XEN=y', 'CONFIG_XEN_BLKDEV_FRONTEND=y']) {
      assert.ok(config.split('\n').includes(opt), `${opt} in config-${k.krel}`);
    }
    assert.ok(config.includes('# CONFIG_VT is not set'));
    assert.ok(config.split('\n').includes(a.arch === 'x86_64' ? 'CONFIG_XEN_PV=y' : 'CONFIG_X86_PAE=y'));
    const file = await run('file', ['-b', k.vmlinux]);
    assert.match(file.stdout, new RegExp(a.elf));
    // The boot parameter and the module parameter, as the kernel's own tables hold them.
    const strings = (await run('strings', ['-a', k.vmlinux])).stdout.split('\n');
    assert.ok(strings.includes('xencons='), 'the xencons= __setup string');
    assert.ok(strings.some((s) => s.includes('xen_blkfront.legacy_names')), 'the xen_blkfront.legacy_names parameter');
    const syms = (await run('nm', [k.vmlinux])).stdout;
    assert.match(syms, / [tT] hvc_set_legacy_tty$/m);
    assert.match(syms, / [tT] xencons_setup$/m);
    assert.match(syms, / [dDbB] xen_blkif_legacy_names$/m);
  });

  test(`minimal ${a.arch}: boots under QEMU TCG to a busybox-static (${a.deb}) init`, { skip: bootSkip, timeout: 45 * 60_000 }, async () => {
    const k = await kernel(a.arch);
    const initrd = await busyboxInitramfs(a.deb as DebArch, INIT);
    const boot = await bootQemu({
      kernel: k.bzImage,
      initrd,
      append: 'console=ttyS0 rdinit=/init panic=-1',
      cpu: 'Nehalem',
      until: /LXL-BOOT-OK .*\n/,
      timeoutMs: 4 * 60_000,
    });
    const m = /LXL-BOOT-OK (\S+) (\S+) legacy_names=(\S+)/.exec(boot.console);
    assert.ok(m, boot.console.slice(-2000));
    assert.equal(m[1], a.machine);
    assert.equal(m[2], k.krel);
    // Not a Xen guest, so the driver never loaded and its parameter stays at "auto".
    assert.equal(m[3], '-1');
  });
}
