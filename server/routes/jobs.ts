// The job queue for builder workers: admins enqueue; builders lease (with a
// heartbeat that extends the lease, and expiry that returns the job to the
// queue), append to the build log while they work, then complete or fail.
// Anyone may read jobs and their logs.

import express, { Router, type Request } from 'express';
import { NotFoundError } from '../../repo-layout/errors.js';
import { actorOf, requireScope } from '../auth.js';
import type { ServerContext } from '../context.js';
import { ApiError } from '../http-errors.js';
import { JOB_STATES, type JobState } from '../metadata-store.js';
import { completeBody, enqueueJobBody, failBody, heartbeatBody, leaseBody, parseRequest } from '../request-schemas.js';
import { jobView } from '../views.js';
import { enumQuery } from './repos.js';

function intQuery(req: Request, name: string, def: number, max: number): number {
  const v = req.query[name];
  if (v === undefined) return def;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new ApiError(400, 'E_BAD_REQUEST', `invalid query parameter ${name}: must be a non-negative integer`);
  return Math.min(Number(v), max);
}

/** Routes under /api/v1/jobs. */
export function jobRoutes(ctx: ServerContext): Router {
  const r = Router();
  const builder = requireScope(ctx.store, 'builder');
  const ttlMs = (s?: number) => (s ?? ctx.config.jobs.leaseTtlSeconds) * 1000;
  const jobId = (req: Request) => String(req.params.id);

  r.get('/', async (req, res) => {
    const state = enumQuery<JobState>(req, 'state', JOB_STATES);
    const repo = typeof req.query.repo === 'string' ? req.query.repo : undefined;
    res.json({ jobs: (await ctx.store.listJobs({ state, repo })).map(jobView) });
  });

  r.post('/', requireScope(ctx.store, 'admin'), async (req, res) => {
    const body = parseRequest(enqueueJobBody, req.body);
    const job = await ctx.store.enqueueJob({ ...body, maxAttempts: body.maxAttempts ?? ctx.config.jobs.maxAttempts }, actorOf(req));
    res.status(201).location(`/api/v1/jobs/${job.id}`).json({ job: jobView(job) });
  });

  // Lease: 200 with the job and its lease id, or 204 when the queue is empty.
  r.post('/lease', builder, async (req, res) => {
    if (ctx.draining()) throw new ApiError(503, 'E_UNAVAILABLE', 'cannot lease jobs: the server is shutting down', { hint: 'retry against a running instance' });
    const body = parseRequest(leaseBody, req.body);
    const job = await ctx.store.leaseJob({ owner: body.owner, kinds: body.kinds, ttlMs: ttlMs(body.ttlSeconds) }, actorOf(req));
    if (!job) {
      res.status(204).end();
      return;
    }
    res.json({ job: jobView(job), leaseId: job.leaseId, leaseExpiresAt: job.leaseExpiresAt });
  });

  r.get('/:id', async (req, res) => {
    const job = await ctx.store.getJob(jobId(req));
    if (!job) throw new NotFoundError(`no such job: ${jobId(req).slice(0, 100)}`);
    res.json({ job: jobView(job) });
  });

  r.post('/:id/heartbeat', builder, async (req, res) => {
    const body = parseRequest(heartbeatBody, req.body);
    const job = await ctx.store.heartbeatJob(jobId(req), body.leaseId, ttlMs(body.ttlSeconds));
    res.json({ job: jobView(job), leaseExpiresAt: job.leaseExpiresAt });
  });

  r.post('/:id/complete', builder, async (req, res) => {
    const body = parseRequest(completeBody, req.body);
    res.json({ job: jobView(await ctx.store.completeJob(jobId(req), body.leaseId, body.result, actorOf(req))) });
  });

  r.post('/:id/fail', builder, async (req, res) => {
    const body = parseRequest(failBody, req.body);
    res.json({ job: jobView(await ctx.store.failJob(jobId(req), body.leaseId, body.error, { retry: body.retry }, actorOf(req))) });
  });

  // Log append: the body is plain text; the lease id comes in X-Lxl-Lease.
  const textBody = express.text({ type: () => true, limit: ctx.config.limits.maxLogChunkBytes });
  r.post('/:id/log', builder, textBody, async (req, res) => {
    const lease = req.get('x-lxl-lease');
    if (!lease) throw new ApiError(400, 'E_BAD_REQUEST', 'missing X-Lxl-Lease header', { hint: 'send the leaseId you got from POST /api/v1/jobs/lease' });
    const text = typeof req.body === 'string' ? req.body : '';
    const logSize = await ctx.store.appendJobLog(jobId(req), lease, text, ctx.config.limits.maxLogBytes);
    res.json({ logSize });
  });

  // Log read: plain text from byte `offset`; X-Lxl-Log-Next says where to continue.
  r.get('/:id/log', async (req, res) => {
    const offset = intQuery(req, 'offset', 0, Number.MAX_SAFE_INTEGER);
    const limit = intQuery(req, 'limit', 1024 * 1024, 8 * 1024 * 1024);
    const slice = await ctx.store.readJobLog(jobId(req), offset, limit);
    res.set('X-Lxl-Log-Next', String(slice.next)).type('text/plain; charset=utf-8').send(slice.text);
  });

  return r;
}
