// Benchmark: publish 2,000 small debs as an APT repo with lxl, reprepro and
// aptly, side by side in one run, and print the ratios.
//   npx tsx bench/apt-index/run.ts [--count 2000] [--keep]
// Times: full = add every deb + export/publish signed indices;
// incremental = add one more deb + export/publish. lxl is timed both through
// its CLI (process start included) and in-process (what the server does).

import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDeb } from '../../test/support/apt-debs.js';
import { generateKey } from '../../repo-layout/signing/keys.js';
import { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { JsonAptCatalog } from '../../repo-layout/apt/apt-catalog.js';
import { addDebs } from '../../repo-layout/apt/apt-changes.js';
import { publishApt } from '../../repo-layout/apt/apt-publish.js';

const args = process.argv.slice(2);
const count = Number(args[args.indexOf('--count') + 1] ?? 2000) || 2000;
const keep = args.includes('--keep');
const here = path.dirname(fileURLToPath(import.meta.url));
const lxlBin = path.join(here, '..', '..', 'bin', 'lxl.mjs');

function sh(cmd: string, argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { cwd: opts.cwd, env: opts.env ?? process.env, input: opts.input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.slice(0, 6).join(' ')} … failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return s;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** aptly conflicts with gpgv1 (which other tests need), so unless it is installed, unpack its .deb into the cache. */
async function findAptly(): Promise<string | undefined> {
  if (have('aptly')) return 'aptly';
  const dir = path.join(process.env.LXL_TEST_CACHE ?? '/var/cache/lxl-test', 'aptly');
  const bin = path.join(dir, 'root', 'usr', 'bin', 'aptly');
  if (spawnSync(bin, ['version']).status === 0) return bin;
  await mkdir(dir, { recursive: true });
  const dl = spawnSync('sh', ['-c', 'apt-get download aptly && dpkg-deb -x aptly_*.deb root'], { cwd: dir, stdio: 'inherit' });
  return dl.status === 0 && spawnSync(bin, ['version']).status === 0 ? bin : undefined;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'lxl-bench-apt-'));
const debDir = path.join(work, 'debs');
await mkdir(debDir);
const arches = ['x86_64', 'i386', 'all'] as const;
console.log(`generating ${count} + 1 debs with lxl's deb writer in ${work} ...`);
let t = await timed(async () => {
  for (let i = 0; i < count + 1; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count + 1 - i) }, (_, j) => {
        const n = i + j;
        return makeDeb(debDir, { name: `bench-pkg-${String(n).padStart(5, '0')}`, version: `1.${n % 7}-${(n % 3) + 1}`, arch: arches[n % 3] });
      }),
    );
  }
});
const all = (await readdir(debDir)).filter((f) => f.endsWith('.deb')).sort().map((f) => path.join(debDir, f));
const extra = all.pop() as string;
console.log(`  ${all.length} debs in ${t.toFixed(2)} s`);

// One RSA-4096 key for every tool.
const key = await generateKey({ name: 'lxl bench', email: 'bench@lxl.test', algorithm: 'rsa4096' });
const keyFile = path.join(work, 'bench.secret.asc');
await writeFile(keyFile, key.secretArmored, { mode: 0o600 });
const gnupg = path.join(work, 'gnupg');
await mkdir(gnupg, { mode: 0o700 });
const genv = { ...process.env, GNUPGHOME: gnupg };
sh('gpg', ['--batch', '--import', keyFile], { env: genv });

const results: Record<string, { full?: number; inc?: number }> = {};

