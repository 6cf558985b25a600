// Garbage collection of published files: objects under a prefix that the
// current published state no longer references are deleted, but only once
// they are older than a grace period, because clients in the middle of an
// update still fetch files the previous index named (DESIGN.md §5).

import type { ObjectInfo, PublishedStorage } from './storage.js';

export interface GcPlanInput {
  /** Every object under the collected prefix. */
  listing: Iterable<ObjectInfo>;
  /** Keys the current published state references (these are never deleted). */
  referenced: ReadonlySet<string>;
  /** The present, ms since the epoch. */
  nowMs: number;
  /** How long an unreferenced object stays, ms. */
  graceMs: number;
}

export interface GcPlan {
  /** Unreferenced and older than the grace period, in key order. */
  delete: ObjectInfo[];
  /** Unreferenced but still inside the grace period. */
  waiting: ObjectInfo[];
  /** How many listed objects are referenced. */
  referenced: number;
}

/** Decides what to delete; pure, so the rules are testable without storage. */
export function planGc(input: GcPlanInput): GcPlan {
  if (!(input.graceMs >= 0)) throw new RangeError(`grace period must be >= 0 ms, got ${input.graceMs}`);
  const plan: GcPlan = { delete: [], waiting: [], referenced: 0 };
  const cutoff = input.nowMs - input.graceMs;
  for (const o of input.listing) {
    if (input.referenced.has(o.key)) plan.referenced++;
    else if (o.mtimeMs <= cutoff) plan.delete.push(o);
    else plan.waiting.push(o);
  }
  plan.delete.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return plan;
}

export interface GcOptions {
  /** Only objects whose key starts with this prefix are considered, for example `apt/pool/`. */
  prefix: string;
  referenced: ReadonlySet<string>;
  graceMs: number;
  /** The present (default Date.now()). */
  nowMs?: number;
  /** Deletes at once (default 8). */
  concurrency?: number;
  /** Plan only, delete nothing. */
  dryRun?: boolean;
}

/** Lists `prefix`, plans with planGc and deletes what the plan says; resolves the plan. */
export async function runGc(storage: PublishedStorage, opts: GcOptions): Promise<GcPlan> {
  const listing: ObjectInfo[] = [];
  for await (const o of storage.list(opts.prefix)) listing.push(o);
  const plan = planGc({ listing, referenced: opts.referenced, nowMs: opts.nowMs ?? Date.now(), graceMs: opts.graceMs });
  if (opts.dryRun) return plan;
  const queue = [...plan.delete];
  const worker = async (): Promise<void> => {
    for (let o = queue.shift(); o; o = queue.shift()) await storage.delete(o.key);
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker));
  return plan;
}
