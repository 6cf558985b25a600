// Artifacts stored but never catalogued (the server died between storing and
// cataloguing) are swept after a grace period, at start-up; catalogued ones,
// fresh ones and the signed copies of catalogued rpms stay.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FsArtifactStore } from '../../server/artifact-store.js';
import { artifactFiles, startTestServer, uploadFile } from '../support/server-harness.js';
import { makeDeb } from '../support/apt-debs.js';
import { tempDir } from '../support/tmp.js';

const HOUR = 60 * 60 * 1000;

/** Stores `text` as an artifact with mtime `ageMs` in the past; returns its digest. */
async function put(store: FsArtifactStore, text: string, ageMs: number): Promise<string> {
  const sha = createHash('sha256').update(text).digest('hex');
  const tmp = store.tempPath();
  await writeFile(tmp, text);
  const t = new Date(Date.now() - ageMs);
  await utimes(tmp, t, t);
  await store.commit(tmp, sha);
  return sha;
}

test('sweepUnreferenced removes old uncatalogued artifacts and keeps catalogued, fresh and derived-from-catalogued ones', async () => {
  const dir = await tempDir();
  const store = new FsArtifactStore({ root: dir });
  await store.init();
  const catalogued = await put(store, 'catalogued', 2 * HOUR);
  const orphan = await put(store, 'orphan', 2 * HOUR);
  const fresh = await put(store, 'fresh upload, not yet catalogued', 60_000);
  const signedOfCatalogued = await put(store, 'signed copy of catalogued', 2 * HOUR);
  const signedOfOrphan = await put(store, 'signed copy of orphan', 2 * HOUR);
  await store.setDerived('rpm-signed-ABC', catalogued, signedOfCatalogued);
  await store.setDerived('rpm-signed-ABC', orphan, signedOfOrphan);
  const old = new Date(Date.now() - 2 * HOUR);
  await utimes(path.join(dir, 'derived', 'rpm-signed-ABC', orphan), old, old);

  const r = await store.sweepUnreferenced(new Set([catalogued]), { graceMs: HOUR });
  assert.deepEqual(r.artifacts.sort(), [orphan, signedOfOrphan].sort());
  assert.equal(r.derived, 1);
  assert.deepEqual((await store.list()).sort(), [catalogued, fresh, signedOfCatalogued].sort());
  assert.equal(await store.derived('rpm-signed-ABC', catalogued), signedOfCatalogued);
  assert.equal(await store.derived('rpm-signed-ABC', orphan), undefined);
  // A second sweep finds nothing more.
  assert.deepEqual(await store.sweepUnreferenced(new Set([catalogued]), { graceMs: HOUR }), { artifacts: [], derived: 0 });
});

test('re-storing an old artifact makes it fresh again, so a sweep cannot take it before it is catalogued', async () => {
  const dir = await tempDir();
  const store = new FsArtifactStore({ root: dir });
  await store.init();
  const sha = await put(store, 'same bytes', 2 * HOUR);
  await put(store, 'same bytes', 0);
  assert.deepEqual(await store.sweepUnreferenced(new Set(), { graceMs: HOUR }), { artifacts: [], derived: 0 });
  assert.ok(await store.has(sha));
});

test('a server start sweeps an artifact left uncatalogued by a crash, and keeps the catalogued upload', async () => {
  const work = await tempDir();
  const srv = await startTestServer();
  let varDir = srv.varDir;
  let stopped = false;
  try {
    const deb = await makeDeb(work, { name: 'linux-image-6.1.192-xen-legacy', version: '6.1.192-1', arch: 'x86_64' });
    const up = await uploadFile(srv.url, 'main', deb, { token: srv.builder, line: '6.1' });
    assert.equal(up.status, 201, up.text);
    const kept = up.json.package.sha256 as string;
    // What a crash between commit and catalogue leaves: a stored artifact no row names, from before the grace period.
    const orphan = createHash('sha256').update('orphan').digest('hex');
    const orphanFile = path.join(varDir, 'artifacts', 'sha256', orphan.slice(0, 2), orphan);
    await mkdir(path.dirname(orphanFile), { recursive: true });
    await writeFile(orphanFile, 'orphan');
    const old = new Date(Date.now() - 2 * HOUR);
    await utimes(orphanFile, old, old);
    assert.ok((await artifactFiles(varDir)).includes(path.join('sha256', orphan.slice(0, 2), orphan)));

    await srv.running.close();
    stopped = true;
    const again = await startTestServer({ varDir });
    varDir = again.varDir;
    try {
      assert.equal(existsSync(orphanFile), false, 'the uncatalogued artifact is still there');
      assert.deepEqual(await artifactFiles(varDir), [path.join('sha256', kept.slice(0, 2), kept)]);
    } finally {
      await again.running.close();
    }
  } finally {
    if (!stopped) await srv.running.close();
    await srv.close().catch(() => {});
  }
});
