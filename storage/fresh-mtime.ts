// HTTP caches and apt compare Last-Modified with one-second precision
// (If-Modified-Since). A top index (InRelease, repomd.xml) rewritten within
// the same second as its previous version can then be answered 304, and a
// client that fetched the old one keeps it. Before rewriting such files, a
// publisher takes a time in a later second than the newest existing copy:
// on a backend that records the time it is given (the local folder) it stamps
// the new files with the next second (at most one second ahead of the clock),
// elsewhere (S3 sets Last-Modified itself) it waits until the wall clock has
// left that second.

import type { PublishedStorage } from './storage.js';

/** Milliseconds to wait so that a write now lands in a later second than `lastMtimeMs` (0 when it already does). */
export function msUntilNewSecond(lastMtimeMs: number | undefined, nowMs: number): number {
  if (lastMtimeMs === undefined) return 0;
  const lastSecond = Math.floor(lastMtimeMs / 1000);
  return Math.floor(nowMs / 1000) > lastSecond ? 0 : (lastSecond + 1) * 1000 - nowMs + 5;
}

/**
 * The modification time for rewriting `keys` so that each gets a Last-Modified second newer than every existing copy:
 * undefined when now will do; on a storage that `setsMtime`, the start of the next second (pass it as PutOptions.mtimeMs;
 * it waits only to stay within one second ahead of the clock); elsewhere it waits until now will do.
 */
export async function freshMtime(storage: PublishedStorage, keys: string[], nowFn: () => number = Date.now): Promise<number | undefined> {
  const infos = await Promise.all(keys.map((k) => storage.head(k)));
  const newest = Math.max(...infos.map((i) => i?.mtimeMs ?? 0));
  const now = nowFn();
  const wait = msUntilNewSecond(newest > 0 ? newest : undefined, now);
  if (wait === 0) return undefined;
  if (!storage.setsMtime) {
    await sleep(wait);
    return undefined;
  }
  const next = (Math.floor(newest / 1000) + 1) * 1000;
  if (next - now > 1000) await sleep(next - now - 1000);
  return next;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
