import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../repo-layout/errors.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { S3Storage } from '../../storage/s3-storage.js';
import { openStorage, parseStorageConfig, storageConfigFromUrl } from '../../storage/storage-config.js';

test('a path or file:// URL opens FsStorage', () => {
  assert.deepEqual(storageConfigFromUrl('/srv/repo/public'), { kind: 'fs', root: '/srv/repo/public' });
  assert.deepEqual(storageConfigFromUrl('file:///srv/repo%20x'), { kind: 'fs', root: '/srv/repo x' });
  assert.ok(openStorage(storageConfigFromUrl('/tmp/x')) instanceof FsStorage);
});

test('an s3:// URL carries bucket, prefix and settings into S3Storage', async () => {
  const c = storageConfigFromUrl('s3://lxl-repos/prod/apt?endpoint=http://127.0.0.1:9000&region=eu-west-1&pathStyle=1&checksums=WHEN_REQUIRED&maxAttempts=7');
  assert.deepEqual(c, {
    kind: 's3',
    bucket: 'lxl-repos',
    prefix: 'prod/apt',
    endpoint: 'http://127.0.0.1:9000',
    region: 'eu-west-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    maxAttempts: 7,
  });
  const st = openStorage(c);
  assert.ok(st instanceof S3Storage);
  assert.equal(st.prefix, 'prod/apt/');
  assert.equal(await st.client.config.region(), 'eu-west-1');
  assert.equal(await st.client.config.maxAttempts(), 7);
  assert.equal(st.client.config.forcePathStyle, true);
  assert.equal(st.url('dists/x/InRelease'), 's3://lxl-repos/prod/apt/dists/x/InRelease');
});

test('bad configs fail with ConfigError naming the field', () => {
  assert.throws(() => storageConfigFromUrl('s3://Bad_Bucket/x'), (e: Error) => e instanceof ConfigError && /bucket/.test(e.message));
  assert.throws(() => storageConfigFromUrl('s3://b-1/x?endpoint=notaurl'), (e: Error) => e instanceof ConfigError && /endpoint/.test(e.message));
  assert.throws(() => storageConfigFromUrl('s3://b-1/x?colour=red'), (e: Error) => e instanceof ConfigError && /colour/.test(e.message));
  assert.throws(() => storageConfigFromUrl('ftp://host/x'), ConfigError);
  assert.throws(() => parseStorageConfig({ kind: 'gcs', bucket: 'x' }), ConfigError);
  assert.throws(() => parseStorageConfig({ kind: 's3', bucket: 'b-1', partSize: 1024 }), (e: Error) => /partSize/.test(e.message));
});
