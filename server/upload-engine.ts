// A multer storage engine that streams each file part to a temp file in the
// artifact store while hashing it (one pass, constant memory: no upload is
// ever held in RAM). The temp file is fsynced on close and deleted on any error,
// abort or limit; the route commits it by digest only once it is verified.

import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { DigestStream } from '../repo-layout/digests.js';
import type { ArtifactStore } from './artifact-store.js';

/** What the engine adds to `req.file`. */
export interface StreamedFile {
  /** The temp file (remove it or commit it). */
  path: string;
  size: number;
  sha256: string;
}

/** Streams uploads into `store`'s temp folder, hashing with sha256 on the way. */
export class HashingTempStorage implements StorageEngine {
  private readonly store: ArtifactStore;
  private readonly onBytes?: (n: number) => void;

  constructor(opts: { store: ArtifactStore; onBytes?: (n: number) => void }) {
    this.store = opts.store;
    this.onBytes = opts.onBytes;
  }

  _handleFile(_req: Request, file: Express.Multer.File, cb: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
    const tmp = this.store.tempPath();
    const digest = new DigestStream(['sha256'] as const);
    const onBytes = this.onBytes;
    if (onBytes) digest.on('data', (b: Buffer) => onBytes(b.length));
    // 'wx': never follow or reuse an existing name; `flush`: fsync before close, so a later rename publishes whole bytes.
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o640, flush: true, highWaterMark: 1 << 20 });
    pipeline(file.stream, digest, out).then(
      () => {
        const d = digest.result();
        cb(null, { path: tmp, size: d.size, sha256: d.sha256 } as Partial<Express.Multer.File> & StreamedFile);
      },
      (err: unknown) => {
        rm(tmp, { force: true }).then(
          () => cb(err),
          () => cb(err),
        );
      },
    );
  }

  _removeFile(_req: Request, file: Express.Multer.File, cb: (error: Error | null) => void): void {
    if (!file.path) return cb(null);
    rm(file.path, { force: true }).then(
      () => cb(null),
      (err: Error) => cb(err),
    );
  }
}
