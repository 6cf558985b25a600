// The apt-index benchmarks' input: `count` small generated .debs (lxl's deb
// writer), named bench-pkg-00000… across amd64, i386 and all, 50 written at a
// time. run.ts and timeline.ts make the same set.

import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { makeDeb } from '../../test/support/apt-debs.js';

/** Writes the debs into `dir` (made if missing) and returns their paths, sorted by name. */
export async function makeBenchDebs(dir: string, count: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const arches = ['x86_64', 'i386', 'all'] as const;
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) => {
        const n = i + j;
        return makeDeb(dir, { name: `bench-pkg-${String(n).padStart(5, '0')}`, version: `1.${n % 7}-${(n % 3) + 1}`, arch: arches[n % 3] });
      }),
    );
  }
  return (await readdir(dir)).filter((f) => f.endsWith('.deb')).sort().map((f) => path.join(dir, f));
}
