// The PublishedStorage contract, written once and run against every backend:
// FsStorage on a temp folder and S3Storage on a real s3rver process.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { NotFoundError } from '../../repo-layout/errors.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { runGc } from '../../storage/gc.js';
import { S3Storage } from '../../storage/s3-storage.js';
import { CACHE_IMMUTABLE, type ObjectInfo, type PublishedStorage } from '../../storage/storage.js';
import { s3Unavailable, startS3Server, S3RVER_CREDENTIALS } from '../support/s3-server.js';
import { tempDir } from '../support/tmp.js';

interface Backend {
  name: string;
  skip?: string;
  open(): Promise<{ storage: PublishedStorage; httpUrl?: (key: string) => string }>;
}

const backends: Backend[] = [
  { name: 'fs', open: async () => ({ storage: new FsStorage({ root: await tempDir('lxl-contract-') }) }) },
  {
    name: 's3',
    skip: s3Unavailable(),
    open: async () => {
      const srv = await startS3Server('contract');
      const storage = new S3Storage({
        bucket: srv.bucket,
        prefix: 'repos/one',
        endpoint: srv.endpoint,
        forcePathStyle: true,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        credentials: S3RVER_CREDENTIALS,
        partSize: 5 * 1024 * 1024,
      });
      return { storage, httpUrl: (key) => `${srv.endpoint}/${srv.bucket}/repos/one/${key.split('/').map(encodeURIComponent).join('/')}` };
    },
  },
];

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

