// Shared fixtures for the deb/tarball/pack tests: a small staged tree with
// every entry kind the writers handle, and a real Debian .deb fetched once
// with `apt-get download` into the test cache.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CACHE_DIR } from '../support/chroot.js';
import { run } from '../support/exec.js';

export const MARKER_DIR = '/var/lib/lxl-test-markers';

/** Writes a spec + staged tree + maintainer scripts under `dir`; returns the spec path. `spec` overrides fields. */
export async function makeSpecDir(dir: string, spec: Record<string, unknown> = {}): Promise<string> {
  const tree = path.join(dir, 'tree');
  const krel = '6.1.0-lxl-test';
  const mod = path.join(tree, 'lib/modules', krel, 'kernel/drivers/block/with-a-rather-long-directory-name-to-pass-one-hundred-bytes');
  await mkdir(path.join(tree, 'boot'), { recursive: true });
  await mkdir(mod, { recursive: true });
  await mkdir(path.join(tree, 'usr/share/doc/hello-legacy'), { recursive: true });
  await writeFile(path.join(tree, 'boot', `vmlinuz-${krel}`), randomBytes(300_000));
  await writeFile(path.join(tree, 'boot', `System.map-${krel}`), 'ffffffff81000000 T _text\n'.repeat(60_000)); // > 1 MiB: streamed path
  await writeFile(path.join(tree, 'boot', `config-${krel}`), 'CONFIG_XEN=y\n');
  await writeFile(path.join(mod, 'xen-blkfront-legacy-test-module-name.ko'), randomBytes(5000));
  await writeFile(path.join(tree, 'lib/modules', krel, 'modules.order'), '');
  await symlink(`/boot/config-${krel}`, path.join(tree, 'lib/modules', krel, 'config-link'));
  await writeFile(
    path.join(tree, 'usr/share/doc/hello-legacy/copyright'),
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 2026 The lxl authors\nLicense: GPL-2\n On Debian systems, the full text of the GPL 2 is in /usr/share/common-licenses/GPL-2.\n',
  );
  const tool = path.join(tree, 'usr/share/doc/hello-legacy/tool.sh');
  await writeFile(tool, '#!/bin/sh\necho tool\n');
  await chmod(tool, 0o755);

  await mkdir(path.join(dir, 'scripts'), { recursive: true });
  const scripts: Record<string, string> = {};
  for (const name of ['preinst', 'postinst', 'prerm', 'postrm']) {
    await writeFile(path.join(dir, 'scripts', name), `#!/bin/sh\nset -e\nmkdir -p ${MARKER_DIR}\necho "$0 $*" > ${MARKER_DIR}/${name}\n`);
    scripts[name] = `scripts/${name}`;
  }
  const body = {
    name: 'hello-legacy',
    version: '1.0+1~x1',
    arch: 'x86_64',
    maintainer: 'A Person <a@example.org>',
    summary: 'test package for lxl',
    description: 'A test package built by the lxl test suite.\n\nIt has a second paragraph.',
    depends: [],
    provides: [],
    conflicts: [],
    scripts,
    root: 'tree',
    sourceDateEpoch: 1_700_000_000,
    ...spec,
  };
  const specPath = path.join(dir, 'spec.json');
  await writeFile(specPath, JSON.stringify(body, null, 2));
  return specPath;
}

/** Downloads a real Debian package (default `hello`) once into the test cache and returns its path. */
export async function debianDeb(pkg = 'hello'): Promise<string> {
  const dir = path.join(CACHE_DIR, 'debs');
  await mkdir(dir, { recursive: true });
  const find = async (): Promise<string | undefined> => (await readdir(dir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  let name = await find();
  if (!name) {
    await run('flock', [path.join(dir, '.lock'), 'sh', '-c', `cd "$1" && (ls ${pkg}_*.deb >/dev/null 2>&1 || apt-get download -q ${pkg})`, 'sh', dir], { timeoutMs: 300_000 });
    name = await find();
  }
  if (!name || !existsSync(path.join(dir, name))) throw new Error(`apt-get download ${pkg} left no .deb in ${dir}`);
  return path.join(dir, name);
}
