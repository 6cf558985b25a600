// Small kernel-shaped packages for the rpm and yum tests, packed with OUR writer.

import { createWriteStream } from 'node:fs';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveSpec, type PackageSpec } from '../../repo-layout/model.js';
import type { PackOptions } from '../../repo-layout/packager.js';
import { rpmFileName, rpmPackager } from '../../repo-layout/rpm/rpm-writer.js';

export interface FixtureOptions {
  name?: string;
  version?: string;
  krel?: string;
  provides?: string[];
  depends?: string[];
  /** Adds pre/post install scripts that write markers at the root. */
  scripts?: boolean;
  arch?: 'x86_64' | 'i386' | 'all';
  /** Adds /usr/sbin and /etc files (default true); kernels installed side by side must not share paths. */
  extras?: boolean;
}

/** Builds a staged tree (boot/, lib/modules/<krel>/, an executable, a symlink, a 0600 file) and its spec. */
export async function fixtureSpec(dir: string, o: FixtureOptions = {}): Promise<PackageSpec> {
  const krel = o.krel ?? '6.1.192-xen-legacy';
  const root = path.join(dir, 'root');
  await mkdir(path.join(root, 'boot'), { recursive: true });
  await mkdir(path.join(root, 'lib/modules', krel, 'kernel/drivers'), { recursive: true });
  const extras = o.extras ?? true;
  if (extras) {
    await mkdir(path.join(root, 'usr/sbin'), { recursive: true });
    await mkdir(path.join(root, 'etc/xen-legacy'), { recursive: true });
  }
  await writeFile(path.join(root, 'boot', `vmlinuz-${krel}`), Buffer.alloc(70_000, `vmlinuz ${krel} ${o.version ?? ''}\n`));
  await writeFile(path.join(root, 'boot', `System.map-${krel}`), `ffffffff81000000 T _text ${o.version ?? ''}\n`);
  await writeFile(path.join(root, 'lib/modules', krel, 'kernel/drivers/xen-blkfront.ko'), 'not really a module\n');
  await writeFile(path.join(root, 'lib/modules', krel, 'modules.dep'), 'kernel/drivers/xen-blkfront.ko:\n');
  if (extras) {
    await writeFile(path.join(root, 'usr/sbin/xen-legacy-tool'), '#!/bin/sh\necho tool\n');
    await chmod(path.join(root, 'usr/sbin/xen-legacy-tool'), 0o755);
    await writeFile(path.join(root, 'etc/xen-legacy/secret.conf'), 'key=value\n');
    await chmod(path.join(root, 'etc/xen-legacy/secret.conf'), 0o600);
  }
  await symlink(`../../../boot/vmlinuz-${krel}`, path.join(root, 'lib/modules', krel, 'vmlinuz'));
  const scripts: Record<string, string> = {};
  if (o.scripts) {
    await writeFile(path.join(dir, 'preinst'), '#!/bin/sh\necho "pre $1" > /lxl-preinst-marker\n');
    await writeFile(path.join(dir, 'postinst'), '#!/bin/sh\necho "post $1" > /lxl-postinst-marker\n');
    scripts.preinst = 'preinst';
    scripts.postinst = 'postinst';
  }
  return resolveSpec(
    {
      name: o.name ?? 'kernel-xen-legacy',
      version: o.version ?? '6.1.192-1',
      arch: o.arch ?? 'x86_64',
      maintainer: 'lxl tests <tests@lxl.test>',
      summary: 'Linux kernel with legacy Xen device names',
      description: 'A test kernel package.\nIt has two lines.',
      homepage: 'https://example.com/lxl',
      root: 'root',
      scripts,
      provides: o.provides ?? [],
      depends: o.depends ?? [],
      sourceDateEpoch: 1_700_000_000,
    },
    { baseDir: dir },
  );
}

/** Packs `spec` with our rpm writer into `outDir`; returns the file path. */
export async function packRpm(spec: PackageSpec, outDir: string, opts: PackOptions = {}): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, rpmFileName(spec, opts));
  await rpmPackager.write(spec, createWriteStream(file), opts);
  return file;
}

/** A one-file rpm (gzip payload, quick to make) named `name`, packed into `outDir`; `salt` changes its bytes. */
export async function smallRpm(outDir: string, name: string, salt = ''): Promise<string> {
  const spec = await resolveSpec(
    {
      name,
      version: '1.0-1',
      arch: 'x86_64',
      maintainer: 'lxl tests <lxl-tests@example.invalid>',
      summary: `small package ${name}`,
      description: 'A small package for the yum tests.',
      license: 'MIT',
      files: [{ path: `usr/share/${name}/readme.txt`, content: `${name}\n${salt}` }],
      sourceDateEpoch: 1_700_000_000,
    },
    { baseDir: outDir },
  );
  return packRpm(spec, outDir, { compression: 'gzip' });
}

/** A package that provides /bin/sh (a static busybox), so dnf/zypper can run scriptlets in an empty root. */
export async function shellSpec(dir: string, busybox: string): Promise<PackageSpec> {
  return resolveSpec(
    {
      name: 'lxl-test-shell',
      version: '1.0-1',
      arch: 'x86_64',
      maintainer: 'lxl tests <tests@lxl.test>',
      summary: 'Static shell for test roots',
      license: 'GPL-2.0-only',
      files: [
        { path: 'bin/busybox', source: busybox, mode: '0755' },
        { path: 'bin/sh', type: 'symlink', target: 'busybox' },
      ],
      sourceDateEpoch: 1_700_000_000,
    },
    { baseDir: dir },
  );
}
