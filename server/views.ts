// What the API shows of stored records: token hashes and live lease ids are
// never shown (a lease id is returned once, to the worker that leased).

import type { JobRecord, TokenRecord } from './metadata-store.js';

/** A token as the API lists it: no hash. */
export function tokenView(t: TokenRecord): Omit<TokenRecord, 'hash'> & { active: boolean } {
  const { hash: _hash, ...rest } = t;
  return { ...rest, active: t.revokedAt === undefined && (t.expiresAt === undefined || t.expiresAt > Date.now()) };
}

/** A job as the read API shows it: no lease id. */
export function jobView(j: JobRecord): Omit<JobRecord, 'leaseId'> {
  const { leaseId: _lease, ...rest } = j;
  return rest;
}
