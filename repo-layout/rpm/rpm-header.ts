// RPM v4 header blobs and the lead as pure functions over Buffers
// (rpm docs/manual/format_v4.md; lib/header.c hdrblobVerifyRegion/Info).
// A header is: magic 8E AD E8 01 + 4 zero bytes, nindex, data size, 16-byte
// index entries {tag, type, offset, count} sorted by tag, then the data store.
// The first entry is the region tag, whose data is a 16-byte trailer at the
// very end of the store; rpm requires the data of the other entries to appear
// in index order and INT16/32/64 values to be aligned in the store.

import { FormatError } from '../errors.js';
import { RpmType, type RpmTypeCode } from './rpm-tags.js';

export const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
export const LEAD_MAGIC = Buffer.from([0xed, 0xab, 0xee, 0xdb]);
export const LEAD_SIZE = 96;

export type RpmValue = string | string[] | number[] | bigint[] | Buffer;

/** One header entry to encode. Numbers are unsigned (INT32 -1 means 0xffffffff). */
export interface RpmEntry {
  tag: number;
  type: RpmTypeCode;
  value: RpmValue;
}

/** A decoded header entry. */
export interface DecodedEntry {
  type: RpmTypeCode;
  count: number;
  value: RpmValue;
}

const ALIGN: Partial<Record<number, number>> = { [RpmType.INT16]: 2, [RpmType.INT32]: 4, [RpmType.INT64]: 8 };

/** Encodes a header with region `regionTag` (62 signature, 63 main); entries need unique tags. */
export function encodeHeader(regionTag: number, entries: RpmEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].tag === sorted[i - 1].tag) throw new FormatError(`cannot encode rpm header: tag ${sorted[i].tag} appears twice`);
  }
  const il = sorted.length + 1;
  const index = Buffer.alloc(il * 16);
  const parts: Buffer[] = [];
  let dl = 0;
  sorted.forEach((e, i) => {
    const align = ALIGN[e.type] ?? 1;
    const pad = (align - (dl % align)) % align;
    if (pad) {
      parts.push(Buffer.alloc(pad));
      dl += pad;
    }
    const { data, count } = encodeValue(e);
    const at = (i + 1) * 16;
    index.writeUInt32BE(e.tag, at);
    index.writeUInt32BE(e.type, at + 4);
    index.writeUInt32BE(dl, at + 8);
    index.writeUInt32BE(count, at + 12);
    parts.push(data);
    dl += data.length;
  });
  const trailer = Buffer.alloc(16);
  trailer.writeUInt32BE(regionTag, 0);
  trailer.writeUInt32BE(RpmType.BIN, 4);
  trailer.writeInt32BE(-il * 16, 8);
  trailer.writeUInt32BE(16, 12);
  index.writeUInt32BE(regionTag, 0);
  index.writeUInt32BE(RpmType.BIN, 4);
  index.writeUInt32BE(dl, 8);
  index.writeUInt32BE(16, 12);
  parts.push(trailer);
  dl += 16;
  const intro = Buffer.alloc(16);
  HEADER_MAGIC.copy(intro, 0);
  intro.writeUInt32BE(il, 8);
  intro.writeUInt32BE(dl, 12);
  return Buffer.concat([intro, index, ...parts]);
}

function encodeValue(e: RpmEntry): { data: Buffer; count: number } {
  const v = e.value;
  switch (e.type) {
    case RpmType.STRING:
      if (typeof v !== 'string') break;
      return { data: cstr(v), count: 1 };
    case RpmType.STRING_ARRAY:
    case RpmType.I18NSTRING: {
      const arr = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(arr) || arr.some((s) => typeof s !== 'string')) break;
      return { data: Buffer.concat((arr as string[]).map(cstr)), count: arr.length };
    }
    case RpmType.BIN:
      if (!Buffer.isBuffer(v)) break;
      return { data: v, count: v.length };
    case RpmType.INT8:
    case RpmType.CHAR:
    case RpmType.INT16:
    case RpmType.INT32: {
      if (!Array.isArray(v)) break;
      const size = e.type === RpmType.INT16 ? 2 : e.type === RpmType.INT32 ? 4 : 1;
      const b = Buffer.alloc(v.length * size);
      (v as number[]).forEach((n, i) => {
        const u = Number(n) >>> 0;
        if (size === 4) b.writeUInt32BE(u, i * 4);
        else if (size === 2) b.writeUInt16BE(u & 0xffff, i * 2);
        else b.writeUInt8(u & 0xff, i);
      });
      return { data: b, count: v.length };
    }
    case RpmType.INT64: {
      if (!Array.isArray(v)) break;
      const b = Buffer.alloc(v.length * 8);
      (v as Array<number | bigint>).forEach((n, i) => b.writeBigUInt64BE(BigInt(n), i * 8));
      return { data: b, count: v.length };
    }
  }
  throw new FormatError(`cannot encode rpm header tag ${e.tag}: value does not fit type ${e.type}`);
}

function cstr(s: string): Buffer {
  if (s.includes('\0')) throw new FormatError('cannot encode rpm header string: contains NUL');
  return Buffer.from(`${s}\0`, 'utf8');
}

