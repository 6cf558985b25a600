// Retention: keep the N newest versions of each package name in a suite
// (every architecture of a kept version stays), ordered by Debian version rules.

import { compareDebianVersions } from './debian-version.js';

/** Splits `records` into those kept (the `n` newest versions of each name) and those dropped; n ≤ 0 keeps all. */
export function applyRetention<T extends { name: string; version: string }>(records: readonly T[], n: number): { keep: T[]; drop: T[] } {
  if (n <= 0) return { keep: [...records], drop: [] };
  const versions = new Map<string, string[]>();
  for (const r of records) {
    const vs = versions.get(r.name) ?? [];
    if (!vs.includes(r.version)) vs.push(r.version);
    versions.set(r.name, vs);
  }
  const kept = new Map<string, Set<string>>();
  for (const [name, vs] of versions) kept.set(name, new Set(vs.sort((a, b) => compareDebianVersions(b, a)).slice(0, n)));
  const keep: T[] = [];
  const drop: T[] = [];
  for (const r of records) (kept.get(r.name)?.has(r.version) ? keep : drop).push(r);
  return { keep, drop };
}
