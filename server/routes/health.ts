// Liveness, readiness and Prometheus metrics.

import { access, constants } from 'node:fs/promises';
import { Router } from 'express';
import type { ServerContext } from '../context.js';

/** Routes /healthz, /readyz, /metrics. */
export function healthRoutes(ctx: ServerContext, opts: { artifactsDir: string }): Router {
  const r = Router();

  // Liveness: the process answers.
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Readiness: the store answers, the artifact folder is writable, and we are not shutting down.
  r.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    try {
      await ctx.store.ping();
      checks.store = 'ok';
    } catch (err) {
      checks.store = `failing: ${(err as Error).message}`;
    }
    try {
      await access(opts.artifactsDir, constants.W_OK);
      checks.artifacts = 'ok';
    } catch {
      checks.artifacts = 'failing: not writable';
    }
    checks.lifecycle = ctx.draining() ? 'draining' : 'ok';
    const ready = Object.values(checks).every((v) => v === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  });

  r.get('/metrics', async (_req, res) => {
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });

  return r;
}