for (const backend of backends) {
  test(`PublishedStorage contract: ${backend.name}`, { skip: backend.skip }, async (t) => {
    const { storage, httpUrl } = await backend.open();

    await t.test('put then getBytes/get/head return the bytes', async () => {
      await storage.put('a/b/c.txt', 'hello\n', { contentType: 'text/plain' });
      assert.equal((await storage.getBytes('a/b/c.txt')).toString(), 'hello\n');
      const chunks: Buffer[] = [];
      for await (const c of await storage.get('a/b/c.txt')) chunks.push(Buffer.from(c as Uint8Array));
      assert.equal(Buffer.concat(chunks).toString(), 'hello\n');
      const h = await storage.head('a/b/c.txt');
      assert.equal(h?.size, 6);
      assert.ok(h && Math.abs(h.mtimeMs - Date.now()) < 120_000, `mtime ${h?.mtimeMs} is now`);
    });

    await t.test('put is atomic: concurrent readers see the old or the new bytes, never a part', async () => {
      const A = Buffer.alloc(1 << 20, 'a');
      const B = Buffer.alloc(1 << 20, 'b');
      await storage.put('atomic.bin', A);
      const seen = new Set<string>();
      let writing = true;
      const writer = (async () => {
        for (let i = 0; i < 6; i++) await storage.put('atomic.bin', i % 2 ? A : Readable.from([B.subarray(0, 1000), B.subarray(1000)]));
        writing = false;
      })();
      while (writing) {
        const got = await storage.getBytes('atomic.bin');
        assert.ok(got.equals(A) || got.equals(B), `read ${got.length} bytes (first ${got[0]}, last ${got[got.length - 1]}) that are neither version`);
        seen.add(got[0] === 0x61 ? 'A' : 'B');
      }
      await writer;
      assert.ok(seen.size >= 1);
    });

    await t.test('putMany (when the backend has it) writes every item with its bytes', { skip: storage.putMany ? undefined : `${backend.name} has no putMany` }, async () => {
      const items = Array.from({ length: 20 }, (_, i) => ({ key: `many/d${i % 3}/f${i}+1~x`, body: `body ${i}`, opts: { cacheControl: 'no-cache' } }));
      await storage.putMany!(items);
      for (const it of items) assert.equal((await storage.getBytes(it.key)).toString(), it.body);
      await storage.putMany!([]);
    });

    await t.test('putIfAbsent creates once and never overwrites', async () => {
      assert.equal(await storage.putIfAbsent('pool/once.deb', 'first'), true);
      assert.equal(await storage.putIfAbsent('pool/once.deb', 'second'), false);
      assert.equal((await storage.getBytes('pool/once.deb')).toString(), 'first');
    });

    await t.test('a missing key: get and getBytes reject with NotFoundError, head is undefined', async () => {
      await assert.rejects(storage.getBytes('no/such/key'), NotFoundError);
      await assert.rejects(storage.get('no/such/key'), NotFoundError);
      assert.equal(await storage.head('no/such/key'), undefined);
    });

    await t.test('list returns keys under a prefix, in key order', async () => {
      const keys = ['l/z', 'l/a/2', 'l/a/1', 'l/m-x', 'l/a.b', 'lx/other', 'l2/other'];
      for (const k of keys) await storage.put(k, k);
      const listed = await collect(storage.list('l/'));
      assert.deepEqual(
        listed.map((o) => o.key),
        keys.filter((k) => k.startsWith('l/')).sort(),
      );
      assert.deepEqual(listed.map((o) => o.size), listed.map((o) => o.key.length));
      assert.deepEqual((await collect(storage.list('l/a/'))).map((o) => o.key), ['l/a/1', 'l/a/2']);
      assert.deepEqual(await collect(storage.list('nothing/')), []);
    });

    await t.test('delete removes; deleting a missing key is fine', async () => {
      await storage.put('del/me', 'x');
      await storage.delete('del/me');
      assert.equal(await storage.head('del/me'), undefined);
      await storage.delete('del/me');
      await storage.delete('never/was');
    });

    await t.test('keys with + and ~ round-trip (a version like 6.1.192+1~legacy1)', async () => {
      const key = 'pool/main/l/linux-image-6.1.192+1~legacy1/linux-image-6.1.192+1~legacy1_6.1.192+1~legacy1_amd64.deb';
      await storage.put(key, 'plus-tilde');
      await storage.put(key.replace(/\+/g, ' '), 'with spaces');
      assert.equal((await storage.getBytes(key)).toString(), 'plus-tilde');
      assert.equal((await storage.head(key))?.size, 10);
      const listed = await collect(storage.list('pool/main/l/'));
      assert.ok(listed.some((o) => o.key === key), `listed ${listed.map((o) => o.key).join(', ')}`);
      assert.equal(await storage.putIfAbsent(key, 'other'), false);
      await storage.delete(key);
      assert.equal(await storage.head(key), undefined);
      assert.equal((await storage.getBytes(key.replace(/\+/g, ' '))).toString(), 'with spaces', 'deleting the + key left the space key');
    });

    await t.test('a 12 MiB stream uploads (multipart on S3) and reads back identical', async () => {
      const big = randomBytes(12 * 1024 * 1024);
      const parts = [];
      for (let off = 0; off < big.length; off += 1 << 20) parts.push(big.subarray(off, off + (1 << 20)));
      await storage.put('big/kernel.deb', Readable.from(parts), { cacheControl: CACHE_IMMUTABLE });
      assert.equal((await storage.head('big/kernel.deb'))?.size, big.length);
      const h = createHash('sha256');
      for await (const c of await storage.get('big/kernel.deb')) h.update(c as Uint8Array);
      assert.equal(h.digest('hex'), sha256(big));
    });

    await t.test('runGc keeps referenced and young objects and deletes the rest', async () => {
      for (const k of ['gc/pool/a.deb', 'gc/pool/b+1~x.deb', 'gc/pool/c.deb', 'gc/other/keep']) await storage.put(k, k);
      const referenced = new Set(['gc/pool/a.deb']);
      const young = await runGc(storage, { prefix: 'gc/pool/', referenced, graceMs: 3_600_000 });
      assert.deepEqual(young.delete, []);
      assert.equal(Object.keys(young.pending).length, 2);
      const due = await runGc(storage, { prefix: 'gc/pool/', referenced, graceMs: 0, nowMs: Date.now() + 5_000 });
      assert.deepEqual(due.delete, ['gc/pool/b+1~x.deb', 'gc/pool/c.deb']);
      assert.deepEqual((await collect(storage.list('gc/'))).map((o) => o.key), ['gc/other/keep', 'gc/pool/a.deb']);
    });

    if (httpUrl) {
      await t.test("Cache-Control and Content-Type come back on a plain GET from the server's HTTP endpoint", async () => {
        const key = 'dists/x/linux_6.1.192+1~legacy1.deb';
        await storage.put(key, 'served', { contentType: 'application/vnd.debian.binary-package', cacheControl: CACHE_IMMUTABLE });
        await storage.put('dists/x/InRelease', 'signed', { contentType: 'text/plain', cacheControl: 'no-cache' });
        const r1 = await fetch(httpUrl(key));
        assert.equal(r1.status, 200);
        assert.equal(await r1.text(), 'served');
        assert.equal(r1.headers.get('cache-control'), CACHE_IMMUTABLE);
        assert.equal(r1.headers.get('content-type'), 'application/vnd.debian.binary-package');
        const r2 = await fetch(httpUrl('dists/x/InRelease'));
        assert.equal(r2.headers.get('cache-control'), 'no-cache');
        assert.equal(r2.headers.get('content-type'), 'text/plain');
      });
    }
  });
}
