// Request shapes for the JSON API (zod), and the one helper that turns a
// schema failure into a 400 naming each bad field. The OpenAPI document
// describes the same shapes.

import { z } from 'zod';
import { CHANNELS, TOKEN_SCOPES } from './metadata-store.js';
import { REPO_NAME_RE, repoSettingsSchema } from './config.js';
import { ApiError } from './http-errors.js';
import { LINE_RE } from './kernel-names.js';

const SHORT = z.string().min(1).max(200);

export const createRepoBody = z.strictObject({
  name: z.string().regex(REPO_NAME_RE, 'must be 1-64 lowercase letters, digits, . _ - (starting alphanumeric)'),
  settings: repoSettingsSchema.prefault({}),
});

export const updateRepoBody = z.strictObject({ settings: repoSettingsSchema });

export const createTokenBody = z.strictObject({
  name: SHORT,
  scopes: z.array(z.enum(TOKEN_SCOPES as [string, ...string[]])).min(1),
  expiresInDays: z.number().positive().max(3650).optional(),
});

export const createBuildBody = z.strictObject({
  line: z.string().regex(LINE_RE, 'must be a kernel line such as "6.1"'),
  version: SHORT,
  flavour: SHORT.default('default'),
  arch: z.enum(['x86_64', 'i386', 'all']),
  jobId: SHORT.optional(),
});

export const promoteBody = z.strictObject({ to: z.enum(CHANNELS as [string, ...string[]]).default('stable') });

export const enqueueJobBody = z.strictObject({
  repo: z.string().regex(REPO_NAME_RE),
  kind: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/).default('build'),
  params: z.record(z.string(), z.unknown()).default({}),
  maxAttempts: z.number().int().min(1).max(100).optional(),
});

export const leaseBody = z.strictObject({
  owner: SHORT,
  kinds: z.array(z.string().max(32)).max(16).optional(),
  ttlSeconds: z.number().positive().max(86_400).optional(),
});

export const heartbeatBody = z.strictObject({ leaseId: SHORT, ttlSeconds: z.number().positive().max(86_400).optional() });
export const completeBody = z.strictObject({ leaseId: SHORT, result: z.record(z.string(), z.unknown()).default({}) });
export const failBody = z.strictObject({ leaseId: SHORT, error: z.string().min(1).max(10_000), retry: z.boolean().default(true) });

/** The upload's form fields (multipart text parts; headers X-Lxl-Sha256/X-Lxl-Size also work). */
export const uploadFields = z.strictObject({
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the 64-hex-digit SHA-256 of the file').transform((s) => s.toLowerCase()),
  size: z.string().regex(/^\d{1,15}$/, 'must be the file size in bytes').transform(Number),
  line: z.string().regex(LINE_RE, 'must be a kernel line such as "6.1"').optional(),
  build: SHORT.optional(),
});

/** Parses `data` with `schema`; ApiError 400 listing every `field: problem`. */
export function parseRequest<S extends z.ZodType>(schema: S, data: unknown, what = 'request body'): z.output<S> {
  if (data === undefined) throw new ApiError(400, 'E_BAD_REQUEST', `missing ${what}`, { hint: 'send a JSON object with Content-Type: application/json' });
  const r = schema.safeParse(data);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`).join('; ');
    throw new ApiError(400, 'E_BAD_REQUEST', `invalid ${what}: ${issues}`, { hint: 'see /api/v1/openapi.json for the expected shape' });
  }
  return r.data;
}
