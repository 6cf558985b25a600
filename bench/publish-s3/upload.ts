// Uploads every file in a folder to S3 through S3Storage, `concurrency` at a
// time (streams, as the publisher sends pool files), and prints one JSON line
// with bytes and seconds. Used by bench/publish-s3/run.sh.
//   node --import tsx bench/publish-s3/upload.ts <dir> <endpoint> <bucket> [concurrency]

import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { S3Storage } from '../../storage/s3-storage.js';
import { CACHE_IMMUTABLE } from '../../storage/storage.js';

const [dir, endpoint, bucket, conc] = process.argv.slice(2);
if (!dir || !endpoint || !bucket) {
  process.stderr.write('usage: upload.ts <dir> <endpoint> <bucket> [concurrency]\n');
  process.exit(2);
}
const storage = new S3Storage({ bucket, endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
const files = (await readdir(dir)).sort();
let bytes = 0;
for (const f of files) bytes += (await stat(path.join(dir, f))).size;
const queue = [...files];
const started = process.hrtime.bigint();
await Promise.all(
  Array.from({ length: Number(conc ?? 4) }, async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      await storage.put(`pool/main/l/linux/${f}`, createReadStream(path.join(dir, f)), {
        contentType: 'application/vnd.debian.binary-package',
        cacheControl: CACHE_IMMUTABLE,
      });
    }
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(`${JSON.stringify({ files: files.length, bytes, seconds })}\n`);
