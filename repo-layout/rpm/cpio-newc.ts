// The cpio "newc" (SVR4, magic 070701) archive rpm uses as its payload.
// Header: magic + 13 fields of 8 hex digits, then the NUL-terminated name,
// padded to 4 bytes; file data padded to 4; a `TRAILER!!!` entry ends it.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { FormatError } from '../errors.js';

/** The fields of one cpio entry that rpm cares about. */
export interface CpioEntry {
  name: string;
  ino: number;
  /** Full st_mode, type bits included. */
  mode: number;
  nlink: number;
  mtime: number;
  size: number;
}

const hex8 = (n: number): string => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new FormatError(`cannot write cpio header: value ${n} does not fit 32 bits (files over 4 GiB are not supported)`);
  return n.toString(16).padStart(8, '0');
};

/** Encodes one newc header with its name and the padding that follows the name. */
export function encodeCpioHeader(e: CpioEntry): Buffer {
  const name = Buffer.from(`${e.name}\0`, 'utf8');
  const fields = [e.ino, e.mode, 0, 0, e.nlink, e.mtime, e.size, 0, 0, 0, 0, name.length, 0];
  const head = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  return Buffer.concat([head, name, Buffer.alloc(pad4(head.length + name.length))]);
}

/** The closing `TRAILER!!!` entry. */
export function cpioTrailer(): Buffer {
  return encodeCpioHeader({ name: 'TRAILER!!!', ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0 });
}

/** Zero bytes needed to pad `n` to a multiple of 4. */
export function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** One member to archive: header fields plus where its bytes come from. */
export interface CpioMember extends CpioEntry {
  /** A file on disk (streamed), inline bytes, or nothing (directories). */
  source?: string;
  content?: Buffer;
}

/** Yields the archive bytes member by member; a regular file's data is hashed with `digest` into `digests[i]`. */
export async function* cpioStream(members: CpioMember[], opts: { digest?: 'md5' | 'sha256'; digests?: string[]; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
  for (const [i, m] of members.entries()) {
    opts.signal?.throwIfAborted();
    yield encodeCpioHeader(m);
    // Only regular files carry a digest in the header; symlink targets are archived as data too.
    const hash: Hash | undefined = opts.digest && (m.mode & 0o170000) === 0o100000 ? createHash(opts.digest) : undefined;
    let seen = 0;
    if (m.content !== undefined) {
      hash?.update(m.content);
      seen = m.content.length;
      yield m.content;
    } else if (m.source !== undefined) {
      for await (const chunk of createReadStream(m.source, { highWaterMark: 1 << 20 })) {
        const b = chunk as Buffer;
        seen += b.length;
        if (seen > m.size) break;
        hash?.update(b);
        yield b;
      }
    }
    if (seen !== m.size) throw new FormatError(`cannot archive ${m.name}: its size changed while packing (expected ${m.size} bytes, read ${seen})`);
    if (hash && opts.digests) opts.digests[i] = hash.digest('hex');
    const p = pad4(m.size);
    if (p) yield Buffer.alloc(p);
  }
  yield cpioTrailer();
}
