// Two server deployments sharing one bucket (RepoPublisher with an s3://
// storage URL, through a proxy that enforces If-None-Match as S3 does): their
// publishes run one at a time under the bucket's lock object (never both
// inside at once), and each completed publish ends with the trace file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { repoSettingsSchema } from '../../server/config.js';
import type { ArtifactStore } from '../../server/artifact-store.js';
import type { MetadataStore, RepoRecord } from '../../server/metadata-store.js';
import { RepoPublisher, S3_PUBLISH_LOCK_KEY } from '../../server/repo-publisher.js';
import { S3Storage } from '../../storage/s3-storage.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { s3Unavailable, startS3Server, S3RVER_CREDENTIALS } from '../support/s3-server.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

test('two deployments publishing to one S3 bucket take turns under the lock object; the trace is written last', { skip: s3Unavailable(), timeout: 120_000 }, async () => {
  const srv = await startS3Server('lxl-server');
  const proxy = await startFaultProxy({ upstream: srv.endpoint, enforceConditional: true });
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) process.env[k] = srv.env[k];
  const { signer } = await testKey();
  const dir = await tempDir('lxl-conc-server-');
  const storage = `s3://${srv.bucket}?endpoint=${encodeURIComponent(proxy.endpoint)}&pathStyle=true&checksums=WHEN_REQUIRED`;
  const direct = new S3Storage({ bucket: srv.bucket, endpoint: srv.endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: S3RVER_CREDENTIALS });
  let inside = 0;
  let maxInside = 0;
  let lockSeenHeld = 0;
  // A metadata store with no packages whose listPackages is slow, so the two publishes overlap in time.
  const store = {
    async listPackages() {
      maxInside = Math.max(maxInside, ++inside);
      if (await direct.head(S3_PUBLISH_LOCK_KEY)) lockSeenHeld++;
      await new Promise((r) => setTimeout(r, 400));
      inside--;
      return [];
    },
  } as unknown as MetadataStore;
  const repo: RepoRecord = { name: 'main', settings: repoSettingsSchema.parse({ lines: ['6.1'], formats: ['tarballs'] }), createdAt: 0, updatedAt: 0 };
  const make = (n: number) =>
    new RepoPublisher({ store, artifacts: {} as ArtifactStore, publicDir: path.join(dir, `unused-${n}`), stateDir: path.join(dir, `state-${n}`), signer, storage, s3LockWaitMs: 30_000, log: pino({ level: 'silent' }) });
  const t0 = Date.now();
  await Promise.all([make(1).publish(repo, new AbortController().signal), make(2).publish(repo, new AbortController().signal)]);
  assert.equal(maxInside, 1, 'the two publishes never ran at the same time');
  assert.equal(lockSeenHeld, 2, 'each publish ran while the lock object existed');
  assert.ok(proxy.stats.preconditionFailed >= 1, 'the second deployment was refused the lock at least once');
  assert.equal(await direct.head(S3_PUBLISH_LOCK_KEY), undefined, 'the lock was released');
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'localhost';
  const trace = await direct.head(`project/trace/${host}`);
  const sums = await direct.head('tarballs/main/index.json');
  assert.ok(trace && sums, 'trace and tarball index were published');
  assert.ok(trace.mtimeMs >= sums.mtimeMs, 'the trace is written after the index');
  assert.ok(Date.now() - t0 >= 800, 'the second publish waited for the first');
});
