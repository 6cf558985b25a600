// Fixtures for the builder tests: a fake staged kernel tree (what
// builders/kernel-build.ts stages, with dummy bytes), and a fake kernel line
// whose tiny source tarball makes the kernel library fail in a chosen phase.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../support/exec.js';

export const FAKE_KREL = '6.1.999-xen-legacy';

/** Writes boot/ and lib/modules/<krel>/ like a real stage; `bigBytes` adds an incompressible file (slow packaging). */
export async function makeFakeStage(dir: string, opts: { krel?: string; bigBytes?: number } = {}): Promise<string> {
  const krel = opts.krel ?? FAKE_KREL;
  const mods = path.join(dir, 'lib/modules', krel);
  await mkdir(path.join(dir, 'boot'), { recursive: true });
  await mkdir(path.join(mods, 'kernel/drivers/xen'), { recursive: true });
  await writeFile(path.join(dir, 'boot', `vmlinuz-${krel}`), Buffer.alloc(4096, 0x4c));
  await writeFile(path.join(dir, 'boot', `System.map-${krel}`), 'ffffffff81000000 T _text\n');
  await writeFile(path.join(dir, 'boot', `config-${krel}`), 'CONFIG_XEN=y\nCONFIG_XEN_PV=y\n');
  // No .ko: depmod would refuse dummy modules. modules.builtin is what depmod reads besides .ko files.
  await writeFile(path.join(mods, 'modules.order'), '');
  await writeFile(path.join(mods, 'modules.builtin'), 'kernel/drivers/xen/xen-blkfront.ko\n');
  await writeFile(path.join(mods, 'kernel/drivers/xen/README'), 'built in\n');
  // A stale depmod output from the build: packages must leave it out (tarballs keep it).
  await writeFile(path.join(mods, 'modules.dep'), 'stale\n');
  if (opts.bigBytes) {
    const { randomBytes } = await import('node:crypto');
    await writeFile(path.join(mods, 'kernel/drivers/xen/big.bin'), randomBytes(opts.bigBytes));
  }
  return dir;
}

/**
 * A kernel line `6.1` under `<dir>/lines/6.1/` whose source is a tiny tarball.
 * `reject`: its series holds one patch that does not apply. `drop`: the patch
 * applies, and the fake Makefile's olddefconfig drops CONFIG_XEN_BLKDEV_FRONTEND,
 * which the flavour fragment asks for. `ok`: everything works; `make bzImage`
 * writes dummy images (after `compileSeconds`, to leave time to kill a worker).
 */
/**
 * `krel: 'config'`: the release is 6.1.999 plus the .config's CONFIG_LOCALVERSION, as a real kernel's is.
 * `gcc`: `make bzImage` also compiles two C files (the patched hvc_xen.c and an untouched lib/legacy.c) with gcc
 * from PATH, as kbuild calls it, so a build through ccache has something to cache.
 */
export async function makeFakeLine(dir: string, mode: 'reject' | 'drop' | 'ok', opts: { compileSeconds?: number; krel?: string; gcc?: boolean } = {}): Promise<string> {
  const lines = path.join(dir, 'lines');
  const line = path.join(lines, '6.1');
  const src = path.join(dir, 'src', 'linux-6.1.999');
  await mkdir(path.join(src, 'drivers/tty/hvc'), { recursive: true });
  await mkdir(path.join(src, 'lib'), { recursive: true });
  await mkdir(path.join(line, 'config'), { recursive: true });
  await mkdir(path.join(line, 'patches'), { recursive: true });
  await writeFile(
    path.join(src, 'Makefile'),
    [
      'VERSION = 6',
      'PATCHLEVEL = 1',
      'SUBLEVEL = 999',
      'tinyconfig:',
      '\tprintf "CONFIG_64BIT=y\\n" > .config',
      'olddefconfig:',
      mode === 'drop' ? '\tsed -i "/^CONFIG_XEN_BLKDEV_FRONTEND=/d" .config' : '\ttrue',
      'bzImage:',
      `\tsleep ${opts.compileSeconds ?? 0}`,
      ...(opts.gcc ? ['drivers/tty/hvc/hvc_xen.o', 'lib/legacy.o'].map((o) => `\tgcc -Wp,-MMD,${path.dirname(o)}/.${path.basename(o)}.d -O2 -c -o ${o} ${o.replace(/o$/, 'c')}`) : []),
      '\tmkdir -p arch/x86/boot && head -c 8192 /dev/zero > arch/x86/boot/bzImage',
      '\techo "ffffffff81000000 T _text" > System.map && touch vmlinux',
      'kernelrelease:',
      opts.krel === 'config' ? `\t@echo 6.1.999$$(sed -n 's/^CONFIG_LOCALVERSION="\\(.*\\)"$$/\\1/p' .config)` : `\t@echo ${opts.krel ?? FAKE_KREL}`,
      'kernelversion:',
      '\t@echo 6.1.999',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(src, 'drivers/tty/hvc/hvc_xen.c'), 'int a = 1;\nint b = 2;\nint c = 3;\n');
  await writeFile(path.join(src, 'lib/legacy.c'), 'int legacy(int x) { return x * 3; }\n');
  const tarball = path.join(dir, 'linux-source-fake.tar.xz');
  await run('tar', ['-C', path.join(dir, 'src'), '-cJf', tarball, 'linux-6.1.999']);
  await writeFile(
    path.join(line, 'patches/0001-hvc_xen-legacy-tty1.patch'),
    [
      '--- a/drivers/tty/hvc/hvc_xen.c',
      '+++ b/drivers/tty/hvc/hvc_xen.c',
      '@@ -1,3 +1,3 @@',
      ' int a = 1;',
      mode === 'reject' ? '-int b = 42;' : '-int b = 2;',
      '+int b = 43;',
      ' int c = 3;',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(line, 'patches/series'), '0001-hvc_xen-legacy-tty1.patch\n');
  for (const f of ['legacy', 'xen']) await writeFile(path.join(line, 'config', `${f}.config`), 'CONFIG_XEN=y\n');
  await writeFile(path.join(line, 'config', 'minimal.config'), 'CONFIG_XEN_BLKDEV_FRONTEND=y\n');
  await writeFile(
    path.join(line, 'line.json'),
    JSON.stringify({
      line: '6.1',
      localversion: '-xen-legacy',
      source: { tarball },
      series: 'patches/series',
      common: ['config/legacy.config'],
      arches: { x86_64: { fragments: ['config/xen.config'] } },
      flavours: { minimal: { base: 'tinyconfig', fragments: ['config/minimal.config'] } },
    }),
  );
  return lines;
}
