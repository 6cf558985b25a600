// The .xz container around independently compressed blocks (The .xz File
// Format 1.1.0, tukaani.org/xz/xz-file-format.txt): stream header, blocks,
// index, stream footer. Every block of a stream is decodable on its own, so
// a stream can be split into its blocks and put together again from blocks
// of other streams, which is what lets an index file be recompressed only
// where its text changed (packages-xz.ts). Pure: bytes in, bytes out.

import { FormatError } from './errors.js';
import { crc32 } from './tar-compress.js';

const STREAM_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const FOOTER_MAGIC = Buffer.from('YZ', 'latin1');
/** Check types and their sizes in bytes (§2.1.1.2): None, CRC32, CRC64, SHA-256. */
const CHECK_SIZE: Record<number, number> = { 0x00: 0, 0x01: 4, 0x04: 8, 0x0a: 32 };

/** One block as stored: header, compressed data, padding and check. */
export interface XzBlock {
  /** The block's bytes including its padding (a multiple of 4 long). */
  bytes: Buffer;
  /** Header + compressed data + check, without the padding (the index's Unpadded Size). */
  unpaddedSize: number;
  /** Size of the data the block decompresses to. */
  uncompressedSize: number;
}

/** A parsed stream: its check type and its blocks in order. */
export interface XzStream {
  check: number;
  blocks: XzBlock[];
}

/** Splits a single-stream .xz file into its blocks, using the index; throws FormatError on anything malformed. */
export function parseXzStream(buf: Buffer): XzStream {
  if (buf.length < 32 || !buf.subarray(0, 6).equals(STREAM_MAGIC)) throw new FormatError('cannot read xz stream: bad magic');
  const flags = buf.subarray(6, 8);
  if (crc32(flags) !== buf.readUInt32LE(8)) throw new FormatError('cannot read xz stream: stream header CRC32 does not match');
  const check = flags[1];
  if (flags[0] !== 0 || CHECK_SIZE[check] === undefined) throw new FormatError(`cannot read xz stream: unsupported stream flags ${flags.toString('hex')}`);
  const footer = buf.subarray(buf.length - 12);
  if (!footer.subarray(10).equals(FOOTER_MAGIC) || !footer.subarray(8, 10).equals(flags)) throw new FormatError('cannot read xz stream: bad stream footer (padding or several streams are not supported)');
  if (crc32(footer.subarray(4, 10)) !== footer.readUInt32LE(0)) throw new FormatError('cannot read xz stream: stream footer CRC32 does not match');
  const indexSize = (footer.readUInt32LE(4) + 1) * 4;
  const indexStart = buf.length - 12 - indexSize;
  if (indexStart < 12) throw new FormatError('cannot read xz stream: index size out of range');
  const index = buf.subarray(indexStart, indexStart + indexSize);
  if (index[0] !== 0x00) throw new FormatError('cannot read xz stream: no index indicator');
  if (crc32(index.subarray(0, indexSize - 4)) !== index.readUInt32LE(indexSize - 4)) throw new FormatError('cannot read xz stream: index CRC32 does not match');
  let at = 1;
  const vli = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      if (at >= indexSize - 4 || shift > 49) throw new FormatError('cannot read xz stream: bad number in the index');
      const b = index[at++];
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
  };
  const count = vli();
  const blocks: XzBlock[] = [];
  let pos = 12;
  for (let i = 0; i < count; i++) {
    const unpaddedSize = vli();
    const uncompressedSize = vli();
    const padded = Math.ceil(unpaddedSize / 4) * 4;
    if (pos + padded > indexStart) throw new FormatError('cannot read xz stream: a block runs into the index');
    blocks.push({ bytes: buf.subarray(pos, pos + padded), unpaddedSize, uncompressedSize });
    pos += padded;
  }
  if (pos !== indexStart) throw new FormatError('cannot read xz stream: the index does not account for every block');
  return { check, blocks };
}

