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

