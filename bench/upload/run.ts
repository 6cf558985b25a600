// Benchmark: ingest a 1 GiB rpm over loopback into a real `lxl server`
// (its own process, SQLite, embedded mode) with curl, against `cp` of the
// same file on the same disk; prints the throughput ratio (target ≥ 0.7× cp)
// and the server's peak RSS (VmHWM; target < 150 MB).
//   bench/upload/run.sh [--runs 3] [--size-mib 1024] [--server-cmd "node dist/cli/main.js"]
// The upload is timed from curl's first byte to the server's 201: streaming,
// sha256, fsync, the rpm checks (header digests, payload digest, MD5),
// the content-address commit and the catalogue row. `cp` is timed alone and
// with an fsync (dd conv=fsync), since the server makes every upload durable.
// The rpm (gzip -1 of random bytes) is made once under $LXL_TEST_CACHE/bench/upload.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { resolveSpec } from '../../repo-layout/model.js';
import { writeRpm } from '../../repo-layout/rpm/rpm-writer.js';
import { defaultRepoSettings } from '../../server/metadata-store.js';
import { SqliteStore } from '../../server/sqlite-store.js';
import { createToken } from '../../server/tokens.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const runs = Number(opt('--runs', '3'));
const sizeMiB = Number(opt('--size-mib', '1024'));
const here = path.dirname(fileURLToPath(import.meta.url));
const top = path.resolve(here, '..', '..');
const serverCmd = opt('--server-cmd', `${process.execPath} ${path.join(top, 'bin', 'lxl.mjs')}`).split(' ');
const cache = path.join(process.env.LXL_TEST_CACHE ?? '/var/cache/lxl-test', 'bench', 'upload');
const KREL = '6.1.192-xen-legacy';

/** The big rpm, made once: one file of random bytes in boot/, gzip level 1. */
async function bigRpm(): Promise<string> {
  const file = path.join(cache, `kernel-xen-legacy-${sizeMiB}m.rpm`);
  if (existsSync(file)) return file;
  await mkdir(cache, { recursive: true });
  const tree = await mkdtemp(path.join(cache, 'tree-'));
  try {
    await mkdir(path.join(tree, 'root', 'boot'), { recursive: true });
    execFileSync('sh', ['-c', `head -c ${sizeMiB}M /dev/urandom > '${path.join(tree, 'root', 'boot', `vmlinuz-${KREL}`)}'`]);
    const spec = await resolveSpec(
      { name: 'kernel-xen-legacy', version: '6.1.192-1', arch: 'x86_64', maintainer: 'bench <bench@lxl.test>', summary: 'upload bench', root: 'root', sourceDateEpoch: 1_700_000_000 },
      { baseDir: tree },
    );
    await writeRpm(spec, createWriteStream(`${file}.part`), { compression: 'gzip', level: 1, tmpDir: cache });
    await rename(`${file}.part`, file);
    return file;
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), async function* (src) {
    for await (const c of src) h.update(c as Buffer);
  });
  return h.digest('hex');
}

function timed(cmd: string, argv: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status})`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function status(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) / 1024);
}

interface UploadRun {
  seconds: number;
  idleRssMiB: number;
  peakRssMiB: number;
}

/** One fresh server (own var folder on the bench disk), one curl upload; returns its time and the server's memory. */
async function uploadOnce(rpm: string, sha256: string, size: number, work: string): Promise<UploadRun> {
  const varDir = await mkdtemp(path.join(work, 'var-'));
  const db = new SqliteStore({ file: path.join(varDir, 'lxl.db') });
  await db.migrate();
  const token = (await createToken(db, { name: 'bench', scopes: ['builder'] }, 'bench')).token;
  await db.createRepo('main', defaultRepoSettings({ lines: ['6.1'] }), 'bench');
  await db.close();
  const [cmd, ...pre] = serverCmd;
  const child = spawn(cmd!, [...pre, 'server', '--var', varDir, '--listen', '127.0.0.1:0', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`lxl server exited ${code} before listening`)));
    });
    await new Promise((r) => setTimeout(r, 300));
    const idleRssMiB = await status(child.pid!, 'VmRSS');
    const t = process.hrtime.bigint();
    const r = spawnSync('curl', [
      '-sS', '-o', path.join(varDir, 'response.json'), '-w', '%{http_code}', '-H', 'Expect:', '-H', `Authorization: Bearer ${token}`,
      '-F', `file=@${rpm};filename=kernel-xen-legacy-6.1.192-1.x86_64.rpm;type=application/x-rpm`,
      '-F', `sha256=${sha256}`, '-F', `size=${size}`, '-F', 'line=6.1',
      `${url}/api/v1/repos/main/uploads`,
    ], { encoding: 'utf8' });
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    if (r.stdout !== '201') throw new Error(`upload got ${r.stdout} ${r.stderr}: ${await readFile(path.join(varDir, 'response.json'), 'utf8').catch(() => '')}`);
    const peakRssMiB = await status(child.pid!, 'VmHWM');
    return { seconds, idleRssMiB, peakRssMiB };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    await rm(varDir, { recursive: true, force: true });
  }
}

const rpm = await bigRpm();
const { size } = await stat(rpm);
const sha256 = await sha256Of(rpm); // also warms the page cache, as for cp
const work = await mkdtemp(path.join(path.dirname(cache), 'upload-work-'));
try {
  const mib = size / (1 << 20);
  console.log(`file: ${rpm} (${mib.toFixed(0)} MiB), work dir ${work} (same disk), ${os.availableParallelism()} CPUs, server: ${serverCmd.join(' ')}`);
  const cp: number[] = [];
  const cpSync: number[] = [];
  const up: UploadRun[] = [];
  for (let i = 0; i < runs; i++) {
    const dst = path.join(work, 'copy');
    cp.push(timed('cp', [rpm, dst]));
    await rm(dst);
    cpSync.push(timed('dd', [`if=${rpm}`, `of=${dst}`, 'bs=1M', 'conv=fsync', 'status=none']));
    await rm(dst);
    execFileSync('sync');
    up.push(await uploadOnce(rpm, sha256, size, work));
    execFileSync('sync');
  }
  const tCp = median(cp);
  const tCpSync = median(cpSync);
  const tUp = median(up.map((u) => u.seconds));
  const peak = Math.max(...up.map((u) => u.peakRssMiB));
  const rate = (t: number) => `${(mib / t).toFixed(0)} MiB/s`;
  console.log(`cp            ${tCp.toFixed(2)} s  ${rate(tCp)}   (runs: ${cp.map((x) => x.toFixed(2)).join(' ')})`);
  console.log(`cp + fsync    ${tCpSync.toFixed(2)} s  ${rate(tCpSync)}   (dd conv=fsync; runs: ${cpSync.map((x) => x.toFixed(2)).join(' ')})`);
  console.log(`lxl upload    ${tUp.toFixed(2)} s  ${rate(tUp)}   (runs: ${up.map((u) => u.seconds.toFixed(2)).join(' ')})`);
  console.log(`ratio vs cp:         ${(tCp / tUp).toFixed(2)}× (target ≥ 0.70×)`);
  console.log(`ratio vs cp + fsync: ${(tCpSync / tUp).toFixed(2)}×`);
  console.log(`server RSS: idle ${Math.max(...up.map((u) => u.idleRssMiB)).toFixed(0)} MiB, peak (VmHWM) ${peak.toFixed(0)} MiB (target < 150 MB)`);
} finally {
  await rm(work, { recursive: true, force: true });
}
