// Small durable local writes shared by the state files (catalogues, settings,
// keys, artifacts): fsync a path, and replace a file atomically and durably.

import { randomBytes } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Fsyncs a file or directory (a directory fsync makes the renames in it survive a crash). */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `file` with `data`: temp file, fsync, rename, fsync of the directory. Readers see old or new, never a part. */
export async function writeFileDurable(file: string, data: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await fsyncPath(path.dirname(file));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Destroys a file write stream (unless it is already) and resolves once it is closed. A write stream destroyed before
 * its open(2) completed (a source that failed at once) still opens, creating the file, before it closes: remove a
 * failed temp file only after this, or the late open recreates it.
 */
export async function discardWriteStream(stream: WriteStream | undefined): Promise<void> {
  if (!stream) return;
  if (!stream.destroyed) stream.destroy();
  if (!stream.closed) await new Promise<void>((resolve) => stream.once('close', () => resolve()));
}
