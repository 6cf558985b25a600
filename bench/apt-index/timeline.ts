// Where a CLI full `lxl apt add --link` of 2,000 debs spends its time, phase by
// phase, for one start-up snapshot or two side by side (an A/B of a change).
// Sessions 30-32 measured this way by hand; this script keeps the method:
//   - the snapshot bundle (dist/snapshot/lxl.cjs) is copied and marks are put
//     in at the phase edges (a run's start, the first and last .deb read, the
//     pool links made, each publish step, the exit), each written to stderr
//     with the milliseconds since the run was started;
//   - a blob is built from each marked copy, beside it;
//   - the runs alternate between A and B, each into a fresh repo, and the
//     medians of each phase are printed.
// The work folder defaults to /dev/shm (tmpfs), where ext4's cost of new
// inodes after big deletions (README, Benchmarks) does not swing the links.
// Usage: node --import tsx bench/apt-index/timeline.ts [--a DIR] [--b DIR]
//          [--pairs 8] [--count 2000] [--work DIR]
// where DIR is a build's dist/snapshot (default: this checkout's).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey } from '../../repo-layout/signing/keys.js';
import { makeBenchDebs } from './bench-debs.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const builds = [opt('--a', path.join(top, 'dist/snapshot')), ...(args.includes('--b') ? [opt('--b', '')] : [])];
const pairs = Number(opt('--pairs', '8'));
const count = Number(opt('--count', '2000'));
const work = await mkdtemp(path.join(opt('--work', existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()), 'lxl-timeline-'));

/** Marks put into the bundle: [what is found, what it becomes]; `M(name)` writes a mark. */
const M = (name: string): string => `globalThis.__lxlMark&&globalThis.__lxlMark(${JSON.stringify(name)});`;
const MARKS: Array<[string, string]> = [
  ['setDeserializeMainFunction(()=>{', `setDeserializeMainFunction(()=>{{const t0=Number(process.env.LXL_TIMELINE_T0);globalThis.__lxlMark=(x)=>process._rawDebug("MARK "+x+" "+(Date.now()-t0));}${M('start')}process.on("exit",()=>{${M('exit')}});`],
  ['async function*items(){for await', `async function*items(){${M('reads-start')}for await`],
  ['allRead(recs)}', `${M('reads-end')}allRead(recs)}`],
  ['await storage.linkFiles(items(),{deferSync:poolDurability!==void 0});', `await storage.linkFiles(items(),{deferSync:poolDurability!==void 0});${M('links-end')}`],
  ['const step=opts.onStep??(()=>{});', 'const step=(x)=>{globalThis.__lxlMark&&globalThis.__lxlMark("publish-"+x);(opts.onStep??(()=>{}))(x)};'],
];

/** A marked copy of a build's bundle, with its blob; returns the blob's path. */
async function markedBlob(snapshotDir: string, label: string): Promise<string> {
  const dir = path.join(work, `blob-${label}`);
  await mkdir(dir);
  let text = await readFile(path.join(snapshotDir, 'lxl.cjs'), 'utf8');
  for (const [find, put] of MARKS) {
    if (!text.includes(find)) throw new Error(`${snapshotDir}/lxl.cjs has no ${JSON.stringify(find)}: the bundle changed, update MARKS in bench/apt-index/timeline.ts`);
    text = text.replace(find, put);
  }
  await writeFile(path.join(dir, 'lxl.cjs'), text);
  // The packages the bundle requires at run time resolve next to the blob: from the build's node_modules.
  await symlink(path.resolve(snapshotDir, '../../node_modules'), path.join(dir, 'node_modules'));
  // stdout piped: Node 20's snapshot builder aborts when its stdout is /dev/null (as bin/build.mjs, which pipes it, never sees).
  const r = spawnSync(process.execPath, ['--snapshot-blob', 'lxl.blob', '--build-snapshot', 'lxl.cjs'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`building the marked blob of ${snapshotDir} failed (${r.status ?? r.signal}): ${r.stderr.split('\n').filter((l) => !/not yet fully verified|may still work|request support|trace-warnings/.test(l)).join('\n').slice(0, 2000)}`);
  return path.join(dir, 'lxl.blob');
}

console.log(`timeline: ${count} debs, ${pairs} run(s) per build, in ${work}`);
const debs = await makeBenchDebs(path.join(work, 'debs'), count);
const keyFile = path.join(work, 'key.asc');
await writeFile(keyFile, (await generateKey({ name: 'lxl timeline', email: 'timeline@lxl.test', algorithm: 'rsa4096' })).secretArmored, { mode: 0o600 });
const blobs = await Promise.all(builds.map((b, i) => markedBlob(b, 'AB'[i])));

type Phases = Record<string, number>;
const runs: Phases[][] = builds.map(() => []);
let n = 0;
for (let p = 0; p < pairs; p++) {
  // A then B, then B then A: neither always runs first.
  const order = blobs.map((_, i) => i);
  if (p % 2 === 1) order.reverse();
  for (const i of order) {
    const repo = path.join(work, `repo-${n++}`);
    const r = spawnSync(process.execPath, ['--snapshot-blob', blobs[i], 'apt', 'add', repo, ...debs, '--key', keyFile, '--link'], {
      encoding: 'utf8',
      env: { ...process.env, LXL_TIMELINE_T0: String(Date.now()), GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' },
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new Error(`lxl apt add failed (${r.status}): ${r.stderr.slice(-2000)}`);
    const at: Phases = {};
    for (const m of r.stderr.matchAll(/^MARK (\S+) (\d+)$/gm)) at[m[1]] ??= Number(m[2]);
    runs[i].push({
      start: at.start,
      reads: at['reads-end'] - at['reads-start'],
      'links after reads': at['links-end'] - at['reads-end'],
      publish: at['publish-done'] - at['publish-retention'],
      total: at.exit,
    });
    await rm(repo, { recursive: true, force: true });
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
console.log(`medians, ms since the run was started (${pairs} runs each):`);
for (const phase of Object.keys(runs[0][0])) {
  console.log(`  ${phase.padEnd(18)} ${builds.map((b, i) => `${'AB'[i]} ${String(median(runs[i].map((r) => r[phase]))).padStart(4)}`).join('   ')}`);
}
builds.forEach((b, i) => console.log(`  ${'AB'[i]}: ${b}`));
await rm(work, { recursive: true, force: true });
