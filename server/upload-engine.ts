// A multer storage engine that streams each file part to a temp file in the
// artifact store while hashing it (one pass, constant memory: no upload is
// ever held in RAM). The temp file is deleted on any error, abort or limit;
// the route commits it by digest only once it is verified.
// Durability without a stall: while the part streams in, a background
// fdatasync every SYNC_EVERY bytes lets the disk write back alongside the
// network (Linux would otherwise keep a whole 1 GiB upload dirty until the
// end); at the end a last fsync starts in the background and overlaps the
// route's package checks. ArtifactStore.commit fsyncs the temp file before
// linking it into place, so nothing is stored before its bytes are on disk.

import { createWriteStream, fdatasync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { discardWriteStream, fsyncPath } from '../storage/durable-file.js';
import type { ArtifactStore } from './artifact-store.js';

/** What the engine adds to `req.file`. */
export interface StreamedFile {
  /** The temp file (remove it or commit it). */
  path: string;
  size: number;
  sha256: string;
}

/** Bytes between background fdatasyncs of an upload's temp file. */
const SYNC_EVERY = 32 << 20;
/** Write buffer: socket chunks (16-64 KiB) are gathered into writev calls of up to this much (more only adds RSS). */
const WRITE_HWM = 1 << 20;

/** Counts and hashes what flows through, and calls `onBytes` per chunk. */
class Sha256Counter extends Transform {
  size = 0;
  /** Called after each chunk is passed on. */
  afterChunk?: () => void;
  private readonly hash = createHash('sha256');

  constructor(private readonly onBytes?: (n: number) => void) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    this.hash.update(chunk);
    this.onBytes?.(chunk.length);
    cb(null, chunk);
    this.afterChunk?.();
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Streams uploads into `store`'s temp folder, hashing with sha256 on the way. multer may answer a broken upload (its
 * part stream failed) before the engine has removed that part's temp file: `settled(req)` waits for the engine's
 * work on a request, so the route answers a refused upload only once nothing of it is left on disk.
 */
export class HashingTempStorage implements StorageEngine {
  private readonly store: ArtifactStore;
  private readonly onBytes?: (n: number) => void;
  private readonly inFlight = new WeakMap<Request, Set<Promise<void>>>();

  constructor(opts: { store: ArtifactStore; onBytes?: (n: number) => void }) {
    this.store = opts.store;
    this.onBytes = opts.onBytes;
  }

  /** Resolves once every file part of `req` that this engine started is written (and handed on) or removed. */
  async settled(req: Request): Promise<void> {
    await Promise.all(this.inFlight.get(req) ?? []);
  }

  _handleFile(req: Request, file: Express.Multer.File, cb: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
    let settle!: () => void;
    const work = new Promise<void>((r) => (settle = r));
    const mine = this.inFlight.get(req) ?? new Set<Promise<void>>();
    this.inFlight.set(req, mine.add(work));
    this.receive(file, (error, info) => {
      settle();
      cb(error, info);
    });
  }

  private receive(file: Express.Multer.File, cb: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
    const tmp = this.store.tempPath();
    const counter = new Sha256Counter(this.onBytes);
    // 'wx': never follow or reuse an existing name.
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o640, highWaterMark: WRITE_HWM });
    let syncing = false;
    let lastSync = 0;
    counter.afterChunk = () => {
      // One background flush at a time, on the write stream's own fd once it is open.
      const fd = (out as unknown as { fd: number | null }).fd;
      if (syncing || typeof fd !== 'number' || out.bytesWritten - lastSync < SYNC_EVERY) return;
      syncing = true;
      lastSync = out.bytesWritten;
      fdatasync(fd, () => {
        syncing = false;
      });
    };
    pipeline(file.stream, counter, out).then(
      () => {
        // Start the final flush now; commit() waits for it (its own fsync) before storing.
        fsyncPath(tmp).catch(() => {});
        cb(null, { path: tmp, size: counter.size, sha256: counter.digest() } as Partial<Express.Multer.File> & StreamedFile);
      },
      (err: unknown) => {
        // A part that fails at once can fail before the temp file's open (on the thread pool) has made it.
        discardWriteStream(out)
          .then(() => rm(tmp, { force: true }))
          .then(
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
