// bin/lxl's environment for the node it starts: the repo commands ask glibc to
// back malloc's arenas with transparent huge pages (fewer first-touch page
// faults in a short process), keeping whatever tunables the caller set;
// other commands (the long-lived server) get the caller's environment as is.
// A copy of bin/lxl runs a stand-in bin/lxl.mjs (no dist/ beside it, so it
// never takes the snapshot path) that prints what it was given.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

const top = fileURLToPath(new URL('../..', import.meta.url));

test('bin/lxl sets glibc.malloc.hugetlb=1 for apt, yum, keys and pack only, after the caller\'s tunables, and never over the caller\'s own hugetlb', async () => {
  const lay = await tempDir('lxl-launcher-');
  await mkdir(path.join(lay, 'bin'));
  await copyFile(path.join(top, 'bin', 'lxl'), path.join(lay, 'bin', 'lxl'));
  await writeFile(path.join(lay, 'bin', 'lxl.mjs'), "process.stdout.write(`${process.argv.slice(2).join(' ')}|${process.env.GLIBC_TUNABLES ?? '(unset)'}`);\n");
  const launch = async (args: string[], tunables?: string): Promise<string> => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.GLIBC_TUNABLES;
    if (tunables !== undefined) env.GLIBC_TUNABLES = tunables;
    return (await run(path.join(lay, 'bin', 'lxl'), args, { env })).stdout;
  };
  for (const cmd of ['apt', 'yum', 'keys', 'pack']) assert.equal(await launch([cmd, '--help']), `${cmd} --help|glibc.malloc.hugetlb=1`);
  assert.equal(await launch(['apt', 'list', 'r'], ''), 'apt list r|glibc.malloc.hugetlb=1', 'an empty value is no tunable');
  for (const cmd of ['server', 'up', 'worker', 'tokens']) assert.equal(await launch([cmd, '--help']), `${cmd} --help|(unset)`);
  assert.equal(await launch(['server'], 'glibc.malloc.arena_max=2'), 'server|glibc.malloc.arena_max=2');
  assert.equal(await launch(['yum', 'add'], 'glibc.malloc.arena_max=2'), 'yum add|glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
  assert.equal(await launch(['yum', 'add'], 'glibc.malloc.hugetlb=0'), 'yum add|glibc.malloc.hugetlb=0');
  assert.equal(await launch(['pack'], 'glibc.malloc.hugetlb=2:glibc.malloc.arena_max=1'), 'pack|glibc.malloc.hugetlb=2:glibc.malloc.arena_max=1');
});
