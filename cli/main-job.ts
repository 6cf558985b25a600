// The build half of `lxl up`, on a running embedded server: a builder token
// for the local worker, the default line's build jobs for each arch (resumed,
// not repeated: a job that already succeeded for the same build inputs is
// kept; one left leased by a stopped `lxl up` is requeued), the in-process
// worker, then promotion of the finished builds to stable and one publish,
// so the guest lines printed afterwards are true.

import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockedError } from '../repo-layout/errors.js';
import { buildCacheKey } from '../builders/build-cache.js';
import { KERNEL_LINES_DIR, type KernelBuildArch, type KernelLine } from '../builders/kernel-line.js';
import type { Progress } from '../builders/progress.js';
import { runWorker } from '../builders/worker.js';
import type { JobRecord } from '../server/metadata-store.js';
import type { RunningServer } from '../server/server.js';
import { createToken, verifyToken } from '../server/tokens.js';

const ACTOR = 'lxl up';

export interface MainJobOptions {
  running: RunningServer;
  repo: string;
  line: KernelLine;
  flavour: string;
  arches: KernelBuildArch[];
  varDir: string;
  /** Kernel build cache (builders/build-cache.ts). */
  buildCache: string;
  /** The worker's cache folder: URL kernel sources in `sources/`, ccache's cache in `ccache/`. */
  cacheDir: string;
  /** Compile through ccache (builders/kernel-build.ts; default false). */
  ccache?: boolean;
  jobs?: number;
  progress: Progress;
  /** One line of news for the user (stderr). */
  say: (line: string) => void;
  /** Stops the worker (and the waiting). */
  signal: AbortSignal;
}

/** What the builds came to. */
export interface MainJobResult {
  jobs: Array<{ arch: string; job: JobRecord; reused: boolean }>;
  publish: { state: string; error?: string };
  /** The worker keeps running for jobs queued later; resolves when `signal` stops it. */
  worker: Promise<unknown>;
}

/** Runs the default builds to the end and publishes; the worker keeps serving the queue afterwards. */
export async function runMainJob(o: MainJobOptions): Promise<MainJobResult> {
  const store = o.running.ctx.store;
  const token = await workerToken(o);
  await requeueOrphans(o);
  const line = o.line;
  const ours: Array<{ arch: string; id: string; reused: boolean }> = [];
  for (const arch of o.arches) {
    const inputs = await buildCacheKey({ line, arch, flavour: o.flavour });
    const params = { line: line.line, flavour: o.flavour, arch, inputs };
    const same = (await store.listJobs({ repo: o.repo })).filter(
      (j) => j.kind === 'build' && j.params.line === line.line && j.params.flavour === o.flavour && j.params.arch === arch && j.params.inputs === inputs,
    );
    const live = same.find((j) => j.state !== 'failed');
    if (live) {
      o.say(`${arch}: ${live.state === 'succeeded' ? 'already built' : `resuming job ${live.id} (${live.state})`} for inputs ${inputs}`);
      ours.push({ arch, id: live.id, reused: live.state === 'succeeded' });
      continue;
    }
    // Other inputs than every earlier build of this line and arch: a new revision, so no published name is reused.
    const revision = nextRevision(await store.listJobs({ repo: o.repo }), { line: line.line, arch, flavour: o.flavour, inputs });
    const job = await store.enqueueJob({ repo: o.repo, kind: 'build', params: { ...params, revision }, maxAttempts: o.running.ctx.config.jobs.maxAttempts }, ACTOR);
    o.say(`${arch}: queued build job ${job.id} (${line.line} ${o.flavour}, inputs ${inputs}${revision > 1 ? `, revision ${revision}: the inputs changed since the last build` : ''})`);
    ours.push({ arch, id: job.id, reused: false });
  }

  const worker = runWorker({
    server: o.running.url,
    token,
    workDir: path.join(o.varDir, 'work'),
    cacheDir: o.cacheDir,
    buildCache: o.buildCache,
    ccache: o.ccache,
    // A line outside the shipped kernel/ folder: the worker finds it as <linesDir>/<line>/line.json.
    linesDir: path.resolve(path.dirname(line.dir)) === path.resolve(KERNEL_LINES_DIR) ? undefined : path.dirname(line.dir),
    jobs: o.jobs,
    pollSeconds: 2,
    progress: o.progress,
    signal: o.signal,
  });
  worker.catch(() => undefined);

  const done: MainJobResult['jobs'] = [];
  for (const j of ours) {
    const job = await waitJob(o, j.id);
    done.push({ arch: j.arch, job, reused: j.reused });
    if (job.state === 'succeeded') {
      if (!j.reused) o.say(`${j.arch}: built ${String(job.result?.krel ?? '')} (job ${job.id})`);
      const build = job.result?.build ? await store.getBuild(String(job.result.build)) : undefined;
      if (build && build.channel !== 'stable') {
        await store.promoteBuild(build.id, 'stable', ACTOR);
        o.say(`${j.arch}: promoted build ${build.id} (${build.version}) to stable`);
      }
    } else o.say(`${j.arch}: build job ${job.id} failed: ${(job.error ?? '').split('\n')[0]} (log: ${o.running.url}/api/v1/jobs/${job.id}/log)`);
  }
  const publish = await publishRepo(o);
  return { jobs: done, publish, worker };
}

