// Crash trials for the publish pipeline: package fixtures (one .deb and one
// .rpm per version), the real clients that judge a served repo (apt-get in
// ONE bookworm chroot, dnf with ONE --installroot, both reused by every
// trial), and the trial loop: start a publish in a child process, SIGKILL it
// after a seeded random delay spread over the measured publish duration,
// check the served repo shows the old or the new state (never a mix, no
// warnings, no hash mismatch), then rerun the publish and check the new
// state is served.

import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { resolveSpec } from '../../repo-layout/model.js';
import { packagerFor } from '../../repo-layout/packagers.js';
import { rpmFileName, rpmPackager } from '../../repo-layout/rpm/rpm-writer.js';
import type { Signer } from '../../repo-layout/signing/signer.js';
import type { Chroot } from './chroot.js';
import { APT_NAME, CRASH_PUBLISH_SCRIPT, YUM_NAME, publishChange, type CrashJob } from './crash-publish.js';
import { run } from './exec.js';

export const PKG = 'lxl-crash';

/** Version string of trial `i` (deb and rpm version; the rpm release is 1). */
export const versionOf = (i: number): string => `1.0.${i}`;

/** Small deterministic PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Builds versions 0..n-1 of PKG as .deb and signed .rpm, each with `payloadBytes` of hex text so pool uploads take a while. */
export async function buildFixtures(dir: string, n: number, signer: Signer, payloadBytes: number): Promise<{ debs: string[]; rpms: string[] }> {
  const deb = await packagerFor('deb');
  const rnd = seededRandom(4242);
  const debs: string[] = [];
  const rpms: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = versionOf(i);
    const sub = path.join(dir, `v${i}`);
    await mkdir(sub, { recursive: true });
    let text = '';
    while (text.length < payloadBytes) text += Math.floor(rnd() * 2 ** 32).toString(16).padStart(8, '0');
    const base = {
      name: PKG,
      arch: 'x86_64' as const,
      maintainer: 'lxl tests <lxl-tests@example.invalid>',
      summary: 'crash trial package',
      description: 'A package the crash trials publish.\n\nEach version is a new publish.',
      license: 'MIT',
      section: 'kernel',
      priority: 'optional',
      sourceDateEpoch: 1_700_000_000,
      files: [{ path: `usr/share/${PKG}/payload-${v}.txt`, content: `${v}\n${text}\n` }],
    };
    const debSpec = await resolveSpec({ ...base, version: v }, { baseDir: sub });
    const debFile = path.join(sub, `${PKG}_${v}_amd64.deb`);
    await writeOut(debFile, (out) => deb.write(debSpec, out, { compression: 'gzip' }));
    debs.push(debFile);
    const rpmSpec = await resolveSpec({ ...base, version: `${v}-1` }, { baseDir: sub });
    const rpmFile = path.join(sub, rpmFileName(rpmSpec, { signer }));
    await writeOut(rpmFile, (out) => rpmPackager.write(rpmSpec, out, { signer, compression: 'gzip' }));
    rpms.push(rpmFile);
  }
  return { debs, rpms };
}

async function writeOut(file: string, write: (out: Writable) => Promise<unknown>): Promise<void> {
  const out = createWriteStream(file);
  await write(out);
  if (!out.writableFinished) await once(out, 'finish');
}

/** What a client saw: the versions of PKG listed, and any complaint. */
export interface Seen {
  versions: string[];
}

/** apt-get in one bookworm chroot pointed at `<url>/apt`, signed-by our keyring. */
export async function aptClient(c: Chroot, url: string, keyring: Buffer): Promise<() => Promise<Seen>> {
  await rm(path.join(c.root, 'etc/apt/sources.list'), { force: true });
  await rm(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
  await mkdir(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true });
  await mkdir(path.join(c.root, 'etc/apt/keyrings'), { recursive: true });
  await writeFile(path.join(c.root, `etc/apt/keyrings/${APT_NAME}.gpg`), keyring, { mode: 0o644 });
  await writeFile(
    path.join(c.root, `etc/apt/sources.list.d/${APT_NAME}.sources`),
    `Types: deb\nURIs: ${url}/apt\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/${APT_NAME}.gpg\n`,
  );
  return async () => {
    await rm(path.join(c.root, 'var/lib/apt/lists'), { recursive: true, force: true });
    await mkdir(path.join(c.root, 'var/lib/apt/lists/partial'), { recursive: true });
    const upd = await c.run(['apt-get', 'update'], { allowFail: true });
    const text = `${upd.stdout}\n${upd.stderr}`;
    const bad = text.split('\n').filter((l) => /^(W|E|N|Err|Ign):/.test(l.trim()) || /Hash Sum mismatch/i.test(l));
    if (upd.code !== 0 || bad.length) throw new Error(`apt-get update failed (exit ${upd.code}):\n${text}`);
    const m = await c.run(['apt-cache', 'madison', PKG], { allowFail: true });
    const versions = m.stdout.split('\n').filter((l) => l.includes('|')).map((l) => l.split('|')[1]!.trim());
    return { versions: versions.sort() };
  };
}