// lxl through the CLI: one process adds and publishes.
{
  const repo = path.join(work, 'lxl-cli');
  const full = sh(process.execPath, [lxlBin, 'apt', 'add', repo, ...all, '--key', keyFile]);
  const inc = sh(process.execPath, [lxlBin, 'apt', 'add', repo, extra, '--key', keyFile]);
  const start = sh(process.execPath, [lxlBin, '--help']);
  results['lxl (CLI)'] = { full, inc };
  console.log(`  lxl CLI process start alone: ${start.toFixed(2)} s`);
}
// lxl in process (the server's path): same work without process start; default xz preset and the fast one.
for (const xzLevel of [6, 1]) {
  const repo = path.join(work, `lxl-lib-xz${xzLevel}`);
  const storage = new FsStorage({ root: path.join(repo, 'public') });
  const catalog = new JsonAptCatalog({ stateDir: path.join(repo, 'state') });
  const signer = await OpenPgpSigner.fromArmored(key.secretArmored);
  const publish = () => publishApt({ storage, catalog, signer, origin: 'lxl', label: 'lxl', xzLevel });
  const full = await timed(async () => {
    await addDebs({ storage, catalog, suite: 'stable', files: all });
    await publish();
  });
  const inc = await timed(async () => {
    await addDebs({ storage, catalog, suite: 'stable', files: [extra] });
    await publish();
  });
  results[`lxl (lib, xz -${xzLevel})`] = { full, inc };
}
if (have('reprepro')) {
  const base = path.join(work, 'reprepro');
  await mkdir(path.join(base, 'conf'), { recursive: true });
  await writeFile(
    path.join(base, 'conf', 'distributions'),
    `Codename: stable\nSuite: stable\nArchitectures: amd64 i386\nComponents: main\nSignWith: ${key.fingerprint}\n`,
  );
  const full = sh('reprepro', ['-b', base, '--silent', 'includedeb', 'stable', ...all], { env: genv });
  const inc = sh('reprepro', ['-b', base, '--silent', 'includedeb', 'stable', extra], { env: genv });
  results.reprepro = { full, inc };
} else console.log('  reprepro not installed: skipped');
const aptly = await findAptly();
if (aptly) {
  const root = path.join(work, 'aptly');
  const conf = path.join(work, 'aptly.conf');
  await writeFile(conf, JSON.stringify({ rootDir: root, architectures: ['amd64', 'i386'], gpgProvider: 'gpg2' }));
  const a = (...x: string[]) => sh(aptly, [`-config=${conf}`, ...x], { env: genv });
  a('repo', 'create', '-distribution=stable', '-component=main', 'bench');
  const full = a('repo', 'add', 'bench', ...all) + a('publish', 'repo', '-batch', `-gpg-key=${key.fingerprint}`, 'bench');
  const inc = a('repo', 'add', 'bench', extra) + a('publish', 'update', '-batch', `-gpg-key=${key.fingerprint}`, 'stable');
  results.aptly = { full, inc };
} else console.log('  aptly not available (apt-get download aptly failed): skipped');

console.log('\nresults (seconds):');
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(20)} full ${v.full?.toFixed(3) ?? '-'}  incremental ${v.inc?.toFixed(3) ?? '-'}`);
const lxl = results['lxl (CLI)'];
const lib = results['lxl (lib, xz -6)'];
const fast = results['lxl (lib, xz -1)'];
const fastestFull = Math.min(results.reprepro?.full ?? Infinity, results.aptly?.full ?? Infinity);
if (Number.isFinite(fastestFull)) {
  console.log(`\nfull publish / fastest other (target <= 0.5): CLI ${(lxl.full! / fastestFull).toFixed(2)}, lib ${(lib.full! / fastestFull).toFixed(2)}, lib xz -1 ${(fast.full! / fastestFull).toFixed(2)}`);
}
if (results.reprepro?.inc) {
  console.log(`incremental add / reprepro (target <= 1.0): CLI ${(lxl.inc! / results.reprepro.inc).toFixed(2)}, lib ${(lib.inc! / results.reprepro.inc).toFixed(2)}, lib xz -1 ${(fast.inc! / results.reprepro.inc).toFixed(2)}`);
}
if (!keep) await rm(work, { recursive: true, force: true });
else console.log(`kept ${work}`);
