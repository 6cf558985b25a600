// Bearer-token authentication and scope checks for the API. The token comes
// from `Authorization: Bearer <token>`; it is never logged or echoed back.

import type { Request, RequestHandler } from 'express';
import { ApiError } from './http-errors.js';
import type { MetadataStore, TokenRecord, TokenScope } from './metadata-store.js';
import { allows, verifyToken, type TokenRefusal } from './tokens.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The authenticated token (set by requireScope). */
    token?: TokenRecord;
  }
}

const REFUSAL_TEXT: Record<TokenRefusal, string> = {
  malformed: 'the bearer token is not an lxl token',
  unknown: 'the bearer token is not known to this server',
  revoked: 'the bearer token has been revoked',
  expired: 'the bearer token has expired',
};

/** The actor string for the audit log: the token id (never the token). */
export function actorOf(req: Request): string {
  return req.token ? req.token.id : 'anonymous';
}

/** Middleware: 401 without a valid token, 403 when the token lacks `scope`. */
export function requireScope(store: MetadataStore, scope: TokenScope): RequestHandler {
  return async (req, _res, next) => {
    try {
      const header = req.get('authorization');
      if (!header) throw new ApiError(401, 'E_UNAUTHORIZED', 'authentication required: no Authorization header', { hint: `send "Authorization: Bearer <token>" with a token of scope ${scope} (lxl tokens create --scope ${scope})` });
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw new ApiError(401, 'E_UNAUTHORIZED', 'authentication required: the Authorization header is not "Bearer <token>"', { hint: 'send "Authorization: Bearer <token>"' });
      const v = await verifyToken(store, m[1]);
      if ('refused' in v) throw new ApiError(401, 'E_UNAUTHORIZED', `authentication failed: ${REFUSAL_TEXT[v.refused]}`, { hint: 'ask an admin for a valid token (lxl tokens create)' });
      if (!allows(v.record.scopes, scope)) {
        throw new ApiError(403, 'E_FORBIDDEN', `forbidden: this needs a token with the ${scope} scope; this token has ${v.record.scopes.join(', ')}`, { hint: `use a ${scope} token` });
      }
      req.token = v.record;
      // Throttled: a write per request would cost an fsync each.
      if ((v.record.lastUsedAt ?? 0) < Date.now() - 60_000) await store.touchToken(v.record.id);
      next();
    } catch (err) {
      next(err);
    }
  };
}
