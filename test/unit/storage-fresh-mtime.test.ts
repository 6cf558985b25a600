import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msUntilNewSecond } from '../../storage/fresh-mtime.js';

test('a rewrite waits until the clock leaves the second of the previous copy', () => {
  assert.equal(msUntilNewSecond(undefined, 10_500), 0, 'no previous copy: no wait');
  assert.equal(msUntilNewSecond(9_999, 10_000), 0, 'previous copy in an earlier second: no wait');
  const wait = msUntilNewSecond(10_100, 10_400);
  assert.ok(wait > 0 && 10_400 + wait >= 11_000 && wait <= 605, `same second: waits into the next one (got ${wait} ms)`);
  assert.ok(msUntilNewSecond(11_900, 10_000) > 1_900, 'a copy stamped in the future (clock skew) is waited out');
});

test('freshMtime on the local folder: no wait, the new copy is stamped with the next second, never more than a second ahead of the clock', async () => {
  const { freshMtime } = await import('../../storage/fresh-mtime.js');
  const { FsStorage } = await import('../../storage/fs-storage.js');
  const { tempDir } = await import('../support/tmp.js');
  const s = new FsStorage({ root: await tempDir() });
  assert.equal(await freshMtime(s, ['dists/s/InRelease']), undefined, 'no copy yet: now will do');
  await s.put('dists/s/InRelease', 'one', { mtimeMs: 20_000_400 });
  assert.equal((await s.head('dists/s/InRelease'))!.mtimeMs, 20_000_400, 'put records the given time');
  assert.equal(await freshMtime(s, ['dists/s/InRelease'], () => 25_000_000), undefined, 'an older second: now will do');
  const t0 = Date.now();
  assert.equal(await freshMtime(s, ['dists/s/InRelease'], () => 20_000_700), 20_001_000, 'same second: the next one, without waiting');
  assert.ok(Date.now() - t0 < 200, 'no wait');
  await s.putMany([{ key: 'dists/s/InRelease', body: 'two', opts: { mtimeMs: 20_001_000 } }]);
  assert.equal((await s.head('dists/s/InRelease'))!.mtimeMs, 20_001_000, 'putMany records the given time');
  // A copy already stamped ahead (a burst of publishes): wait until the next second is at most one second ahead.
  const t1 = Date.now();
  assert.equal(await freshMtime(s, ['dists/s/InRelease'], () => 20_001_000 - 300), 20_002_000);
  assert.ok(Date.now() - t1 >= 290, 'waited to stay within a second of the clock');
});

test('freshMtime on a storage that cannot set times (S3) waits into the next second', async () => {
  const { freshMtime } = await import('../../storage/fresh-mtime.js');
  const now = Date.now();
  const head = async (key: string) => ({ key, size: 1, mtimeMs: now });
  const s3Like = { head } as unknown as import('../../storage/storage.js').PublishedStorage;
  const r = await freshMtime(s3Like, ['repodata/repomd.xml']);
  assert.equal(r, undefined);
  assert.ok(Math.floor(Date.now() / 1000) > Math.floor(now / 1000), 'the clock left the second of the existing copy');
});
