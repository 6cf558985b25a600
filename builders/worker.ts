// The builder worker loop: lease a job, heartbeat while it runs, stream its
// build log to the server in batches, build and package it (job-runner.ts),
// upload every artifact with its sha256 and size, then complete the job, or
// fail it naming the phase and the reason. A worker that dies just stops
// heartbeating: the server expires the lease and hands the job to another.

import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockedError } from '../repo-layout/errors.js';
import { JobClient, type LeasedJob } from './job-client.js';
import { asJobError, parseJobParams, runBuildJob, type BuildJobOptions, type JobPhase } from './job-runner.js';
import { JobLogStream } from './job-log.js';
import { createProgress, type Progress } from './progress.js';

/** Worker settings (the `lxl worker` flags). */
export interface WorkerOptions {
  server: string;
  token: string;
  /** Stop after one job (or at once when the queue is empty). */
  once?: boolean;
  workDir: string;
  cacheDir: string;
  /** Compile through ccache (builders/kernel-build.ts; default false). */
  ccache?: boolean;
  jobs?: number;
  linesDir?: string;
  stageFrom?: string;
  /** Build cache root: kernels built from the same inputs are reused (builders/build-cache.ts). */
  buildCache?: string;
  /** Lease length asked for; heartbeats come every third of it. */
  leaseTtlSeconds?: number;
  /** Wait between polls of an empty queue. */
  pollSeconds?: number;
  owner?: string;
  progress?: Progress;
  signal?: AbortSignal;
}

/** Runs jobs until `signal` aborts (or after one with `once`). Returns how many jobs it completed. */
export async function runWorker(opts: WorkerOptions): Promise<{ completed: number; failed: number }> {
  const owner = opts.owner ?? `${hostname()}:${process.pid}`;
  const client = new JobClient({ server: opts.server, token: opts.token, owner });
  const progress = opts.progress ?? createProgress();
  const ttl = opts.leaseTtlSeconds ?? 300;
  const tally = { completed: 0, failed: 0 };
  while (!opts.signal?.aborted) {
    let job: LeasedJob | undefined;
    try {
      job = await client.lease(ttl);
    } catch (err) {
      // A long-running worker outlives server restarts; a one-shot run reports the failure.
      if (opts.once) throw err;
      progress.info({ err: (err as Error).message }, 'cannot lease a job; retrying');
      await sleep((opts.pollSeconds ?? 10) * 1000, undefined, { signal: opts.signal }).catch(() => undefined);
      continue;
    }
    if (!job) {
      if (opts.once) break;
      await sleep((opts.pollSeconds ?? 10) * 1000, undefined, { signal: opts.signal }).catch(() => undefined);
      continue;
    }
    const ok = await runLeasedJob(client, job, { ...opts, owner }, progress, ttl);
    if (ok) tally.completed++;
    else tally.failed++;
    if (opts.once) break;
  }
  return tally;
}

async function runLeasedJob(client: JobClient, job: LeasedJob, opts: WorkerOptions, progress: Progress, ttl: number): Promise<boolean> {
  progress.job(job.id, job.params);
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const log = new JobLogStream((text) => client.appendLog(job, text), { onError: (err) => progress.info({ job: job.id, err: err.message }, 'cannot append to the build log') });
  let phase: JobPhase = 'line';
  let leaseLost: Error | undefined;
  const dir = path.join(opts.workDir, job.id.replace(/[^A-Za-z0-9._-]/g, '_'));
  const beat = setInterval(() => {
    client.heartbeat(job, ttl).catch((err: Error) => {
      // A lost lease means another worker may own the job now: stop at once.
      if (err instanceof LockedError) {
        leaseLost = err;
        abort.abort(err);
      } else progress.info({ job: job.id, err: err.message }, 'heartbeat failed; retrying');
    });
  }, Math.max(500, (ttl * 1000) / 3));
  const onPhase = (p: JobPhase, detail?: string) => {
    if (p !== phase) log.write(`== phase ${p}${detail ? ` ${detail}` : ''}\n`);
    phase = p;
    progress.phase(p, detail);
  };
  try {
    log.write(`== job ${job.id} attempt ${job.attempts} on ${opts.owner}: ${JSON.stringify(job.params)}\n`);
    const params = parseJobParams(job.params);
    const settings = await client.repoSettings(job.repo);
    const runOpts: BuildJobOptions = {
      workDir: path.join(dir, 'work'),
      outDir: path.join(dir, 'out'),
      cacheDir: opts.cacheDir,
      ccache: opts.ccache,
      linesDir: opts.linesDir,
      jobs: opts.jobs,
      stageFrom: opts.stageFrom,
      buildCache: opts.buildCache,
      debCompression: settings.compression,
      signal: abort.signal,
      onPhase,
      onLine: (l) => log.write(`${l}\n`),
    };
    const result = await runBuildJob(params, runOpts);
    onPhase('upload');
    const profile = settings.profile ?? 'modern';
    // A repo publishes one rpm profile; the other profile's rpm has the same identity with other bytes.
    const uploads = result.artifacts.filter((a) => a.format !== 'rpm' || a.profile === profile);
    let build: string;
    try {
      build = await client.createBuild(job.repo, { line: params.line, version: result.version, flavour: params.flavour, arch: params.arch, jobId: job.id });
      for (const [i, a] of uploads.entries()) {
        onPhase('upload', `${i + 1}/${uploads.length} ${a.filename}`);
        await client.upload(job.repo, build, a, abort.signal);
        log.write(`uploaded ${a.filename} sha256 ${a.sha256} size ${a.size}\n`);
      }
    } catch (err) {
      throw asJobError(err, 'upload');
    }
    onPhase('complete');
    await log.close();
    clearInterval(beat);
    await client.complete(job, {
      build,
      krel: result.krel,
      version: result.version,
      sourceDateEpoch: result.sourceDateEpoch,
      artifacts: uploads.map((a) => ({ filename: a.filename, sha256: a.sha256, size: a.size })),
    });
    progress.done(job.id);
    // Packages and build trees are large; a failed job's folder stays for inspection.
    await rm(dir, { recursive: true, force: true });
    return true;
  } catch (err) {
    clearInterval(beat);
    const e = asJobError(leaseLost ?? err, phase);
    log.write(`== failed: ${e.message}\n`);
    await log.close();
    progress.done(job.id, e.message);
    if (!leaseLost) {
      await client.fail(job, e.message, e.retry).catch((ferr: Error) => progress.info({ job: job.id, err: ferr.message }, 'cannot report the failure'));
    }
    return false;
  } finally {
    clearInterval(beat);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}
