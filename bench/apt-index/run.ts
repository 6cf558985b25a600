// Benchmark: publish 2,000 small debs as an APT repo with lxl, reprepro and
// aptly, side by side in one run, and print the ratios.
//   npx tsx bench/apt-index/run.ts [--count 2000] [--runs 3] [--keep]
// LXL_BENCH_NODE=<node binary> runs the CLI rows on another Node (default: this one).
// --floor adds two analysis rows, outside the targets: the CLI's full `--link`
// add into a repo whose pool folders exist already, and one whose Packages.xz
// blocks are cached as well (both made untimed from that round's `--link`
// repo), so the run shows what the CLI row costs without the two biggest items.
// Each of the --runs rounds runs every tool once (fresh repos), so a slow
// minute on a shared machine hits them all; medians are reported.
// Times: full = add every deb + export/publish signed indices;
// incremental = add one more deb + export/publish. lxl is timed both through
// its CLI (process start included) and in-process, each copying the debs into
// the pool and hard-linking them (`--link`; what the server does with its
// content-addressed artifacts, and what aptly does with every input file).
// Same index formats where the tools allow: lxl writes Packages + .gz + .xz +
// by-hash; reprepro is set to export Packages + .gz + .xz (it has no by-hash);
// aptly (no .xz support) writes Packages + .gz + by-hash, with its Contents
// and .bz2 indices switched off. All sign with the same RSA-4096 key.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBenchDebs } from './bench-debs.js';
import { findAptly } from '../../test/support/aptly.js';
import { generateKey } from '../../repo-layout/signing/keys.js';
import type * as SignerModule from '../../repo-layout/signing/openpgp-signer.js';
import type * as FsStorageModule from '../../storage/fs-storage.js';
import type * as CatalogModule from '../../repo-layout/apt/apt-catalog.js';
import type * as ChangesModule from '../../repo-layout/apt/apt-changes.js';
import type * as PublishModule from '../../repo-layout/apt/apt-publish.js';
import type * as XzModule from '../../repo-layout/apt/packages-xz.js';
import { lxlModule, modulesLabel } from '../lxl-modules.js';

// The in-process rows run what the server runs: the compiled modules when dist/ is current.
const { OpenPgpSigner } = await lxlModule<typeof SignerModule>('repo-layout/signing/openpgp-signer');
const { FsStorage } = await lxlModule<typeof FsStorageModule>('storage/fs-storage');
const { JsonAptCatalog } = await lxlModule<typeof CatalogModule>('repo-layout/apt/apt-catalog');
const { addDebs } = await lxlModule<typeof ChangesModule>('repo-layout/apt/apt-changes');
const { publishApt } = await lxlModule<typeof PublishModule>('repo-layout/apt/apt-publish');
const { FsXzBlockCache } = await lxlModule<typeof XzModule>('repo-layout/apt/packages-xz');

const args = process.argv.slice(2);
const count = Number(args[args.indexOf('--count') + 1] ?? 2000) || 2000;
const keep = args.includes('--keep');
const floor = args.includes('--floor');
const runs = Math.max(1, Number(args[args.indexOf('--runs') + 1] ?? 3) || 3);
const here = path.dirname(fileURLToPath(import.meta.url));
// The Node that runs the CLI rows (LXL_BENCH_NODE=/path/to/node, e.g. a Node 22 from `npx -y node@22 -p process.execPath`).
const cliNode = process.env.LXL_BENCH_NODE ?? process.execPath;
// bin/lxl, as users run it: the `node` it starts is the first on PATH, so cliNode's folder goes first.
const lxlBin = path.join(here, '..', '..', 'bin', 'lxl');
const cliEnv = { ...process.env, PATH: `${path.dirname(cliNode)}:${process.env.PATH ?? ''}` };

/** Wall-clock seconds and CPU seconds (user + system, this process and its waited-for children such as xz, gpg or the tool itself). */
interface Sample {
  wall: number;
  cpu: number;
}

/** CPU seconds used so far by this process (all threads) plus its reaped children (/proc/self/stat cutime + cstime). */
function cpuNow(): number {
  const u = process.cpuUsage();
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (u.user + u.system) / 1e6 + (Number(f[13]) + Number(f[14])) / 100;
}

function plus(a: Sample, b: Sample): Sample {
  return { wall: a.wall + b.wall, cpu: a.cpu + b.cpu };
}

