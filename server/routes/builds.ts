// Builds: what one job produced. Builders create them; admins promote one
// from testing to stable, which moves all its packages (a catalogue change;
// the next publish makes it visible).

import { Router } from 'express';
import { NotFoundError } from '../../repo-layout/errors.js';
import { actorOf, requireScope } from '../auth.js';
import type { ServerContext } from '../context.js';
import type { Channel } from '../metadata-store.js';
import { createBuildBody, parseRequest, promoteBody } from '../request-schemas.js';
import { repoParam } from './repos.js';

/** Routes under /api/v1/repos/:repo/builds. */
export function buildRoutes(ctx: ServerContext): Router {
  const r = Router({ mergeParams: true });

  r.get('/', async (req, res) => {
    const repo = await repoParam(ctx, req);
    res.json({ builds: await ctx.store.listBuilds(repo.name) });
  });

  r.post('/', requireScope(ctx.store, 'builder'), async (req, res) => {
    const repo = await repoParam(ctx, req);
    const body = parseRequest(createBuildBody, req.body);
    const build = await ctx.store.createBuild({ repo: repo.name, ...body }, actorOf(req));
    res.status(201).location(`/api/v1/repos/${repo.name}/builds/${build.id}`).json({ build });
  });

  r.get('/:id', async (req, res) => {
    const repo = await repoParam(ctx, req);
    const build = await ctx.store.getBuild(String(req.params.id));
    if (!build || build.repo !== repo.name) throw new NotFoundError(`no such build in ${repo.name}: ${String(req.params.id).slice(0, 100)}`);
    res.json({ build, packages: await ctx.store.listPackages({ repo: repo.name, buildId: build.id }) });
  });

  r.post('/:id/promote', requireScope(ctx.store, 'admin'), async (req, res) => {
    const repo = await repoParam(ctx, req);
    const body = parseRequest(promoteBody, req.body ?? {});
    const build = await ctx.store.getBuild(String(req.params.id));
    if (!build || build.repo !== repo.name) throw new NotFoundError(`cannot promote: no such build in ${repo.name}: ${String(req.params.id).slice(0, 100)}`);
    const promoted = await ctx.store.promoteBuild(build.id, body.to as Channel, actorOf(req));
    res.json({ build: promoted, packages: await ctx.store.listPackages({ repo: repo.name, buildId: build.id }) });
  });

  return r;
}
