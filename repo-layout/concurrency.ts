// Bounded concurrency for I/O-heavy loops (hashing debs, uploading pool files).

/**
 * Maps `fn` over `items` with at most `limit` calls in flight, keeping order. On a failure no new call starts, and it
 * rejects with the first failure once the calls in flight have settled, so a caller's cleanup sees everything they did.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  let failure: unknown;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (!failed && next < items.length) {
        const i = next++;
        try {
          out[i] = await fn(items[i], i);
        } catch (err) {
          if (!failed) failure = err;
          failed = true;
        }
      }
    }),
  );
  if (failed) throw failure;
  return out;
}