function sh(cmd: string, argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Sample {
  const t0 = process.hrtime.bigint();
  const c0 = cpuNow();
  const r = spawnSync(cmd, argv, { cwd: opts.cwd, env: opts.env ?? process.env, input: opts.input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const out = { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: cpuNow() - c0 };
  if (r.status !== 0) throw new Error(`${cmd} ${argv.slice(0, 6).join(' ')} … failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return out;
}

async function timed(fn: () => Promise<unknown>): Promise<Sample> {
  const t0 = process.hrtime.bigint();
  const c0 = cpuNow();
  await fn();
  return { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: cpuNow() - c0 };
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'lxl-bench-apt-'));
console.log(`generating ${count} + 1 debs with lxl's deb writer in ${work} ...`);
let all: string[] = [];
let t = await timed(async () => {
  all = await makeBenchDebs(path.join(work, 'debs'), count + 1);
});
const extra = all.pop() as string;
console.log(`  ${all.length} debs in ${t.wall.toFixed(2)} s`);

// One RSA-4096 key for every tool.
const key = await generateKey({ name: 'lxl bench', email: 'bench@lxl.test', algorithm: 'rsa4096' });
const keyFile = path.join(work, 'bench.secret.asc');
await writeFile(keyFile, key.secretArmored, { mode: 0o600 });
const gnupg = path.join(work, 'gnupg');
await mkdir(gnupg, { mode: 0o700 });
const genv = { ...process.env, GNUPGHOME: gnupg };
sh('gpg', ['--batch', '--import', keyFile], { env: genv });

/** Every round's samples per tool; the report uses their medians. */
const rounds: Record<string, { full: Sample[]; inc: Sample[] }> = {};
const record = (tool: string, full: Sample, inc: Sample): void => {
  rounds[tool] ??= { full: [], inc: [] };
  rounds[tool].full.push(full);
  rounds[tool].inc.push(inc);
};

// lxl through the CLI: one process adds and publishes. bin/lxl.mjs runs the compiled dist/ when it is current (npm run build), else tsx.
// @ts-expect-error plain ESM helper without types
const { distIsCurrent } = (await import('../../bin/dist-current.mjs')) as { distIsCurrent: () => boolean };
const cliMode = (): string => {
  // What bin/lxl does for `lxl apt` (the start-up snapshot, or bin/lxl.mjs and why), and what bin/lxl.mjs runs.
  const launch = spawnSync(lxlBin, ['apt', '--help'], { env: { ...cliEnv, LXL_LAUNCH_DEBUG: '1' } }).stderr.toString().trim().replace(/^lxl: /, '');
  return launch.startsWith('starting from') ? launch : `${launch}, which runs ${distIsCurrent() ? 'the compiled dist/' : 'tsx (dist/ missing or older than the sources: npm run build)'}`;
};
const cliNodeVersion = spawnSync(cliNode, ['--version']).stdout.toString().trim();
console.log(`  lxl CLI runs: ${cliMode()} on Node ${cliNodeVersion} (LXL_BENCH_NODE); in-process rows run: ${modulesLabel} on Node ${process.version}; ${runs} round(s), each running every tool once`);
const aptly = await findAptly();
if (!have('reprepro')) console.log('  reprepro not installed: skipped');
if (!aptly) console.log('  aptly not available (apt-get download aptly failed): skipped');
const last = runs - 1;
const fsProbe = (): void => void spawnSync(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fs-probe.mjs'), work], { stdio: 'inherit' });
fsProbe();
// Each round runs every tool once, in an order rotated from round to round, so no tool always runs first (right
// after the debs are made, or right after another tool's writes), and nothing is deleted until the end: on ext4
// without a journal, deleting thousands of files makes every file created in the next minutes slower (the kernel
// skips recently deleted inodes one by one; bench/fs-probe.mjs), which would tax whichever tool ran next.
type Tool = (base: string, round: number) => Promise<void>;
const lxlCli: Tool = async (base, round) => {
  for (const link of [false, true]) {
    const repo = path.join(base, link ? 'lxl-cli-link' : 'lxl-cli');
    const flags = link ? ['--link'] : [];
    const full = sh(lxlBin, ['apt', 'add', repo, ...all, '--key', keyFile, ...flags], { env: cliEnv });
    // Before the incremental add: the floor rows start from the state this full add left.
    if (link && floor) await floorRows(base, repo);
    const inc = sh(lxlBin, ['apt', 'add', repo, extra, '--key', keyFile, ...flags], { env: cliEnv });
    record(link ? 'lxl (CLI --link)' : 'lxl (CLI)', full, inc);
    if (link && round === last) {
      const start = sh(lxlBin, ['apt', '--help'], { env: cliEnv });
      console.log(`  lxl CLI ran: ${cliMode()} (checked again after the runs)`);
      console.log(`  lxl CLI process start alone (lxl apt --help: what the apt rows load): ${start.wall.toFixed(2)} s wall, ${start.cpu.toFixed(2)} s CPU`);
    }
  }
};
/** --floor: what a full CLI `--link` add costs with its pool folders made beforehand, and its Packages.xz blocks cached too. */
const floorRuns: Record<string, Sample[]> = {};
const floorRows = async (base: string, made: string): Promise<void> => {
  const dirs = spawnSync('find', ['apt/pool', '-type', 'd'], { cwd: path.join(made, 'public') }).stdout.toString().trim().split('\n');
  for (const [label, xz] of [
    ['pool folders made', false],
    ['folders made + xz blocks cached', true],
  ] as const) {
    const repo = path.join(base, `lxl-cli-floor${xz ? '-xz' : ''}`);
    // Made untimed, before the add; the add finds an empty repo otherwise (no catalogue, nothing published).
    for (const d of dirs) await mkdir(path.join(repo, 'public', d), { recursive: true });
    if (xz) await cp(path.join(made, 'state', 'apt', 'xz-blocks'), path.join(repo, 'state', 'apt', 'xz-blocks'), { recursive: true });
    (floorRuns[label] ??= []).push(sh(lxlBin, ['apt', 'add', repo, ...all, '--key', keyFile, '--link'], { env: cliEnv }));
  }
};
// lxl in process: the same work without process start, copying the debs, and linking them (the server's path:
// it links its content-addressed artifacts). Returns each full add's sample; `record: false` keeps them out of the medians.
const lxlLib = async (base: string, opts: { record?: boolean } = {}): Promise<Record<string, Sample>> => {
  const firsts: Record<string, Sample> = {};
  for (const link of [false, true]) {
    const xzLevel = 6;
    const repo = path.join(base, link ? 'lxl-lib-link' : 'lxl-lib');
    const storage = new FsStorage({ root: path.join(repo, 'public') });
    const catalog = new JsonAptCatalog({ stateDir: path.join(repo, 'state') });
    const signer = await OpenPgpSigner.fromArmored(key.secretArmored);
    // The Packages.xz block cache in the state folder, as the server and the CLI keep it.
    const xzBlockCache = new FsXzBlockCache(path.join(repo, 'state', 'apt', 'xz-blocks'));
    // As the server and the CLI do: the pool files the add just stored are not checked again, and their flush overlaps
    // the publish's first steps.
    const addAndPublish = async (files: string[]) => {
      let poolDurable: Promise<void> | undefined;
      const added = await addDebs({ storage, catalog, suite: 'stable', files, link, xz: { cache: xzBlockCache, level: xzLevel }, poolDurability: (d) => (poolDurable = d) });
      await publishApt({ storage, catalog, signer, origin: 'lxl', label: 'lxl', xzLevel, xzBlockCache, poolFilesPresent: new Set(added.map((x) => x.record.filename)), poolDurable });
    };
    // As the server adds: the publish's Packages.xz blocks compress while the pool files are stored, and the
    // catalogue is written once per add + publish.
    const full = await timed(() =>
      catalog.inOneWrite(async () => {
        await addAndPublish(all);
      }),
    );
    const inc = await timed(() =>
      catalog.inOneWrite(async () => {
        await addAndPublish([extra]);
      }),
    );
    if (opts.record !== false) record(link ? 'lxl (lib, link)' : 'lxl (lib)', full, inc);
    firsts[link ? 'link' : 'copy'] = full;
  }
  return firsts;
};
const reprepro: Tool = async (base) => {
  const dir = path.join(base, 'reprepro');
  await mkdir(path.join(dir, 'conf'), { recursive: true });
  await writeFile(
    path.join(dir, 'conf', 'distributions'),
    `Codename: stable\nSuite: stable\nArchitectures: amd64 i386\nComponents: main\nDebIndices: Packages Release . .gz .xz\nSignWith: ${key.fingerprint}\n`,
  );
  const full = sh('reprepro', ['-b', dir, '--silent', 'includedeb', 'stable', ...all], { env: genv });
  const inc = sh('reprepro', ['-b', dir, '--silent', 'includedeb', 'stable', extra], { env: genv });
  record('reprepro', full, inc);
};
const aptlyTool = (bin: string): Tool => async (base) => {
  const root = path.join(base, 'aptly');
  const conf = path.join(base, 'aptly.conf');
  await writeFile(conf, JSON.stringify({ rootDir: root, architectures: ['amd64', 'i386'], gpgProvider: 'gpg2' }));
  const a = (...x: string[]) => sh(bin, [`-config=${conf}`, ...x], { env: genv });
  a('repo', 'create', '-distribution=stable', '-component=main', 'bench');
  const pub = ['-batch', `-gpg-key=${key.fingerprint}`, '-skip-contents', '-skip-bz2'];
  const full = plus(a('repo', 'add', 'bench', ...all), a('publish', 'repo', ...pub, '-acquire-by-hash', 'bench'));
  const inc = plus(a('repo', 'add', 'bench', extra), a('publish', 'update', ...pub, 'stable'));
  record('aptly', full, inc);
};
const tools: Array<[string, Tool]> = [['lxl CLI', lxlCli], ['lxl in-process', (base) => lxlLib(base).then(() => undefined)]];
if (have('reprepro')) tools.push(['reprepro', reprepro]);
if (aptly) tools.push(['aptly', aptlyTool(aptly)]);
// The in-process rows time a long-running process, as the server is: its code has run before (V8 has compiled it),
// so one full add + publish of the same debs into a scratch repo runs first, untimed for the medians; its times
// (the first publish of a fresh process: the code still cold) are printed on their own.
const first = await lxlLib(path.join(work, 'warm-up'), { record: false });
console.log(`  in-process warm-up (the first full add + publish of this process, into a scratch repo; not in the medians): copy ${first.copy.wall.toFixed(3)} s, link ${first.link.wall.toFixed(3)} s`);
const orders: string[] = [];
for (let round = 0; round < runs; round++) {
  const base = path.join(work, `round-${round}`);
  await mkdir(base, { recursive: true });
  const order = tools.map((_, i) => tools[(i + round) % tools.length]);
  orders.push(order.map(([name]) => name).join(', '));
  for (const [, run] of order) await run(base, round);
}
console.log(`  tool order per round (rotated): ${orders.map((o, i) => `${i + 1}: ${o}`).join('; ')}`);

/** The median sample (wall and CPU medians taken separately). */
function median(xs: Sample[]): Sample {
  const mid = (v: number[]): number => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  return { wall: mid(xs.map((x) => x.wall)), cpu: mid(xs.map((x) => x.cpu)) };
}
const results: Record<string, { full?: Sample; inc?: Sample }> = Object.fromEntries(
  Object.entries(rounds).map(([k, v]) => [k, { full: median(v.full), inc: median(v.inc) }]),
);
const spread = (xs: Sample[]): string => `${Math.min(...xs.map((x) => x.wall)).toFixed(2)}-${Math.max(...xs.map((x) => x.wall)).toFixed(2)}`;

for (const [tool, dir] of [['lxl', 'lxl-lib/public/apt'], ['reprepro', 'reprepro'], ['aptly', 'aptly/public']]) {
  const ls = spawnSync('sh', ['-c', `cd ${JSON.stringify(path.join(work, `round-${last}`, dir))} 2>/dev/null && find dists -path '*by-hash/*' -prune -o -type f -print | sed 's|.*/||' | sort -u | tr '\\n' ' '; find dists -type d -name by-hash | head -1 | grep -q . && echo '+ by-hash'`]);
  console.log(`  ${tool} writes: ${ls.stdout.toString().trim() || '(not run)'}`);
}
console.log(`  load: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (1/5/15 min)`);
fsProbe();
console.log(`\nresults: medians of ${runs} round(s) (seconds; wall clock, and CPU = user + system of the tool and its children; [wall range]):`);
const f = (x?: Sample) => (x ? `${x.wall.toFixed(3)} (CPU ${x.cpu.toFixed(2)})` : '-');
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(20)} full ${f(v.full).padEnd(20)} [${spread(rounds[k].full)}]  incremental ${f(v.inc).padEnd(20)} [${spread(rounds[k].inc)}]`);
const ratios = (what: 'full' | 'inc', ref: number, refCpu: number): string =>
  ['lxl (CLI)', 'lxl (CLI --link)', 'lxl (lib)', 'lxl (lib, link)']
    .map((k) => `${k.replace('lxl ', '')} ${(results[k][what]!.wall / ref).toFixed(2)} (CPU ${(results[k][what]!.cpu / refCpu).toFixed(2)})`)
    .join(', ');
const others = [results.reprepro?.full, results.aptly?.full].filter((x): x is Sample => !!x);
if (others.length > 0) {
  const wall = Math.min(...others.map((x) => x.wall));
  const cpu = Math.min(...others.map((x) => x.cpu));
  console.log(`\nfull publish / fastest other (target <= 0.5): ${ratios('full', wall, cpu)}`);
}
if (floor && others.length > 0) {
  const wall = Math.min(...others.map((x) => x.wall));
  console.log(`\nfloor (analysis, not a target): CLI --link full ${f(results['lxl (CLI --link)'].full)}, ${(results['lxl (CLI --link)'].full!.wall / wall).toFixed(2)} of the fastest other`);
  for (const [label, xs] of Object.entries(floorRuns)) console.log(`  with ${label}: ${f(median(xs))} [${spread(xs)}], ${(median(xs).wall / wall).toFixed(2)} of the fastest other`);
}
if (results.reprepro?.inc) console.log(`incremental add / reprepro (target <= 1.0): ${ratios('inc', results.reprepro.inc.wall, results.reprepro.inc.cpu)}`);
if (!keep) await rm(work, { recursive: true, force: true });
else console.log(`kept ${work}`);