/** dnf with one --installroot: `makecache --refresh` (gpgcheck=1, repo_gpgcheck=1), then the cached versions of PKG. */
export async function dnfClient(dir: string, url: string): Promise<() => Promise<Seen>> {
  const root = path.join(dir, 'root');
  const reposdir = path.join(dir, 'reposdir');
  await mkdir(reposdir, { recursive: true });
  await mkdir(root, { recursive: true });
  const base = `${url}/yum/${YUM_NAME}/`;
  const args = [
    '-y', '--installroot', root, '--releasever', '9',
    '--setopt', `reposdir=${reposdir}`,
    '--setopt', `cachedir=${path.join(root, 'var/cache/dnf')}`,
    '--repofrompath', `lxl,${base}`,
    '--setopt', 'lxl.gpgcheck=1',
    '--setopt', 'lxl.repo_gpgcheck=1',
    '--setopt', `lxl.gpgkey=${base}repodata/repomd.xml.key`,
  ];
  return async () => {
    const mc = await run('dnf', [...args, 'makecache', '--refresh'], { allowFail: true, timeoutMs: 120_000 });
    if (mc.code !== 0 || /error|mismatch|fail/i.test(mc.stderr)) throw new Error(`dnf makecache failed (exit ${mc.code}):\n${mc.stdout}${mc.stderr}`);
    const q = await run('dnf', [...args, '-C', 'repoquery', '--qf', '%{version}-%{release}\n', PKG], { allowFail: true, timeoutMs: 120_000 });
    if (q.code !== 0) throw new Error(`dnf repoquery failed (exit ${q.code}):\n${q.stdout}${q.stderr}`);
    const versions = q.stdout.split('\n').map((l) => l.trim()).filter((l) => /^\d/.test(l)).map((l) => l.replace(/-1$/, ''));
    return { versions: [...new Set(versions)].sort() };
  };
}