/** Size of a header blob from its 16-byte intro: 16 + 16*nindex + data size. Throws on bad magic. */
export function headerBlobSize(intro: Buffer, what = 'header'): { il: number; dl: number; size: number } {
  if (intro.length < 16) throw new FormatError(`cannot read rpm ${what}: file is truncated`);
  if (!intro.subarray(0, 4).equals(HEADER_MAGIC.subarray(0, 4))) {
    throw new FormatError(`cannot read rpm ${what}: bad header magic (is this an rpm package?)`);
  }
  const il = intro.readUInt32BE(8);
  const dl = intro.readUInt32BE(12);
  // rpm's own sanity limits (header.c hdrchkTags/hdrchkData): 64k entries, 256 MB data.
  if (il < 1 || il > 0xffff || dl > 0x0fffffff) throw new FormatError(`cannot read rpm ${what}: implausible size (${il} entries, ${dl} bytes)`);
  return { il, dl, size: 16 + il * 16 + dl };
}

/** Decodes a whole header blob (intro + index + store) into entries by tag. */
export function decodeHeader(blob: Buffer, what = 'header'): Map<number, DecodedEntry> {
  const { il, dl, size } = headerBlobSize(blob, what);
  if (blob.length < size) throw new FormatError(`cannot read rpm ${what}: file is truncated`);
  const store = blob.subarray(16 + il * 16, size);
  const out = new Map<number, DecodedEntry>();
  for (let i = 0; i < il; i++) {
    const at = 16 + i * 16;
    const tag = blob.readUInt32BE(at);
    const type = blob.readUInt32BE(at + 4) as RpmTypeCode;
    const offset = blob.readInt32BE(at + 8);
    const count = blob.readUInt32BE(at + 12);
    if (offset < 0 || offset > dl) throw new FormatError(`cannot read rpm ${what}: tag ${tag} points outside the data`);
    out.set(tag, { type, count, value: decodeValue(store, type, offset, count, tag, what) });
  }
  return out;
}

function decodeValue(store: Buffer, type: RpmTypeCode, offset: number, count: number, tag: number, what: string): RpmValue {
  // Plain loops and no closures: a batch of thousands of rpms decodes ~100 entries each, mostly cold code.
  switch (type) {
    case RpmType.STRING:
    case RpmType.STRING_ARRAY:
    case RpmType.I18NSTRING: {
      const n = type === RpmType.STRING ? 1 : count;
      const strs: string[] = new Array(n);
      let p = offset;
      for (let i = 0; i < n; i++) {
        const end = store.indexOf(0, p);
        if (end < 0) throw new FormatError(`cannot read rpm ${what}: tag ${tag} has an unterminated string`);
        strs[i] = store.toString('utf8', p, end);
        p = end + 1;
      }
      return type === RpmType.STRING ? strs[0] : strs;
    }
    case RpmType.BIN:
      checkRoom(store, offset, count, tag, what);
      return Buffer.from(store.subarray(offset, offset + count));
    case RpmType.CHAR:
    case RpmType.INT8: {
      checkRoom(store, offset, count, tag, what);
      const out: number[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = store[offset + i];
      return out;
    }
    case RpmType.INT16: {
      checkRoom(store, offset, count * 2, tag, what);
      const out: number[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = store.readUInt16BE(offset + i * 2);
      return out;
    }
    case RpmType.INT32: {
      checkRoom(store, offset, count * 4, tag, what);
      const out: number[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = store.readUInt32BE(offset + i * 4);
      return out;
    }
    case RpmType.INT64: {
      checkRoom(store, offset, count * 8, tag, what);
      const out: bigint[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = store.readBigUInt64BE(offset + i * 8);
      return out;
    }
    default:
      return Buffer.alloc(0);
  }
}

function checkRoom(store: Buffer, offset: number, bytes: number, tag: number, what: string): void {
  if (offset + bytes > store.length) throw new FormatError(`cannot read rpm ${what}: tag ${tag} runs past the data`);
}

/** Bytes of zero padding after a signature header so the main header starts 8-aligned. */
export function signaturePadding(sigHeaderSize: number): number {
  return (8 - (sigHeaderSize % 8)) % 8;
}

/** The 96-byte lead: magic, v3.0, binary type, archnum 1, NUL-padded name, os 1, signature type 5. */
export function encodeLead(name: string, opts: { archnum?: number } = {}): Buffer {
  const lead = Buffer.alloc(LEAD_SIZE);
  LEAD_MAGIC.copy(lead, 0);
  lead[4] = 3;
  lead[5] = 0;
  lead.writeUInt16BE(0, 6);
  lead.writeUInt16BE(opts.archnum ?? 1, 8);
  Buffer.from(name, 'utf8').subarray(0, 65).copy(lead, 10);
  lead.writeUInt16BE(1, 76);
  lead.writeUInt16BE(5, 78);
  return lead;
}

/** Checks a lead; returns its name and type (0 binary, 1 source). Throws FormatError on bad magic. */
export function decodeLead(lead: Buffer): { name: string; type: number; major: number } {
  if (lead.length < LEAD_SIZE) throw new FormatError('cannot read rpm lead: file is truncated (less than 96 bytes)');
  if (!lead.subarray(0, 4).equals(LEAD_MAGIC)) throw new FormatError('cannot read rpm lead: bad magic (not an rpm package)');
  const nameEnd = lead.indexOf(0, 10);
  const name = lead.toString('utf8', 10, nameEnd < 0 || nameEnd > 76 ? 76 : nameEnd);
  if (lead.readUInt16BE(78) !== 5) throw new FormatError('cannot read rpm lead: unsupported signature type (only header-style signatures, rpm >= 3, are read)');
  return { name, type: lead.readUInt16BE(6), major: lead[4] };
}
