// HTTP caches and apt compare Last-Modified with one-second precision
// (If-Modified-Since). A top index (InRelease, repomd.xml) rewritten within
// the same second as its previous version can then be answered 304, and a
// client that fetched the old one keeps it. Before rewriting such files, a
// publisher waits until the wall clock has left the second of the newest
// existing copy.

import type { PublishedStorage } from './storage.js';

/** Milliseconds to wait so that a write now lands in a later second than `lastMtimeMs` (0 when it already does). */
export function msUntilNewSecond(lastMtimeMs: number | undefined, nowMs: number): number {
  if (lastMtimeMs === undefined) return 0;
  const lastSecond = Math.floor(lastMtimeMs / 1000);
  return Math.floor(nowMs / 1000) > lastSecond ? 0 : (lastSecond + 1) * 1000 - nowMs + 5;
}

/** Waits until a write now gets a Last-Modified second newer than every existing one of `keys`. */
export async function awaitFreshSecond(storage: PublishedStorage, keys: string[]): Promise<void> {
  const infos = await Promise.all(keys.map((k) => storage.head(k)));
  const newest = Math.max(...infos.map((i) => i?.mtimeMs ?? 0));
  const wait = msUntilNewSecond(newest > 0 ? newest : undefined, Date.now());
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
