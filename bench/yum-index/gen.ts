// Generates N small, distinct rpms with lxl's writer (gzip payloads, unsigned)
// into a directory: `tsx gen.ts <dir> <count> [first-index]`.

import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { validatePackageSpec, type FileEntry, type PackageSpec } from '../../repo-layout/model.js';
import { rpmFileName, rpmPackager } from '../../repo-layout/rpm/rpm-writer.js';

function file(p: string, mode: number): FileEntry {
  const content = Buffer.from(`${p}\n`);
  return { type: 'file', path: p, mode, size: content.length, content };
}

function spec(i: number): PackageSpec {
  const name = `bench-pkg-${String(i).padStart(5, '0')}`;
  return validatePackageSpec({
    name,
    version: `1.${i % 7}-1`,
    arch: 'x86_64',
    maintainer: 'bench <bench@lxl.test>',
    summary: `Bench package ${i}`,
    description: `Generated package number ${i} for the yum index benchmark.`,
    license: 'MIT',
    section: 'misc',
    priority: 'optional',
    depends: i > 0 ? [[{ name: `bench-pkg-${String(i - 1).padStart(5, '0')}` }]] : [],
    recommends: [],
    provides: [[{ name: `bench-capability-${i}` }]],
    conflicts: [],
    replaces: [],
    breaks: [],
    obsoletes: [],
    scripts: {},
    files: [{ type: 'dir', path: `usr/share/${name}`, mode: 0o755 }, file(`usr/share/${name}/data.txt`, 0o644), file(`usr/bin/${name}`, 0o755)],
    sourceDateEpoch: 1_700_000_000,
  });
}

const [dir, countArg, firstArg] = process.argv.slice(2);
const count = Number(countArg ?? 2000);
const first = Number(firstArg ?? 0);
await mkdir(dir, { recursive: true });
let next = first;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < first + count) {
      const s = spec(next++);
      await rpmPackager.write(s, createWriteStream(path.join(dir, rpmFileName(s))), { compression: 'gzip' });
    }
  }),
);
