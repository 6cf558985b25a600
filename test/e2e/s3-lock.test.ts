// The S3 publish lock over real HTTP with the real SDK. s3rver ignores
// If-None-Match / If-Match (shown below), and no S3 server that enforces them
// can be installed here, so these tests put test/support/fault-proxy.ts in
// enforceConditional mode in front of s3rver: it checks the conditions and
// serialises conditional requests, as S3 does. Within one deployment the
// metadata-store lock remains the guarantee.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LockedError } from '../../repo-layout/errors.js';
import { decodeLock, encodeLock, S3PublishLock } from '../../storage/s3-lock.js';
import { S3Storage } from '../../storage/s3-storage.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { s3Unavailable, startS3Server, S3RVER_CREDENTIALS } from '../support/s3-server.js';

const skip = s3Unavailable();
const LOCK = 'locks/publish.json';

async function setup(faults?: { failRate: number; seed: number }) {
  const srv = await startS3Server('locks');
  const proxy = await startFaultProxy({ upstream: srv.endpoint, enforceConditional: true, ...faults, faults: ['500', '503', 'drop', 'drop-after'] });
  const storage = (endpoint: string) =>
    new S3Storage({ bucket: srv.bucket, endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: S3RVER_CREDENTIALS, maxAttempts: 8 });
  return { srv, proxy, storage };
}

test('s3rver alone ignores If-None-Match (why the enforcing proxy is needed); through the proxy it holds', { skip }, async () => {
  const { srv, proxy, storage } = await setup();
  const direct = storage(srv.endpoint);
  assert.notEqual(await direct.createExclusive('raw', 'one'), undefined);
  assert.notEqual(await direct.createExclusive('raw', 'two'), undefined, 's3rver started enforcing If-None-Match: drop the proxy');
  const enforced = storage(proxy.endpoint);
  assert.notEqual(await enforced.createExclusive('cond', 'one'), undefined);
  assert.equal(await enforced.createExclusive('cond', 'two'), undefined);
  const cur = await enforced.readWithEtag('cond');
  assert.equal(cur?.body.toString(), 'one');
  assert.equal(await enforced.replaceIfMatch('cond', 'three', '"0000"'), undefined);
  assert.notEqual(await enforced.replaceIfMatch('cond', 'three', cur!.etag), undefined);
  assert.equal(await enforced.deleteIfMatch('cond', cur!.etag), false);
  assert.equal((await enforced.getBytes('cond')).toString(), 'three');
});

for (const faults of [undefined, { failRate: 0.2, seed: 99 }]) test(`five deployments sharing a bucket${faults ? ', with 20% faults (500, 503, drops before and after the server acted)' : ''}: each read-modify-write runs under the lock, none is lost`, { skip }, async () => {
  const { proxy, storage } = await setup(faults);
  const names = ['d1', 'd2', 'd3', 'd4', 'd5'];
  let inside = 0;
  let maxInside = 0;
  await Promise.all(
    names.map(async (name) => {
      const st = storage(proxy.endpoint);
      const lock = new S3PublishLock({ store: st, key: LOCK, owner: name, ttlMs: 30_000 });
      await lock.withLock(
        async () => {
          maxInside = Math.max(maxInside, ++inside);
          const before = (await st.head('state.txt')) ? (await st.getBytes('state.txt')).toString() : '';
          await new Promise((r) => setTimeout(r, 30));
          await st.put('state.txt', `${before}${name}\n`);
          inside--;
        },
        { waitMs: 30_000, pollMs: 20 },
      );
    }),
  );
  const st = storage(proxy.endpoint);
  assert.deepEqual((await st.getBytes('state.txt')).toString().trim().split('\n').sort(), names);
  assert.equal(maxInside, 1);
  proxy.setFailRate(0);
  assert.equal(await st.head(LOCK), undefined, 'the last holder released the lock');
  if (faults) assert.ok(proxy.stats.injected['drop-after'] > 0 && proxy.stats.preconditionFailed > 0, JSON.stringify(proxy.stats));
});

test('a live lock gives LockedError; a stale one left by a crashed deployment is taken over', { skip }, async () => {
  const { proxy, storage } = await setup();
  const st = storage(proxy.endpoint);
  const holder = await new S3PublishLock({ store: st, key: LOCK, owner: 'alive', ttlMs: 60_000 }).acquire();
  await assert.rejects(new S3PublishLock({ store: st, key: LOCK, owner: 'second' }).acquire({ waitMs: 200, pollMs: 50 }), (e: Error) => e instanceof LockedError && /alive/.test(e.message));
  await holder.release();
  await st.put(LOCK, encodeLock({ owner: 'crashed', acquiredAt: Date.now() - 600_000, expiresAt: Date.now() - 1 }));
  const h = await new S3PublishLock({ store: st, key: LOCK, owner: 'rescuer' }).acquire();
  assert.equal(decodeLock(await st.getBytes(LOCK))?.owner, 'rescuer');
  await h.release();
});
