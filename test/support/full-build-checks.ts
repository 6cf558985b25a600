// Checks shared by the tests that run the full kernel pipeline through `lxl worker` (worker-kernel for x86_64,
// worker-i386): every phase ran, the compiles went through ccache when it is installed, and the job's packages are
// byte-identical to those `lxl build` makes from the cached build's staged tree with the job's clock.

import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { CACHE_DIR } from './chroot.js';
import { lxl } from './exec.js';
import { tempDir } from './tmp.js';

const PHASES = ['fetch', 'unpack', 'patch', 'config', 'compile', 'install', 'package', 'upload'];

/** The job log of a full build names every phase, and (with `ccache`) says it compiled through ccache and how many compiles came from it. */
export function assertFullBuildLog(t: TestContext, log: string, ccache: boolean): void {
  for (const p of PHASES) assert.match(log, new RegExp(`== phase ${p}`));
  // With ccache installed (.ci/run installs it) the build compiles through it (--ccache), in the cache the cached
  // build filled when it was made (test/support/kernel-cache.ts; on a machine whose kernel cache predates that, this
  // run fills it instead).
  if (!ccache) {
    t.diagnostic('ccache is not installed: the full build compiled every object');
    return;
  }
  assert.match(log, new RegExp(`compiling through ccache .*, cache ${CACHE_DIR}/ccache`));
  const tally = /^ccache: (\d+) of (\d+) compiles came from the cache/m.exec(log);
  assert.ok(tally && Number(tally[2]) > 1000, `no ccache tally of a whole kernel's compiles in the job log:\n${log.slice(-2000)}`);
  t.diagnostic(tally[0]);
}

/** Reproducible: `lxl build` on the cached kernel's stage with the job's clock gives every artifact of the job, byte for byte. */
export async function assertSameAsCachedBuild(opts: {
  /** The job as the API returns it (its result holds sourceDateEpoch and the artifacts). */
  job: Record<string, any>;
  stageDir: string;
  arch: 'x86_64' | 'i386';
  version: string;
}): Promise<void> {
  const dir = await tempDir(`lxl-again-${opts.arch}-`);
  const again = await lxl(['build', '--line', '6.1', '--arch', opts.arch, '--version', opts.version, '--out', path.join(dir, 'out'), '--work-dir', path.join(dir, 'w'), '--stage-from', opts.stageDir], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(opts.job.result.sourceDateEpoch) },
  });
  const sums = new Map(again.stdout.trim().split('\n').map((l) => [path.basename(l.split(/\s+/)[1]), l.split(/\s+/)[0]] as const));
  const artifacts = opts.job.result.artifacts as Array<{ filename: string; sha256: string }>;
  assert.ok(artifacts.length >= 3, `the job made ${artifacts.length} artifacts: ${JSON.stringify(artifacts)}`);
  for (const a of artifacts) assert.equal(sums.get(a.filename), a.sha256, `${a.filename} differs between two builds`);
}
