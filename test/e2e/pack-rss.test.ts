// Packing a 1 GiB staged tree (incompressible random data, so nothing
// shrinks away) through the CLI keeps peak RSS under 200 MB, measured by
// /usr/bin/time -v around the node process.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

const GIB = 1024 * 1024 * 1024;
const LIMIT_KB = 200 * 1000;

test('lxl pack deb of a 1 GiB tree stays under 200 MB peak RSS', { skip: missingTools('openssl', 'dpkg-deb', 'ar') ?? (process.env.LXL_SKIP_BIG ? 'LXL_SKIP_BIG is set' : undefined), timeout: 5 * 60_000 }, async () => {
  const dir = await tempDir('lxl-rss-');
  const mods = path.join(dir, 'tree/lib/modules/6.1.0-big');
  await mkdir(mods, { recursive: true });
  // 8 x 128 MiB of AES-CTR keystream (fast, incompressible) plus a few hundred small files.
  for (let i = 0; i < 8; i++) {
    const iv = i.toString(16).padStart(32, '0');
    await run('sh', ['-c', `openssl enc -aes-128-ctr -K 6c786c2d7273732d746573742d6b6579 -iv ${iv} -in /dev/zero 2>/dev/null | head -c ${GIB / 8} > "$1"`, 'sh', path.join(mods, `blob${i}.ko`)]);
  }
  for (let i = 0; i < 300; i++) await writeFile(path.join(mods, `small${String(i).padStart(3, '0')}.ko`), `module ${i}\n`.repeat(50));
  const spec = { name: 'big-legacy', version: '1.0', arch: 'x86_64', maintainer: 'x <x@example.org>', summary: 'a 1 GiB package', root: 'tree', sourceDateEpoch: 1_700_000_000 };
  await writeFile(path.join(dir, 'spec.json'), JSON.stringify(spec));

  const bin = new URL('../../bin/lxl.mjs', import.meta.url).pathname;
  const r = await run('/usr/bin/time', ['-v', process.execPath, bin, 'pack', 'deb', '--compression', 'gzip', '--level', '1', '--spec', path.join(dir, 'spec.json'), '--out', path.join(dir, 'out')]);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time.*: (\S+)/.exec(r.stderr)?.[1];
  const deb = r.stdout.trim();
  const members = (await run('ar', ['tv', deb])).stdout;
  const dataSize = Number(/ (\d+) .* data\.tar\.gz$/m.exec(members)?.[1]);
  assert.ok(dataSize > GIB, `data.tar.gz holds the 1 GiB of random data (${dataSize} bytes)`);
  assert.match((await run('dpkg-deb', ['--field', deb, 'Package'])).stdout, /^big-legacy$/m);
  process.stdout.write(`# 1 GiB pack: peak RSS ${rss} kB, wall ${wall}\n`);
  assert.ok(Number.isFinite(rss) && rss > 0, `time -v reported an RSS:\n${r.stderr}`);
  assert.ok(rss < LIMIT_KB, `peak RSS ${rss} kB must stay under ${LIMIT_KB} kB`);
});