/** Writes a single .xz stream holding `blocks` in order (each made with check type `check`, default CRC64). */
export function xzStreamFromBlocks(blocks: readonly XzBlock[], check = 0x04): Buffer {
  const flags = Buffer.from([0x00, check]);
  const header = Buffer.concat([STREAM_MAGIC, flags, u32le(crc32(flags))]);
  const records: number[] = [0x00, ...vliBytes(blocks.length)];
  for (const b of blocks) {
    if (b.bytes.length % 4 !== 0 || b.bytes.length !== Math.ceil(b.unpaddedSize / 4) * 4) throw new FormatError('cannot write xz stream: a block is not padded to 4 bytes');
    records.push(...vliBytes(b.unpaddedSize), ...vliBytes(b.uncompressedSize));
  }
  while (records.length % 4 !== 0) records.push(0);
  const indexBody = Buffer.from(records);
  const index = Buffer.concat([indexBody, u32le(crc32(indexBody))]);
  const backward = Buffer.concat([u32le(index.length / 4 - 1), flags]);
  const footer = Buffer.concat([u32le(crc32(backward)), backward, FOOTER_MAGIC]);
  return Buffer.concat([header, ...blocks.map((b) => b.bytes), index, footer]);
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** The xz variable-length integer encoding (§1.2): 7 bits a byte, low bits first. */
function vliBytes(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** CRC-64 as xz computes it (ECMA-182, reflected; the `--check=crc64` default), as the 8 little-endian bytes a block stores. */
export function crc64(buf: Uint8Array): Buffer {
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  const L = T_LO;
  const H = T_HI;
  // Slicing by 8 (eight bytes a step through eight tables), then byte by byte for the tail.
  const end8 = buf.length - (buf.length % 8);
  let i = 0;
  for (; i < end8; i += 8) {
    const a = lo ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    const b = hi ^ (buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24));
    lo = L[1792 + (a & 0xff)] ^ L[1536 + ((a >>> 8) & 0xff)] ^ L[1280 + ((a >>> 16) & 0xff)] ^ L[1024 + (a >>> 24)] ^ L[768 + (b & 0xff)] ^ L[512 + ((b >>> 8) & 0xff)] ^ L[256 + ((b >>> 16) & 0xff)] ^ L[b >>> 24];
    hi = H[1792 + (a & 0xff)] ^ H[1536 + ((a >>> 8) & 0xff)] ^ H[1280 + ((a >>> 16) & 0xff)] ^ H[1024 + (a >>> 24)] ^ H[768 + (b & 0xff)] ^ H[512 + ((b >>> 8) & 0xff)] ^ H[256 + ((b >>> 16) & 0xff)] ^ H[b >>> 24];
  }
  for (; i < buf.length; i++) {
    const x = (lo ^ buf[i]) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ L[x];
    hi = (hi >>> 8) ^ H[x];
  }
  const out = Buffer.alloc(8);
  out.writeUInt32LE(~lo >>> 0, 0);
  out.writeUInt32LE(~hi >>> 0, 4);
  return out;
}

/** The check a block stores after its data (its last bytes): CRC64 of what it decompresses to, for check type 0x04. */
export function blockCheck(block: XzBlock, check = 0x04): Buffer {
  return block.bytes.subarray(block.bytes.length - (CHECK_SIZE[check] ?? 0));
}

// The CRC-64 tables as two 32-bit halves (JavaScript has no fast 64-bit integers): entry 256 k + n holds the CRC of
// byte n followed by k zero bytes, for slicing by 8.
const [T_LO, T_HI] = (() => {
  const lo = new Uint32Array(8 * 256);
  const hi = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let l = n;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const bit = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h >>>= 1;
      if (bit) {
        l = (l ^ 0xd7870f42) >>> 0;
        h = (h ^ 0xc96c5795) >>> 0;
      }
    }
    lo[n] = l;
    hi[n] = h;
  }
  for (let k = 256; k < 8 * 256; k++) {
    const x = lo[k - 256] & 0xff;
    lo[k] = ((lo[k - 256] >>> 8) | (hi[k - 256] << 24)) ^ lo[x];
    hi[k] = (hi[k - 256] >>> 8) ^ hi[x];
  }
  return [lo, hi];
})();
