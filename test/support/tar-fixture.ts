// Hand-made tar bytes for upload tests (streamed without tar-stream, so a test
// can produce a huge or deliberately odd archive cheaply).

import { compressBuffer } from '../../repo-layout/compress.js';

/** A minimal ustar header for one regular file of `size` bytes, root-owned, mode 0644. */
export function ustarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const c of h) sum += c;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/**
 * A decompression bomb: a tar holding one file `name` of zeros, compressed as `unpackedBytes` (rounded up to 16 MiB
 * pieces) for a few hundred KB. Each 16 MiB piece is its own gzip member or xz stream, compressed once and repeated;
 * gunzip and `xz -d` read concatenated members and streams as one. The tar has no end: a reader that unpacks it all
 * finds it truncated, one that stops at a limit never gets there.
 */
export async function zeroBomb(kind: 'gzip' | 'xz', name: string, unpackedBytes: number): Promise<Buffer> {
  const piece = 16 * 1024 * 1024;
  const pieces = Math.max(1, Math.ceil(unpackedBytes / piece));
  const pack = (b: Buffer): Promise<Buffer> => compressBuffer(kind, b, { level: kind === 'gzip' ? 1 : 0 });
  const head = Buffer.concat([ustarHeader(name, pieces * piece), Buffer.alloc(piece - 512)]);
  const [first, zeros] = await Promise.all([pack(head), pack(Buffer.alloc(piece))]);
  return Buffer.concat([first, ...Array<Buffer>(pieces - 1).fill(zeros)]);
}
