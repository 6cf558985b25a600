// Small .deb fixtures for the APT tests, written by lxl's own deb writer
// (debPackager) from a PackageSpec made in code.

import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { packagerFor } from '../../repo-layout/packagers.js';
import { resolveSpec, type KernelArch } from '../../repo-layout/model.js';

export interface FixtureDeb {
  name: string;
  version: string;
  arch: KernelArch;
  depends?: string[];
  /** Extra text in the payload file, to make two builds of one version differ. */
  salt?: string;
}

/**
 * A repo's worth of packages: the kernel image for both architectures, the metapackage (`all`, depending on the
 * image) in three versions with `+`, `~` and an older one, and a package whose version has an epoch.
 */
export const REPO_FIXTURES: readonly FixtureDeb[] = [
  { name: 'linux-image-6.1.192-xen-legacy', version: '6.1.192+1~legacy1', arch: 'x86_64' },
  { name: 'linux-image-6.1.192-xen-legacy', version: '6.1.192+1~legacy1', arch: 'i386' },
  { name: 'linux-xen-legacy', version: '6.1.192+1~legacy1', arch: 'all', depends: ['linux-image-6.1.192-xen-legacy (= 6.1.192+1~legacy1)'] },
  { name: 'libxen-legacy-test', version: '1:2.0-1', arch: 'x86_64' },
  { name: 'linux-xen-legacy', version: '6.1.192+1', arch: 'all' },
  { name: 'linux-xen-legacy', version: '6.1.190', arch: 'all' },
];

/** Writes one .deb into `dir` with our writer and returns its path. */
export async function makeDeb(dir: string, d: FixtureDeb): Promise<string> {
  const spec = await resolveSpec(
    {
      name: d.name,
      version: d.version,
      arch: d.arch,
      maintainer: 'lxl tests <lxl-tests@example.invalid>',
      summary: `test package ${d.name}`,
      description: `A package the lxl APT tests install.\n\nIt holds one small text file.`,
      license: 'MIT',
      section: 'kernel',
      priority: 'optional',
      depends: d.depends ?? [],
      files: [{ path: `usr/share/doc/${d.name}/version.txt`, content: `${d.name} ${d.version} ${d.arch}${d.salt ?? ''}\n` }],
      sourceDateEpoch: 1_700_000_000,
    },
    { baseDir: dir },
  );
  const file = path.join(dir, `${d.name}_${d.version.replace(/^\d+:/, '')}_${d.salt ? `${d.salt}_` : ''}${d.arch}.deb`);
  const packager = await packagerFor('deb');
  await packager.write(spec, createWriteStream(file));
  return file;
}