/**
 * The revision for a build of `want`: 1 when no earlier build job of the line and arch exists, else one more than the
 * highest revision of the earlier jobs with other inputs or another flavour (their packages share names with ours).
 * A job of the same flavour and inputs keeps its revision. Failed jobs count too: they may have uploaded some files.
 */
export function nextRevision(jobs: JobRecord[], want: { line: string; arch: string; flavour: string; inputs: string }): number {
  let top = 0;
  for (const j of jobs) {
    const p = j.params as { line?: unknown; arch?: unknown; flavour?: unknown; inputs?: unknown; revision?: unknown };
    if (j.kind !== 'build' || p.line !== want.line || p.arch !== want.arch) continue;
    const rev = typeof p.revision === 'number' && Number.isInteger(p.revision) && p.revision > 0 ? p.revision : 1;
    if (p.flavour === want.flavour && p.inputs === want.inputs) return rev;
    top = Math.max(top, rev);
  }
  return top + 1;
}

/** The local worker's builder token, kept in <var>/worker.token (0600) and reused while it is valid. */
async function workerToken(o: MainJobOptions): Promise<string> {
  const file = path.join(o.varDir, 'worker.token');
  const store = o.running.ctx.store;
  const saved = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (saved && 'record' in (await verifyToken(store, saved))) return saved;
  const { token } = await createToken(store, { name: `lxl up worker (${hostname()})`, scopes: ['builder'] }, ACTOR);
  await mkdir(o.varDir, { recursive: true });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return token;
}

/** Requeues jobs leased by a worker of this host whose process is gone (an interrupted `lxl up`), so they run now, not after the lease expires. */
async function requeueOrphans(o: MainJobOptions): Promise<void> {
  const store = o.running.ctx.store;
  const prefix = `${hostname()}:`;
  for (const j of await store.listJobs({ state: 'leased', repo: o.repo })) {
    if (!j.leaseOwner?.startsWith(prefix) || !j.leaseId) continue;
    const pid = Number(j.leaseOwner.slice(prefix.length));
    if (!(pid > 0) || pid === process.pid || alive(pid)) continue;
    await store.failJob(j.id, j.leaseId, `interrupted: the worker (pid ${pid}) stopped; requeued by lxl up`, { retry: true }, ACTOR).catch(() => undefined);
    o.say(`requeued job ${j.id}: its worker (pid ${pid}) is gone`);
  }
}

function alive(pid: number): boolean {
  try {
    return process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitJob(o: MainJobOptions, id: string): Promise<JobRecord> {
  for (;;) {
    const job = await o.running.ctx.store.getJob(id);
    if (!job) throw new Error(`cannot follow job ${id}: it vanished from the store`);
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    o.signal.throwIfAborted();
    await sleep(1000, undefined, { signal: o.signal });
  }
}

/** Publishes the repo (waiting out another publish) and waits for the outcome. */
async function publishRepo(o: MainJobOptions): Promise<{ state: string; error?: string }> {
  const { store, publishes } = o.running.ctx;
  const repo = await store.getRepo(o.repo);
  if (!repo) throw new Error(`cannot publish: repo ${o.repo} is missing`);
  o.say(`publishing ${o.repo} (APT, YUM, tarballs) ...`);
  for (;;) {
    try {
      const rec = await publishes.start(repo, ACTOR);
      for (;;) {
        const p = await store.getPublish(rec.id);
        if (p && p.state !== 'running') return { state: p.state, error: p.error };
        await sleep(250, undefined, { signal: o.signal });
      }
    } catch (err) {
      if (!(err instanceof LockedError)) throw err;
      await sleep(1000, undefined, { signal: o.signal });
    }
  }
}
