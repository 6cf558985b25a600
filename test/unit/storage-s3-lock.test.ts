// The S3 lock's logic against an in-memory store that enforces conditional
// writes as S3 does (If-None-Match: * and If-Match by ETag), with a fake
// clock. test/e2e/s3-lock.test.ts runs it over HTTP with the real SDK.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { LockedError } from '../../repo-layout/errors.js';
import { decodeLock, encodeLock, S3PublishLock } from '../../storage/s3-lock.js';
import type { ConditionalObjectStore } from '../../storage/s3-storage.js';

class MemoryConditionalStore implements ConditionalObjectStore {
  readonly objects = new Map<string, { body: Buffer; etag: string }>();
  private n = 0;
  private tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  private etag(body: Buffer): string {
    return `"${createHash('md5').update(body).update(String(++this.n)).digest('hex')}"`;
  }
  async readWithEtag(key: string) {
    await this.tick();
    const o = this.objects.get(key);
    return o && { body: Buffer.from(o.body), etag: o.etag };
  }
  async createExclusive(key: string, body: string) {
    await this.tick();
    if (this.objects.has(key)) return undefined;
    const o = { body: Buffer.from(body), etag: this.etag(Buffer.from(body)) };
    this.objects.set(key, o);
    return o.etag;
  }
  async replaceIfMatch(key: string, body: string, etag: string) {
    await this.tick();
    if (this.objects.get(key)?.etag !== etag) return undefined;
    const o = { body: Buffer.from(body), etag: this.etag(Buffer.from(body)) };
    this.objects.set(key, o);
    return o.etag;
  }
  async deleteIfMatch(key: string, etag: string) {
    await this.tick();
    if (this.objects.get(key)?.etag !== etag) return false;
    this.objects.delete(key);
    return true;
  }
}

function setup() {
  const store = new MemoryConditionalStore();
  const clock = { t: 1_000_000 };
  const lock = (owner: string) => new S3PublishLock({ store, key: 'locks/publish.json', owner, ttlMs: 60_000, now: () => clock.t });
  return { store, clock, lock };
}

test('lock records round-trip; garbage decodes as undefined', () => {
  const rec = { owner: 'h:1', acquiredAt: 5, expiresAt: 10 };
  assert.deepEqual(decodeLock(encodeLock(rec)), rec);
  assert.equal(decodeLock('not json'), undefined);
  assert.equal(decodeLock('{"owner":1}'), undefined);
});

test('a held lock refuses a second owner with LockedError naming the holder; release frees it', async () => {
  const { store, lock } = setup();
  const a = await lock('A').acquire();
  assert.equal(await lock('B').tryAcquire(), undefined);
  await assert.rejects(lock('B').acquire(), (e: Error) => e instanceof LockedError && /held by A/.test(e.message));
  await a.release();
  assert.equal(store.objects.size, 0);
  const b = await lock('B').acquire();
  assert.equal(decodeLock(store.objects.get('locks/publish.json')!.body)?.owner, 'B');
  await b.release();
});

test('an expired lock is taken over; the old holder can neither renew nor delete the new lock', async () => {
  const { store, clock, lock } = setup();
  const a = await lock('A').acquire();
  await a.renew();
  clock.t += 30_000;
  assert.equal(await lock('B').tryAcquire(), undefined, 'renewed lock still live');
  clock.t += 61_000;
  const b = await lock('B').acquire();
  await assert.rejects(a.renew(), LockedError);
  await a.release();
  assert.equal(decodeLock(store.objects.get('locks/publish.json')!.body)?.owner, 'B');
  await b.release();
  assert.equal(store.objects.size, 0);
});

test('of many takers racing for one stale lock exactly one wins', async () => {
  const { store, clock, lock } = setup();
  await lock('dead').acquire();
  clock.t += 120_000;
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => lock(`T${i}`).tryAcquire()));
  const winners = results.filter(Boolean);
  assert.equal(winners.length, 1);
  assert.equal(decodeLock(store.objects.get('locks/publish.json')!.body)?.owner, winners[0]!.owner);
});

test('an unreadable lock object counts as stale', async () => {
  const { store, lock } = setup();
  await store.createExclusive('locks/publish.json', 'garbage');
  const h = await lock('C').acquire();
  assert.equal(h.owner, 'C');
});

test('acquire waits for a release when given waitMs', async () => {
  const { lock } = setup();
  const a = await lock('A').acquire();
  setTimeout(() => void a.release(), 50);
  const b = await lock('B').acquire({ waitMs: 5_000, pollMs: 10 });
  assert.equal(b.owner, 'B');
});

test('a lock whose create landed but whose answer was lost is adopted by its owner on retry', async () => {
  const { store, lock } = setup();
  const mine = lock('me');
  await store.createExclusive('locks/publish.json', encodeLock({ owner: 'me', acquiredAt: 1_000_000, expiresAt: 1_060_000 }));
  const h = await mine.acquire();
  assert.equal(h.owner, 'me');
  assert.equal(await lock('other').tryAcquire(), undefined);
  await h.release();
  assert.equal(store.objects.size, 0);
});

test('a lock left by a killed holder (never renewed nor released) is taken over by a waiter that waits out its TTL, not by one that gives up sooner', async () => {
  const store = new MemoryConditionalStore();
  const ttlMs = 300;
  const lock = (owner: string) => new S3PublishLock({ store, key: 'locks/publish.json', owner, ttlMs });
  await lock('killed').acquire();
  // The TTL runs from the moment the holder wrote its lock (its expiresAt), not from when acquire() returned: on a
  // loaded machine that can be later (a CI run measured from the return saw a takeover 287 ms after it, in time).
  const killed = decodeLock(store.objects.get('locks/publish.json')!.body)!;
  await assert.rejects(lock('impatient').acquire({ waitMs: ttlMs / 3, pollMs: 20 }), (err: unknown) => err instanceof LockedError && /held by killed until/.test(err.message));
  const patient = lock('patient');
  assert.equal(patient.ttlMs, ttlMs);
  const h = await patient.acquire({ waitMs: patient.ttlMs + 200, pollMs: 20 });
  const takenAt = Date.now();
  assert.equal(h.owner, 'patient');
  assert.ok(takenAt >= killed.expiresAt, `taken over ${killed.expiresAt - takenAt} ms before the killed holder's lock expired`);
  assert.equal(decodeLock(store.objects.get('locks/publish.json')!.body)?.owner, 'patient');
});

test('a lock released between an attempt’s create and read is taken at once; a refusal names the holder the attempt saw, even if it leaves right after', async () => {
  const { store, lock } = setup();
  const read = store.readWithEtag.bind(store);
  // A releases just as B reads the lock object: B's create failed, its read finds nothing. The lock is free, so B gets it.
  const a = await lock('A').acquire();
  store.readWithEtag = async (key: string) => {
    store.readWithEtag = read;
    await a.release();
    return read(key);
  };
  const b = await lock('B').acquire();
  assert.equal(decodeLock(store.objects.get('locks/publish.json')!.body)?.owner, 'B');
  // B releases just after C read B's record: C (not waiting) is refused, naming B, not "another publisher".
  store.readWithEtag = async (key: string) => {
    store.readWithEtag = read;
    const seen = await read(key);
    await b.release();
    return seen;
  };
  await assert.rejects(lock('C').acquire(), (e: Error) => e instanceof LockedError && /^cannot lock locks\/publish\.json: held by B until /.test(e.message));
});
