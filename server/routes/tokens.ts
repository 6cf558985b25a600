// Token management and the audit log (admin only). A new token's text is in
// the 201 answer and nowhere else, ever.

import { Router } from 'express';
import { actorOf, requireScope } from '../auth.js';
import type { ServerContext } from '../context.js';
import type { TokenScope } from '../metadata-store.js';
import { createTokenBody, parseRequest } from '../request-schemas.js';
import { createToken } from '../tokens.js';
import { tokenView } from '../views.js';

/** Routes /api/v1/tokens and /api/v1/audit. */
export function tokenRoutes(ctx: ServerContext): Router {
  const r = Router();
  const admin = requireScope(ctx.store, 'admin');

  r.get('/tokens', admin, async (_req, res) => {
    res.json({ tokens: (await ctx.store.listTokens()).map(tokenView) });
  });

  r.post('/tokens', admin, async (req, res) => {
    const body = parseRequest(createTokenBody, req.body);
    const expiresAt = body.expiresInDays ? Date.now() + body.expiresInDays * 86_400_000 : undefined;
    const { token, record } = await createToken(ctx.store, { name: body.name, scopes: body.scopes as TokenScope[], expiresAt }, actorOf(req));
    res.status(201).set('Cache-Control', 'no-store').json({ token, record: tokenView(record) });
  });

  r.delete('/tokens/:id', admin, async (req, res) => {
    res.json({ token: tokenView(await ctx.store.revokeToken(String(req.params.id), actorOf(req))) });
  });

  r.get('/audit', admin, async (req, res) => {
    const limit = Math.min(Number(req.query.limit) || 100, 1000);
    const target = typeof req.query.target === 'string' ? req.query.target : undefined;
    res.json({ entries: await ctx.store.listAudit({ limit, target }) });
  });

  return r;
}
