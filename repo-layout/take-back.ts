// What an add refused midway (a pool name found holding other bytes) takes
// back: the files it stored before the refusal, which nothing lists yet and
// no later publish would collect (the GC looks only at what a publish listed).
// Used by the APT and YUM adds.

import type { PublishedStorage } from '../storage/storage.js';
import { mapLimit } from './concurrency.js';

/**
 * The keys a linking add made: each key of the batch that linkFiles did not report as existing. A file given twice is
 * linked once and found existing once, so a key is made when it occurs in `keys` more often than in `existing`.
 */
export function linkedNow(keys: readonly string[], existing: readonly string[]): string[] {
  const found = new Map<string, number>();
  for (const k of existing) found.set(k, (found.get(k) ?? 0) + 1);
  const made = new Set<string>();
  for (const k of keys) {
    const n = found.get(k) ?? 0;
    if (n > 0) found.set(k, n - 1);
    else made.add(k);
  }
  return [...made];
}

/** Deletes what a refused add stored; a failure here is not the error the caller reports (the refusal is). */
export async function takeBack(storage: PublishedStorage, keys: Iterable<string>): Promise<void> {
  await mapLimit([...keys], 16, (k) => storage.delete(k).catch(() => {}));
}
