// The one place errors become HTTP: LxlError codes, the server's own request
// errors (auth, limits, digests), body-parser and multer/busboy failures all
// map to a status and a JSON body `{ error: { code, message, hint } }`.
// Unknown errors are 500s whose message hides internals (they are logged).

import type { ErrorRequestHandler, RequestHandler } from 'express';
import multer from 'multer';
import { LxlError, type ErrorCode } from '../repo-layout/errors.js';

/** Codes the HTTP layer adds to the shared ErrorCode set. */
export type ApiErrorCode =
  | 'E_UNAUTHORIZED'
  | 'E_FORBIDDEN'
  | 'E_BAD_REQUEST'
  | 'E_BAD_JSON'
  | 'E_TOO_LARGE'
  | 'E_DIGEST_MISMATCH'
  | 'E_SIZE_MISMATCH'
  | 'E_PACKAGE_REFUSED'
  | 'E_UNSUPPORTED_MEDIA'
  | 'E_ROUTE_NOT_FOUND'
  | 'E_UNAVAILABLE'
  | 'E_INTERNAL';

/** A request the server refuses, with the status to answer and a hint on what to do. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode | ErrorCode;
  readonly hint?: string;

  constructor(status: number, code: ApiErrorCode | ErrorCode, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.status = status;
    this.code = code;
    this.hint = opts.hint;
    this.name = 'ApiError';
  }
}

/** The JSON error body every non-2xx API answer carries. */
export interface ErrorBody {
  error: { code: string; message: string; hint?: string };
}

// Codes not listed (new ones included) are server-side failures: 500.
const LXL_STATUS: Partial<Record<ErrorCode, number>> = {
  E_SPEC_INVALID: 422,
  E_FORMAT: 422,
  E_CONFLICT: 409,
  E_NOT_FOUND: 404,
  E_LOCKED: 409,
  E_STORAGE: 500,
  E_SIGN: 500,
  E_KEY: 500,
  E_TOOL: 500,
  E_CONFIG: 500,
  E_IO: 500,
};

const LXL_HINT: Partial<Record<ErrorCode, string>> = {
  E_SPEC_INVALID: 'fix the named fields and send the request again',
  E_FORMAT: 'the file is not a valid package of its kind; rebuild it and upload it again',
  E_CONFLICT: 'published files are immutable: use a new version instead of replacing one',
  E_NOT_FOUND: 'check the name or id (GET the collection to list what exists)',
  E_LOCKED: 'another operation holds this resource; retry when it has finished',
};

// Messages busboy (inside multer) throws for a malformed multipart body.
const MULTIPART_MESSAGES = [/^Unexpected end of form/, /^Malformed part header/, /^Multipart: Boundary not found/, /^Unsupported content type/, /^Missing Content-Type/, /^Malformed/i, /^Unexpected end of (multipart )?data/i, /Part terminated early/i];

/** Maps any thrown value to a status and body. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  const body = (status: number, code: string, message: string, hint?: string, internal = false) => ({ status, body: { error: { code, message, ...(hint ? { hint } : {}) } }, internal });
  if (err instanceof ApiError) return body(err.status, err.code, err.message, err.hint);
  if (err instanceof LxlError) {
    const status = LXL_STATUS[err.code] ?? 500;
    return body(status, err.code, err.message, LXL_HINT[err.code], status >= 500);
  }
  if (err instanceof multer.MulterError) {
    if (err.code === 'LIMIT_FILE_SIZE') return body(413, 'E_TOO_LARGE', 'cannot accept the upload: the file is larger than the server allows', 'split or shrink the file, or raise limits.maxUploadBytes on the server');
    return body(400, 'E_BAD_REQUEST', `cannot read the multipart form: ${err.message}${err.field ? ` (field ${JSON.stringify(err.field)})` : ''}`, 'send one file part named "file" plus the sha256 and size fields');
  }
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string; expose?: boolean };
  // body-parser (express.json) errors carry a `type`.
  if (e?.type === 'entity.parse.failed') return body(400, 'E_BAD_JSON', `cannot parse the request body as JSON: ${e.message}`, 'send a valid JSON object with Content-Type: application/json');
  if (e?.type === 'entity.too.large') return body(413, 'E_TOO_LARGE', 'cannot accept the request body: it is larger than the server allows', 'send a smaller JSON body');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return body(415, 'E_UNSUPPORTED_MEDIA', `cannot read the request body: ${e.message}`, 'send UTF-8 JSON');
  if (e?.type === 'request.aborted') return body(400, 'E_BAD_REQUEST', 'the request was aborted before its body arrived');
  if (e?.type === 'request.size.invalid' || e?.type === 'stream.encoding.set') return body(400, 'E_BAD_REQUEST', `cannot read the request body: ${e.message}`);
  if (typeof e?.message === 'string' && MULTIPART_MESSAGES.some((re) => re.test(e.message!))) {
    return body(400, 'E_BAD_REQUEST', `cannot read the multipart form: ${e.message}`, 'send multipart/form-data with one file part named "file"');
  }
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return body(status, 'E_BAD_REQUEST', e.expose !== false && e.message ? e.message : 'bad request');
  return body(500, 'E_INTERNAL', 'internal server error', 'the server logged the details; report this if it persists', true);
}

/** Express error handler: answers with the JSON error body and logs 5xx through `log`. */
export function errorHandler(log: (err: unknown, msg: string) => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const r = toErrorResponse(err);
    if (r.internal) log(err, `${req.method} ${req.path} failed`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(r.status).json(r.body);
  };
}

/** Final route: unknown paths get a 404 JSON error, not Express's HTML page. */
export function notFoundHandler(): RequestHandler {
  return (req, res, next) => {
    res.locals.unmatched = true;
    next(new ApiError(404, 'E_ROUTE_NOT_FOUND', `no such endpoint: ${req.method} ${req.path.slice(0, 200)}`, { hint: 'see /api/v1/openapi.json for the API' }));
  };
}
