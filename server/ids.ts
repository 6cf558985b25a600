// Identifiers: a short kind prefix, then a time-ordered part, then randomness,
// so ids sort by creation time in any store (no autoincrement needed, which
// keeps the SQL portable between SQLite and PostgreSQL).

import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;

/** A new id such as `job_019374a2c3f1_0000_5f2a9c1e`: prefix, ms clock (hex), per-ms counter, 32 random bits. */
export function newId(prefix: string): string {
  const now = Date.now();
  if (now === lastMs) counter++;
  else {
    lastMs = now;
    counter = 0;
  }
  return `${prefix}_${now.toString(16).padStart(12, '0')}${counter.toString(16).padStart(4, '0')}${randomBytes(4).toString('hex')}`;
}

/** True when `s` looks like an id this module makes with `prefix` (cheap input check before a lookup). */
export function isId(s: string, prefix: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-f]{24}$`).test(s);
}
