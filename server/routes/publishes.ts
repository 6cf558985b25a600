// Publishing: POST starts a publish of the repo (202 + an id to poll); a
// publish already running for that repo, here or on another instance, gets
// 409 from the lock in the metadata store.

import { Router } from 'express';
import { NotFoundError } from '../../repo-layout/errors.js';
import { actorOf, requireScope } from '../auth.js';
import type { ServerContext } from '../context.js';
import { ApiError } from '../http-errors.js';
import { repoParam } from './repos.js';

/** Routes /api/v1/repos/:repo/publish(es). */
export function repoPublishRoutes(ctx: ServerContext): Router {
  const r = Router({ mergeParams: true });

  r.post('/publish', requireScope(ctx.store, 'admin'), async (req, res) => {
    if (ctx.draining()) throw new ApiError(503, 'E_UNAVAILABLE', 'cannot start a publish: the server is shutting down', { hint: 'retry against a running instance' });
    const repo = await repoParam(ctx, req);
    const publish = await ctx.publishes.start(repo, actorOf(req));
    res.status(202).location(`/api/v1/publishes/${publish.id}`).json({ publish });
  });

  r.get('/publishes', async (req, res) => {
    const repo = await repoParam(ctx, req);
    res.json({ publishes: await ctx.store.listPublishes(repo.name) });
  });

  return r;
}

/** Routes under /api/v1/publishes (poll one publish). */
export function publishRoutes(ctx: ServerContext): Router {
  const r = Router();
  r.get('/:id', async (req, res) => {
    const publish = await ctx.store.getPublish(String(req.params.id));
    if (!publish) throw new NotFoundError(`no such publish: ${String(req.params.id).slice(0, 100)}`);
    res.json({ publish });
  });
  return r;
}
