// Load: 20 concurrent 50 MB uploads to `lxl server` running as its own
// process all complete and are stored intact, while the server's peak RSS
// (VmHWM from /proc/<pid>/status) stays under 300 MB.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { api, mintTokens, peakRssKiB, sha256File, spawnServer, type SpawnedServer } from '../support/server-harness.js';
import { tempDir } from '../support/tmp.js';
import path from 'node:path';
import { ustarHeader } from '../support/tar-fixture.js';

const UPLOADS = 20;
const MIB = 1024 * 1024;
const DATA_MIB = 50;
const block = randomBytes(MIB);

/** An uncompressed kernel tarball of ~50 MB, generated on the fly: one ustar header, the data, padding, end blocks. */
function tarChunks(i: number): () => Iterable<Buffer> {
  return function* () {
    yield ustarHeader(`boot/vmlinuz-6.1.${300 + i}-xen-legacy`, DATA_MIB * MIB);
    for (let k = 0; k < DATA_MIB; k++) yield k === 0 ? Buffer.concat([Buffer.from(`upload ${i}\n`), block.subarray(`upload ${i}\n`.length)]) : block;
    yield Buffer.alloc(1024);
  };
}


let server: SpawnedServer | undefined;
after(() => server?.stop('SIGKILL'));

test(`${UPLOADS} concurrent ${DATA_MIB} MB uploads complete with server peak RSS < 300 MB`, { timeout: 600_000 }, async () => {
  const varDir = await tempDir('lxl-load-');
  const { admin, builder } = await mintTokens(varDir);
  server = await spawnServer(varDir);
  const created = await api(server.url, 'POST', '/api/v1/repos', { token: admin, body: { name: 'main', settings: { lines: ['6.1'] } } });
  assert.equal(created.status, 201, created.text);
  const baseline = await peakRssKiB(server.pid);

  const uploads = Array.from({ length: UPLOADS }, (_, i) => {
    const h = createHash('sha256');
    let size = 0;
    for (const c of tarChunks(i)()) {
      h.update(c);
      size += c.length;
    }
    return { i, sha256: h.digest('hex'), size, filename: `linux-xen-legacy-6.1.${300 + i}-xen-legacy-x86_64.tar` };
  });
  const { uploadStream } = await import('../support/server-harness.js');
  const started = Date.now();
  const results = await Promise.all(
    uploads.map((u) => uploadStream(server!.url, 'main', () => Readable.from(tarChunks(u.i)()), { token: builder, filename: u.filename, sha256: u.sha256, size: u.size, line: '6.1' })),
  );
  const seconds = (Date.now() - started) / 1000;
  const peak = await peakRssKiB(server.pid);
  results.forEach((r, i) => assert.equal(r.status, 201, `upload ${i}: ${r.text}`));
  for (const u of uploads) {
    assert.equal(await sha256File(path.join(varDir, 'artifacts', 'sha256', u.sha256.slice(0, 2), u.sha256)), u.sha256);
  }
  const pkgs = (await api(server.url, 'GET', '/api/v1/repos/main/packages')).json.packages;
  assert.equal(pkgs.length, UPLOADS);
  const mb = (UPLOADS * uploads[0].size) / MIB;
  process.stdout.write(`# ${UPLOADS} x ${DATA_MIB} MiB in ${seconds.toFixed(1)} s (${(mb / seconds).toFixed(0)} MiB/s); server VmHWM ${Math.round(baseline / 1024)} MiB at start, ${Math.round(peak / 1024)} MiB peak\n`);
  assert.ok(peak < 300 * 1024, `server peak RSS ${Math.round(peak / 1024)} MiB ≥ 300 MiB`);
});
