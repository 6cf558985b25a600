// Repos and their catalogue: list/create/update repos (admin for changes),
// list packages (public read API).

import { Router, type Request } from 'express';
import { NotFoundError } from '../../repo-layout/errors.js';
import { actorOf, requireScope } from '../auth.js';
import type { ServerContext } from '../context.js';
import { defaultRepoSettings, type Channel, type PackageKind, type RepoRecord } from '../metadata-store.js';
import { createRepoBody, parseRequest, updateRepoBody } from '../request-schemas.js';
import { ApiError } from '../http-errors.js';

/** The repo named in the URL, or NotFoundError (404). */
export async function repoParam(ctx: ServerContext, req: Request): Promise<RepoRecord> {
  const name = String(req.params.repo);
  const repo = await ctx.store.getRepo(name);
  if (!repo) throw new NotFoundError(`no such repo: ${JSON.stringify(name.slice(0, 100))}`);
  return repo;
}

/** One query parameter out of a fixed set, or ApiError 400. */
export function enumQuery<T extends string>(req: Request, name: string, allowed: readonly T[]): T | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw new ApiError(400, 'E_BAD_REQUEST', `invalid query parameter ${name}: must be one of ${allowed.join(', ')}`);
  return v as T;
}

/** Routes under /api/v1/repos. */
export function repoRoutes(ctx: ServerContext): Router {
  const r = Router();
  const admin = requireScope(ctx.store, 'admin');

  r.get('/', async (_req, res) => {
    res.json({ repos: await ctx.store.listRepos() });
  });

  r.post('/', admin, async (req, res) => {
    const body = parseRequest(createRepoBody, req.body);
    const repo = await ctx.store.createRepo(body.name, defaultRepoSettings(body.settings), actorOf(req));
    res.status(201).location(`/api/v1/repos/${repo.name}`).json({ repo });
  });

  r.get('/:repo', async (req, res) => {
    res.json({ repo: await repoParam(ctx, req) });
  });

  r.put('/:repo', admin, async (req, res) => {
    await repoParam(ctx, req);
    const body = parseRequest(updateRepoBody, req.body);
    res.json({ repo: await ctx.store.updateRepo(String(req.params.repo), defaultRepoSettings(body.settings), actorOf(req)) });
  });

  r.get('/:repo/packages', async (req, res) => {
    const repo = await repoParam(ctx, req);
    const channel = enumQuery<Channel>(req, 'channel', ['testing', 'stable']);
    const kind = enumQuery<PackageKind>(req, 'kind', ['deb', 'rpm', 'tarball']);
    res.json({ packages: await ctx.store.listPackages({ repo: repo.name, channel, kind }) });
  });

  r.get('/:repo/packages/:id', async (req, res) => {
    const repo = await repoParam(ctx, req);
    const pkg = await ctx.store.getPackage(String(req.params.id));
    if (!pkg || pkg.repo !== repo.name) throw new NotFoundError(`no such package in ${repo.name}: ${String(req.params.id).slice(0, 100)}`);
    res.json({ package: pkg });
  });

  return r;
}
