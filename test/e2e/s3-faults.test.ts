// S3Storage behind a proxy that answers 500/503 or drops the connection for
// a share of requests (seeded, so a failure can be replayed): every operation
// either succeeds through the SDK's retries with the right bytes, or fails
// cleanly with a StorageError, and never leaves a partial object.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { LxlError, StorageError } from '../../repo-layout/errors.js';
import { S3Storage } from '../../storage/s3-storage.js';
import { startFaultProxy, type Fault } from '../support/fault-proxy.js';
import { s3Unavailable, startS3Server, S3RVER_CREDENTIALS } from '../support/s3-server.js';

const skip = s3Unavailable();
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function setup(failRate: number, maxAttempts: number, seed: number, faults?: Fault[]) {
  const srv = await startS3Server('faults');
  const proxy = await startFaultProxy({ upstream: srv.endpoint, seed, failRate, faults });
  const opts = { bucket: srv.bucket, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' as const, credentials: S3RVER_CREDENTIALS };
  return { proxy, flaky: new S3Storage({ ...opts, endpoint: proxy.endpoint, maxAttempts }), direct: new S3Storage({ ...opts, endpoint: srv.endpoint }) };
}

test('with 25% faults (500, 503, drops before and after the server acted) and 8 attempts, puts, multipart uploads, gets, lists and deletes all succeed', { skip }, async () => {
  const { proxy, flaky, direct } = await setup(0.25, 8, 42, ['500', '503', 'drop', 'drop-after']);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 20; i++) files.set(`pool/f${i}_6.1.192+1~legacy1.deb`, randomBytes(20_000 + i));
  for (const [k, b] of files) await flaky.put(k, b, { contentType: 'application/vnd.debian.binary-package' });
  const big = randomBytes(11 * 1024 * 1024);
  await flaky.put('pool/big.deb', Readable.from([big.subarray(0, 3e6), big.subarray(3e6)]));
  for (const [k, b] of files) assert.equal(sha(await flaky.getBytes(k)), sha(b), k);
  assert.equal(sha(await direct.getBytes('pool/big.deb')), sha(big));
  const listed: string[] = [];
  for await (const o of flaky.list('pool/')) listed.push(o.key);
  assert.deepEqual(listed, [...files.keys(), 'pool/big.deb'].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  for (const k of files.keys()) await flaky.delete(k);
  assert.equal(await direct.head('pool/f0_6.1.192+1~legacy1.deb'), undefined);
  const injected = Object.values(proxy.stats.injected).reduce((a, b) => a + b, 0);
  assert.ok(injected >= 10, `faults were injected (${injected} of ${proxy.stats.requests} requests)`);
});

test('with 70% faults and 2 attempts, failures are StorageErrors and no object is left partial', { skip }, async () => {
  const { proxy, flaky, direct } = await setup(0.7, 2, 7);
  let ok = 0;
  let failed = 0;
  const bodies = new Map<string, Buffer>();
  for (let i = 0; i < 30; i++) {
    const key = `dists/x/Packages-${i}`;
    const body = randomBytes(50_000);
    bodies.set(key, body);
    try {
      await flaky.put(key, body, { cacheControl: 'no-cache' });
      ok++;
    } catch (err) {
      assert.ok(err instanceof StorageError, `${(err as Error).name}: ${(err as Error).message}`);
      assert.equal((err as LxlError).code, 'E_STORAGE');
      assert.match((err as Error).message, /^cannot write s3:\/\/faults\/dists\/x\/Packages-\d+: /);
      failed++;
    }
  }
  assert.ok(failed > 0 && ok > 0, `ok ${ok}, failed ${failed}`);
  for (const [key, body] of bodies) {
    const got = await direct.head(key);
    if (got) assert.equal(sha(await direct.getBytes(key)), sha(body), `${key} is whole`);
  }
  await assert.rejects(flaky.getBytes('missing-for-sure').then(() => flaky.getBytes('missing-for-sure')), (e: Error) => e instanceof LxlError);
  assert.ok(proxy.stats.injected.drop > 0 && proxy.stats.injected['500'] > 0 && proxy.stats.injected['503'] > 0, JSON.stringify(proxy.stats));
});