/** Where a kill landed, from the last storage write the child had started. */
export function killPoint(lastWrite: string | undefined): string {
  if (!lastWrite) return 'before the first write';
  const key = lastWrite.replace(/^\S+ /, '');
  if (key.startsWith('apt/pool/')) return 'apt pool upload';
  if (key.includes('/by-hash/')) return 'apt by-hash';
  if (/^apt\/dists\/[^/]+\/InRelease$/.test(key)) return 'apt InRelease';
  if (/^apt\/dists\/[^/]+\/Release(\.gpg)?$/.test(key)) return 'apt Release/Release.gpg';
  if (key.startsWith('apt/dists/')) return 'apt plain indices';
  if (key.includes('/Packages/')) return 'yum pool upload';
  if (lastWrite.startsWith('linkDirectory ')) return 'yum repodata swap';
  if (/repodata[^/]*\/repomd\.xml/.test(key)) return 'yum repomd.xml(.asc/.key)';
  if (/\/repodata[^/]*\//.test(key)) return 'yum repodata';
  if (key.includes('project/trace')) return 'trace';
  return 'other (keys, .sources, .repo)';
}

export interface TrialSetup {
  /** Job template (debs/rpms are filled per trial). */
  job: Omit<CrashJob, 'debs' | 'rpms'>;
  fixtures: { debs: string[]; rpms: string[] };
  signer: Signer;
  /** Env for the child (S3 credentials). */
  env?: NodeJS.ProcessEnv;
  apt: () => Promise<Seen>;
  dnf: () => Promise<Seen>;
  trials: number;
  seed: number;
  log: (line: string) => void;
  /**
   * The storage writes repomd.xml and repomd.xml.asc as two objects (S3): a kill after their PUTs started and before
   * both completed may leave a pair dnf rejects until the rerun (README, Storage; the TODO subtest of
   * publish-crash-points shows it). Such a trial is counted apart (TrialReport.pairWindow), never as a kill elsewhere.
   */
  pairWindow?: boolean;
}

export interface TrialReport {
  passed: number;
  /** Passed trials killed inside the documented S3 pair window in which dnf rejected the pair (apt and the rerun were checked as in any trial). */
  pairWindow: number;
  failed: Array<{ trial: number; error: string }>;
  points: Map<string, number>;
  durationMs: number;
}

const expected = (n: number): string[] => Array.from({ length: n }, (_, i) => versionOf(i)).sort();
const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Runs the child publish of versions `upto`; kills it `killAfterMs` after it is ready (undefined: let it finish). */
async function childPublish(s: TrialSetup, i: number, killAfterMs: number | undefined): Promise<{ killed: boolean; lastWrite?: string; ms: number; stderr: string }> {
  const job: CrashJob = { ...s.job, debs: [s.fixtures.debs[i]!], rpms: [s.fixtures.rpms[i]!] };
  const child = spawn(process.execPath, ['--import', 'tsx', CRASH_PUBLISH_SCRIPT, JSON.stringify(job)], { env: s.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let readyAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastWrite: string | undefined;
  let frozen = false;
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (!frozen) for (const l of stderr.split('\n').slice(0, -1)) if (/^(put|putIfAbsent|delete|copy|linkDirectory) /.test(l)) lastWrite = l;
    if (!readyAt && /^ready$/m.test(stderr)) {
      readyAt = Date.now();
      if (killAfterMs !== undefined) timer = setTimeout(() => {
        frozen = true;
        child.kill('SIGKILL');
      }, killAfterMs);
    }
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (timer) clearTimeout(timer);
  const ms = Date.now() - (readyAt || Date.now());
  if (signal === 'SIGKILL') return { killed: true, lastWrite, ms, stderr };
  if (code !== 0 || !/^done$/m.test(stderr)) throw new Error(`crash-publish of version ${versionOf(i)} failed (exit ${code}):\n${stderr.slice(-4000)}`);
  return { killed: false, lastWrite, ms, stderr };
}

/** Checks apt and dnf both see exactly one of the allowed version sets; returns which (per client). */
async function checkServed(s: TrialSetup, allowed: Array<{ name: string; versions: string[] }>): Promise<string> {
  const [apt, dnf] = await Promise.all([s.apt(), s.dnf()]);
  const which = (seen: Seen, client: string): string => {
    const hit = allowed.find((a) => same(a.versions, seen.versions));
    if (!hit) throw new Error(`${client} lists versions [${seen.versions.join(' ')}], expected ${allowed.map((a) => `${a.name} [${a.versions.join(' ')}]`).join(' or ')}`);
    return hit.name;
  };
  return `apt ${which(apt, 'apt')}, dnf ${which(dnf, 'dnf')}`;
}

/** Publishes version 0, then runs `trials` kill/check/rerun/check trials (trial i publishes version i). */
export async function runCrashTrials(s: TrialSetup): Promise<TrialReport> {
  const t0 = Date.now();
  const first = await childPublish(s, 0, undefined);
  await checkServed(s, [{ name: 'initial', versions: expected(1) }]);
  // Calibrate on a second, incremental publish (what every trial does).
  const cal = await childPublish(s, 1, undefined);
  await checkServed(s, [{ name: 'new', versions: expected(2) }]);
  let spanMs = Math.max(cal.ms, 200);
  s.log(`publish duration: first ${first.ms} ms, incremental ${cal.ms} ms; kills spread over [0, ${Math.round(spanMs * 1.05)}) ms after the child is ready`);
  const rnd = seededRandom(s.seed);
  const report: TrialReport = { passed: 0, pairWindow: 0, failed: [], points: new Map(), durationMs: 0 };
  for (let n = 0; n < s.trials; n++) {
    const i = n + 2;
    const delay = Math.floor(rnd() * spanMs * 1.05);
    try {
      const r = await childPublish(s, i, delay);
      const point = r.killed ? killPoint(r.lastWrite) : 'completed before the kill';
      if (!r.killed) spanMs = Math.max(spanMs, r.ms);
      report.points.set(point, (report.points.get(point) ?? 0) + 1);
      const old = { name: 'old', versions: expected(i) };
      const fresh = { name: 'new', versions: expected(i + 1) };
      // Killed once the pair's PUTs had started (the last write logged is the .asc, the second of the batch).
      const inWindow = s.pairWindow === true && r.killed && /^put \S+\/repodata\/repomd\.xml\.asc$/.test(r.lastWrite ?? '');
      let afterKill: string;
      try {
        afterKill = await checkServed(s, r.killed ? [old, fresh] : [fresh]);
      } catch (err) {
        if (!inWindow || !/dnf makecache failed[\s\S]*GPG signature/.test((err as Error).message)) throw err;
        // The window itself: apt must still see the old or the new state.
        const apt = await s.apt();
        if (![old, fresh].some((a) => same(a.versions, apt.versions))) throw new Error(`apt lists versions [${apt.versions.join(' ')}] after a kill in the pair window`);
        afterKill = `apt ${same(old.versions, apt.versions) ? 'old' : 'new'}, dnf rejects the half-written repomd.xml pair (the documented S3 window)`;
        report.pairWindow++;
      }
      await publishChange({ ...s.job, debs: [s.fixtures.debs[i]!], rpms: [s.fixtures.rpms[i]!] }, { signer: s.signer });
      await checkServed(s, [fresh]);
      report.passed++;
      s.log(`trial ${n + 1}/${s.trials}: kill after ${delay} ms at ${point} (${r.lastWrite ?? '-'}); served ${afterKill}; rerun ok, new state served`);
    } catch (err) {
      report.failed.push({ trial: n + 1, error: (err as Error).message });
      s.log(`trial ${n + 1}/${s.trials}: FAILED: ${(err as Error).message}`);
      // Repair so later trials start from a known state.
      await publishChange({ ...s.job, debs: [s.fixtures.debs[i]!], rpms: [s.fixtures.rpms[i]!] }, { signer: s.signer }).catch(() => {});
    }
  }
  report.durationMs = Date.now() - t0;
  return report;
}
