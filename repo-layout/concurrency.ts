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

/**
 * Like mapLimit, but yields each result in order as soon as it and those before it are ready, so the caller can use
 * the first results while later calls run. A caller that stops early (or a failure) lets the calls in flight settle
 * before the generator ends, and starts no new one.
 */
export async function* mapAhead<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): AsyncGenerator<R> {
  const inflight: Array<Promise<R>> = [];
  let next = 0;
  const start = (): void => {
    const p = fn(items[next], next);
    next++;
    // Each is awaited in order below; this keeps one that fails before its turn from being reported as unhandled.
    p.catch(() => {});
    inflight.push(p);
  };
  try {
    while (next < items.length && inflight.length < limit) start();
    while (inflight.length > 0) {
      const r = await inflight.shift()!;
      if (next < items.length) start();
      yield r;
    }
  } finally {
    await Promise.allSettled(inflight);
  }
}
