// Garbage collection of published files, the one used by every publisher:
// a file the current published state no longer references is deleted only
// once it has been unreferenced for a grace period, because clients in the
// middle of an update (and caches holding the previous index) still fetch
// files the previous index named (DESIGN.md §5).
//
// "Unreferenced since" is the time a publish first found the file
// unreferenced, kept by the caller between publishes (the `pending` map), not
// the file's mtime: a pool file written a year ago and dropped today must
// still stay for the grace period. Without a pending map (a one-off sweep) the
// mtime stands in for it.

import type { ObjectInfo, PublishedStorage } from './storage.js';

/** Unreferenced keys → when a publish first found them unreferenced (ms since the epoch). */
export type GcPending = Record<string, number>;

export interface GcPlanInput {
  /** Keys that may be garbage: a listing of the collected prefix, or the keys the previous publish referenced. Pending keys are candidates too. */
  candidates: Iterable<ObjectInfo | string>;
  /** Keys the current published state references (these are never deleted). */
  referenced: ReadonlySet<string>;
  /** Pending keys from the previous run. Omitted: a stateless sweep, where an object's mtime stands for "unreferenced since". */
  pending?: Readonly<GcPending>;
  /** The present, ms since the epoch. */
  nowMs: number;
  /** How long a key stays after it became unreferenced, ms. */
  graceMs: number;
}

export interface GcPlan {
  /** Unreferenced for at least the grace period, in key order. */
  delete: string[];
  /** Unreferenced but still inside the grace period, with the time each became unreferenced: the next run's `pending`. */
  pending: GcPending;
  /** How many candidates are referenced. */
  referenced: number;
}

/** Decides what to delete; pure, so the rules are testable without storage. */
export function planGc(input: GcPlanInput): GcPlan {
  if (!(input.graceMs >= 0)) throw new RangeError(`grace period must be >= 0 ms, got ${input.graceMs}`);
  const since = new Map<string, number>();
  const seen = new Set<string>();
  let referenced = 0;
  const consider = (key: string, fallback: number): void => {
    if (seen.has(key)) return;
    seen.add(key);
    if (input.referenced.has(key)) referenced++;
    else since.set(key, input.pending?.[key] ?? fallback);
  };
  for (const c of input.candidates) {
    if (typeof c === 'string') consider(c, input.nowMs);
    else consider(c.key, input.pending ? input.nowMs : Math.min(c.mtimeMs, input.nowMs));
  }
  for (const key of Object.keys(input.pending ?? {})) consider(key, input.nowMs);
  const plan: GcPlan = { delete: [], pending: {}, referenced };
  for (const key of [...since.keys()].sort()) {
    const t = since.get(key)!;
    if (input.nowMs - t >= input.graceMs) plan.delete.push(key);
    else plan.pending[key] = t;
  }
  return plan;
}

export interface GcOptions {
  /** Lists this prefix for candidates, for example `apt/pool/` (omit to use only `candidates` and `pending`). */
  prefix?: string;
  /** Candidates besides the listing (keys the previous publish referenced). */
  candidates?: Iterable<string>;
  referenced: ReadonlySet<string>;
  /** Pending keys from the previous run (see GcPlanInput.pending). */
  pending?: Readonly<GcPending>;
  graceMs: number;
  /** The present (default Date.now()). */
  nowMs?: number;
  /** Deletes at once (default 8). */
  concurrency?: number;
  /** Plan only, delete nothing. */
  dryRun?: boolean;
}

/** Lists `prefix` (if given), plans with planGc and deletes what the plan says; resolves the plan. Deleting a key already gone is not an error. */
export async function runGc(storage: PublishedStorage, opts: GcOptions): Promise<GcPlan> {
  const candidates: Array<ObjectInfo | string> = [...(opts.candidates ?? [])];
  if (opts.prefix !== undefined) {
    // With a pending map only the keys matter (an mtime stands in only for a stateless sweep).
    if (opts.pending && storage.listKeys) candidates.push(...(await storage.listKeys(opts.prefix)));
    else for await (const o of storage.list(opts.prefix)) candidates.push(o);
  }
  const plan = planGc({ candidates, referenced: opts.referenced, pending: opts.pending, nowMs: opts.nowMs ?? Date.now(), graceMs: opts.graceMs });
  if (opts.dryRun) return plan;
  const queue = [...plan.delete];
  const worker = async (): Promise<void> => {
    for (let k = queue.shift(); k !== undefined; k = queue.shift()) await storage.delete(k);
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker));
  return plan;
}
