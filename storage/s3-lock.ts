// The S3 publish lock, for several deployments sharing one bucket: a small
// JSON object (owner + expiry) created with `If-None-Match: *`. A lock whose
// expiry has passed is taken over by replacing it with `If-Match: <its ETag>`,
// so of two deployments that both see it stale exactly one wins. The holder
// renews the expiry while it publishes and deletes the object (again
// conditionally) when done. Within one deployment the metadata-store lock is
// the guarantee; this object only fences deployments from each other, and only
// on servers that honour conditional writes (AWS S3 does; s3rver does not).

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LockedError } from '../repo-layout/errors.js';
import type { ConditionalObjectStore } from './s3-storage.js';
import { CACHE_INDEX } from './storage.js';

/** How long a lock lives without renewal unless S3LockOptions.ttlMs says otherwise. */
export const DEFAULT_LOCK_TTL_MS = 120_000;

/** Attempts in a row, without waiting, after one that saw the lock change hands. */
const QUICK_RETRIES = 5;

/** The JSON body of a lock object. */
export interface LockRecord {
  owner: string;
  /** When the lock was first taken, ms since the epoch. */
  acquiredAt: number;
  /** After this instant (ms since the epoch) anyone may take the lock over. */
  expiresAt: number;
}

export interface S3LockOptions {
  store: ConditionalObjectStore;
  /** Key of the lock object, for example `locks/publish.json`. */
  key: string;
  /** Who holds it, shown to waiters (default host:pid:random). */
  owner?: string;
  /** How long a lock lives without renewal (default DEFAULT_LOCK_TTL_MS). */
  ttlMs?: number;
  /** Clock, for tests (default Date.now). */
  now?: () => number;
}

export interface AcquireOptions {
  /** How long to keep trying before failing with LockedError (default 0: fail at once). */
  waitMs?: number;
  /** Pause between attempts (default 500 ms). */
  pollMs?: number;
  signal?: AbortSignal;
}

/** A held lock. */
export interface LockHandle {
  readonly owner: string;
  /** Pushes the expiry ttlMs into the future; throws LockedError if the lock was lost. */
  renew(): Promise<void>;
  /** Gives the lock up (conditional delete); a lock already taken over by someone else is left alone. */
  release(): Promise<void>;
}

/** Encodes a lock record as the object body. */
export function encodeLock(rec: LockRecord): string {
  return `${JSON.stringify(rec)}\n`;
}

/** Decodes a lock object body; undefined when it is not a lock record (treated as expired). */
export function decodeLock(body: Buffer | string): LockRecord | undefined {
  try {
    const v = JSON.parse(body.toString()) as Partial<LockRecord>;
    if (typeof v.owner !== 'string' || typeof v.expiresAt !== 'number' || typeof v.acquiredAt !== 'number') return undefined;
    return { owner: v.owner, acquiredAt: v.acquiredAt, expiresAt: v.expiresAt };
  } catch {
    return undefined;
  }
}

/** A lock object on S3 (or any ConditionalObjectStore). */
export class S3PublishLock {
  readonly key: string;
  readonly owner: string;
  /** How long the lock lives without renewal: a waiter that waits longer outlives a lock left by a killed holder. */
  readonly ttlMs: number;
  private readonly store: ConditionalObjectStore;
  private readonly now: () => number;

  constructor(opts: S3LockOptions) {
    this.store = opts.store;
    this.key = opts.key;
    this.owner = opts.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.ttlMs = opts.ttlMs ?? DEFAULT_LOCK_TTL_MS;
    this.now = opts.now ?? Date.now;
  }

  /** One attempt: resolves a handle, or undefined when a live lock is held by someone else. */
  async tryAcquire(): Promise<LockHandle | undefined> {
    const a = await this.attempt();
    return 'handle' in a ? a.handle : undefined;
  }

  /** One attempt; when it fails, the live lock it found, or no holder when the lock changed hands between its calls. */
  private async attempt(): Promise<{ handle: LockHandle } | { holder?: LockRecord }> {
    const rec = (): string => encodeLock({ owner: this.owner, acquiredAt: this.now(), expiresAt: this.now() + this.ttlMs });
    const created = await this.store.createExclusive(this.key, rec(), { contentType: 'application/json', cacheControl: CACHE_INDEX });
    if (created !== undefined) return { handle: this.handle(created) };
    const current = await this.store.readWithEtag(this.key);
    if (!current) return {}; // released between our two calls: free again
    const held = decodeLock(current.body);
    // Our own record: a retried create whose first attempt landed but whose answer was lost. Adopt it.
    if (held && held.expiresAt > this.now() && held.owner !== this.owner) return { holder: held };
    // Stale, unreadable or ours: replace exactly the object we read; a concurrent taker changes the ETag and we lose.
    const replaced = await this.store.replaceIfMatch(this.key, rec(), current.etag, { contentType: 'application/json', cacheControl: CACHE_INDEX });
    return replaced === undefined ? {} : { handle: this.handle(replaced) };
  }

  /**
   * Takes the lock, polling up to waitMs; throws LockedError naming the holder when it stays taken. An attempt that
   * saw the lock change hands (released, or taken over, between its calls) is retried at once, a few times, before
   * any wait or error: the lock may be free, and the error must name who holds it.
   */
  async acquire(opts: AcquireOptions = {}): Promise<LockHandle> {
    const deadline = Date.now() + (opts.waitMs ?? 0);
    for (let quick = 0; ; ) {
      opts.signal?.throwIfAborted();
      const a = await this.attempt();
      if ('handle' in a) return a.handle;
      if (!a.holder && quick++ < QUICK_RETRIES) continue;
      if (Date.now() >= deadline) {
        const who = a.holder ? `held by ${a.holder.owner} until ${new Date(a.holder.expiresAt).toISOString()}` : 'held by another publisher';
        throw new LockedError(`cannot lock ${this.key}: ${who}; retry later or wait for it to expire`);
      }
      quick = 0;
      await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 500, Math.max(0, deadline - Date.now()))));
    }
  }

  /** Runs `fn` holding the lock, renewing it every ttlMs/3, and releases it afterwards. */
  async withLock<T>(fn: (signal: AbortSignal) => Promise<T>, opts: AcquireOptions = {}): Promise<T> {
    const h = await this.acquire(opts);
    const lost = new AbortController();
    const timer = setInterval(() => {
      h.renew().catch((err: unknown) => lost.abort(err));
    }, Math.max(1000, Math.floor(this.ttlMs / 3)));
    try {
      return await fn(lost.signal);
    } finally {
      clearInterval(timer);
      await h.release();
    }
  }

  private handle(firstEtag: string): LockHandle {
    let etag = firstEtag;
    const acquiredAt = this.now();
    const { store, key, owner, ttlMs, now } = this;
    return {
      owner,
      async renew() {
        const next = await store.replaceIfMatch(key, encodeLock({ owner, acquiredAt, expiresAt: now() + ttlMs }), etag, {
          contentType: 'application/json',
          cacheControl: CACHE_INDEX,
        });
        if (next === undefined) throw new LockedError(`cannot renew lock ${key}: it was taken over by another publisher`);
        etag = next;
      },
      async release() {
        // false means someone took the lock over after it expired: theirs now, leave it.
        await store.deleteIfMatch(key, etag);
      },
    };
  }
}
