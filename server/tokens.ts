// API tokens: `lxl.<id>.<secret>`. The id finds the record; only the SHA-256
// of the whole token is stored, and the presented token's hash is compared
// with it in constant time. A token is shown once, when it is created.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId } from './ids.js';
import type { Actor, MetadataStore, TokenRecord, TokenScope } from './metadata-store.js';

const TOKEN_RE = /^lxl\.(tok_[0-9a-f]{24})\.([A-Za-z0-9_-]{43})$/;

/** Hex SHA-256 of a token string. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The id inside a well-formed token, or undefined for anything else. */
export function tokenId(token: string): string | undefined {
  return TOKEN_RE.exec(token)?.[1];
}

/** A new token and its record; the caller shows `token` once and stores only the record. */
export function mintToken(opts: { name: string; scopes: TokenScope[]; expiresAt?: number }): { token: string; record: Omit<TokenRecord, 'createdAt' | 'revokedAt' | 'lastUsedAt'> } {
  const id = newId('tok');
  const token = `lxl.${id}.${randomBytes(32).toString('base64url')}`;
  return { token, record: { id, name: opts.name, scopes: [...new Set(opts.scopes)].sort(), hash: hashToken(token), expiresAt: opts.expiresAt } };
}

/** Creates and stores a token; resolves to the token text (show it once) and its record. */
export async function createToken(store: MetadataStore, opts: { name: string; scopes: TokenScope[]; expiresAt?: number }, actor: Actor): Promise<{ token: string; record: TokenRecord }> {
  const minted = mintToken(opts);
  const record = await store.createToken(minted.record, actor);
  return { token: minted.token, record };
}

/** Why a token was refused, for the 401 message (never includes the token). */
export type TokenRefusal = 'malformed' | 'unknown' | 'revoked' | 'expired';

/** Finds the live record for a presented token, comparing hashes in constant time. */
export async function verifyToken(store: MetadataStore, token: string, now = Date.now()): Promise<{ record: TokenRecord } | { refused: TokenRefusal }> {
  const id = tokenId(token);
  if (!id) return { refused: 'malformed' };
  const rec = await store.getToken(id);
  const presented = Buffer.from(hashToken(token), 'hex');
  // Compare even when the id is unknown, so timing says nothing about which ids exist.
  const stored = Buffer.from(rec?.hash ?? '0'.repeat(64), 'hex');
  const same = stored.length === presented.length && timingSafeEqual(stored, presented);
  if (!rec || !same) return { refused: 'unknown' };
  if (rec.revokedAt !== undefined) return { refused: 'revoked' };
  if (rec.expiresAt !== undefined && rec.expiresAt <= now) return { refused: 'expired' };
  return { record: rec };
}

/** True when a token with `scopes` may do what `needed` allows (admin may do everything). */
export function allows(scopes: readonly TokenScope[], needed: TokenScope): boolean {
  return scopes.includes('admin') || scopes.includes(needed);
}
