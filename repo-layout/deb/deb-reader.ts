// Reads a .deb from disk, streaming (dpkg deb.pod): checks the ar layout and
// member order, decompresses control.tar and data.tar (gzip, xz, zstd or
// none), parses the control paragraph and lists the payload. Every path in
// both tars is checked: an absolute path or a `..` segment is a FormatError,
// because uploads are validated with this reader before they are published.

import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline, Readable, type Duplex } from 'node:stream';
import { extract, type Header } from 'tar-stream';
import { AR_HEADER_SIZE, AR_MAGIC, decodeArHeader } from '../ar.js';
import { decompressor, sniffCompression, unpackLimit, zstdDecompressor } from '../compress.js';
import { parseControlParagraph, type Paragraph } from '../deb822.js';
import { FormatError, LxlError, StorageError } from '../errors.js';
import { MAX_CONTROL_TAR_BYTES } from './deb-control.js';

/** One payload entry of a .deb; `path` has no leading `./` and no trailing `/`. */
export interface DebFile {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  /** Permission bits (07777). */
  mode: number;
  size: number;
  linkTarget?: string;
}

/** What inspectDeb found. */
export interface DebInfo {
  control: Paragraph;
  controlText: string;
  /** The payload entries in archive order (empty unless listFiles), without the root `./`. */
  files: DebFile[];
  /** Compression of each member: gzip, xz, zstd or none. */
  compression: { control: string; data: string };
}

export interface InspectOptions {
  /** Keep the payload list in `files`. The payload is read through and its paths checked either way. */
  listFiles?: boolean;
  /**
   * The most bytes data.tar may unpack to (default: no limit). More is a FormatError, found while streaming, so a
   * decompression bomb costs at most this much work. control.tar is always held to MAX_CONTROL_TAR_BYTES.
   */
  maxDataBytes?: number;
}

interface Member {
  name: string;
  offset: number;
  size: number;
}

const MEMBER_RE = /^(control|data)\.tar(\.gz|\.xz|\.zst)?$/;
const SUFFIX_KIND: Record<string, string> = { '': 'none', '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd' };
const MAX_CONTROL_BYTES = 4 * 1024 * 1024;

/** Reads the control paragraph and (optionally) the file list of the .deb at `file`; throws FormatError for a malformed one. */
export async function inspectDeb(file: string, opts: InspectOptions = {}): Promise<DebInfo> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw new StorageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let members: Member[];
  let debianBinary: Buffer;
  try {
    members = await readMembers(fh, file);
    const [first, control, data] = orderedMembers(members, file);
    debianBinary = await readRange(fh, first.offset, Math.min(first.size, 16));
    if (!/^2\.\d+\n/.test(debianBinary.toString('latin1'))) throw new FormatError(`cannot read ${file}: debian-binary says ${JSON.stringify(debianBinary.toString('latin1'))}, expected "2.0\\n"`);
    const controlKind = await memberKind(fh, control, file);
    const dataKind = await memberKind(fh, data, file);
    const controlText = await readControl(file, control, controlKind);
    const paragraph = parseControl(controlText, file);
    const files = await listData(file, data, dataKind, { keep: opts.listFiles ?? false, maxBytes: opts.maxDataBytes });
    return { control: paragraph, controlText, files, compression: { control: controlKind, data: dataKind } };
  } finally {
    await fh.close();
  }
}

async function readRange(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, offset);
  return buf.subarray(0, bytesRead);
}

/** Walks the ar headers; every member must lie inside the file. */
async function readMembers(fh: FileHandle, file: string): Promise<Member[]> {
  const size = (await fh.stat()).size;
  const magic = await readRange(fh, 0, AR_MAGIC.length);
  if (!magic.equals(AR_MAGIC)) throw new FormatError(`cannot read ${file}: not a .deb (bad ar magic ${JSON.stringify(magic.toString('latin1'))}; expected "!<arch>\\n")`);
  const members: Member[] = [];
  let offset = AR_MAGIC.length;
  while (offset < size) {
    if (offset + AR_HEADER_SIZE > size) throw new FormatError(`cannot read ${file}: truncated (an ar member header at byte ${offset} is cut short; the file is ${size} bytes)`);
    const h = decodeArHeader(await readRange(fh, offset, AR_HEADER_SIZE), `${file} at byte ${offset}`);
    const start = offset + AR_HEADER_SIZE;
    if (start + h.size > size) throw new FormatError(`cannot read ${file}: truncated (member ${h.name} needs ${h.size} bytes but only ${size - start} remain)`);
    members.push({ name: h.name, offset: start, size: h.size });
    offset = start + h.size + (h.size % 2);
  }
  return members;
}

/** debian-binary, then control.tar*, then data.tar*; members named `_…` are reserved and skipped (deb.pod). */
function orderedMembers(members: Member[], file: string): [Member, Member, Member] {
  const names = members.map((m) => m.name);
  if (members.length === 0) throw new FormatError(`cannot read ${file}: the ar archive is empty`);
  if (names[0] !== 'debian-binary') throw new FormatError(`cannot read ${file}: the first member is ${JSON.stringify(names[0])}, expected debian-binary`);
  const rest = members.slice(1).filter((m) => !m.name.startsWith('_'));
  const [control, data] = rest;
  if (!control || !/^control\.tar/.test(control.name)) throw new FormatError(`cannot read ${file}: members in the wrong order (${names.join(', ')}); expected debian-binary, control.tar.*, data.tar.*`);
  if (!data || !/^data\.tar/.test(data.name)) throw new FormatError(`cannot read ${file}: members in the wrong order or missing data.tar (${names.join(', ')})`);
  for (const m of [control, data]) {
    if (!MEMBER_RE.test(m.name)) throw new FormatError(`cannot read ${file}: unsupported member ${m.name} (only none, .gz, .xz and .zst are read)`);
  }
  return [members[0], control, data];
}

/** The member's compression from its name, cross-checked against its first bytes. */
async function memberKind(fh: FileHandle, m: Member, file: string): Promise<string> {
  const kind = SUFFIX_KIND[MEMBER_RE.exec(m.name)![2] ?? ''];
  if (kind === 'none') return kind;
  const sniffed = sniffCompression(await readRange(fh, m.offset, Math.min(m.size, 6)));
  if (sniffed !== kind) throw new FormatError(`cannot read ${file}: member ${m.name} is not ${kind} data (found ${sniffed ?? 'unknown bytes'})`);
  return kind;
}

/** The member's tar bytes, unpacked; more than `maxBytes` of them is a FormatError (the stream stops there). */
function memberStream(file: string, m: Member, kind: string, maxBytes?: number): Readable {
  const raw = m.size === 0 ? Readable.from([]) : createReadStream(file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1024 * 1024 });
  const filter: Duplex = kind === 'zstd' ? zstdDecompressor() : decompressor(kind as 'gzip' | 'xz' | 'none');
  // pipeline() destroys the file stream too when the reader stops early or the filter fails.
  if (maxBytes === undefined) return pipeline(raw, filter, () => {});
  const limit = unpackLimit(maxBytes, () => `cannot read ${file}: ${m.name} unpacks to more than ${maxBytes} bytes (${m.size} packed); refused as a likely decompression bomb`);
  return pipeline(raw, filter, limit, () => {});
}

/** Iterates a tar stream's entries (each must be consumed or is drained), checking every path. */
async function walkTar(src: Readable, where: string, onEntry: (h: Header, path: string, body: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const ex = extract();
  src.on('error', (err) => ex.destroy(err));
  src.pipe(ex as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of ex) {
      const p = checkedPath(entry.header.name, where);
      if (entry.header.type === 'link') checkedPath(entry.header.linkname ?? '', `${where} (hard link target of ${entry.header.name})`);
      await onEntry(entry.header, p, entry as AsyncIterable<Buffer>);
      entry.resume();
    }
  } catch (err) {
    if (err instanceof LxlError) throw err;
    throw new FormatError(`cannot read ${where}: ${(err as Error).message} (truncated or corrupted archive)`, { cause: err });
  } finally {
    src.destroy();
  }
}

/** The archive path without `./` and trailing `/`; rejects absolute paths and `..` segments. */
function checkedPath(name: string, where: string): string {
  if (name.startsWith('/')) throw new FormatError(`cannot read ${where}: absolute path ${JSON.stringify(name)} in the archive`);
  const segs = name.split('/');
  if (segs.includes('..')) throw new FormatError(`cannot read ${where}: path ${JSON.stringify(name)} escapes the root with ".."`);
  return segs.filter((s) => s !== '' && s !== '.').join('/');
}

async function readControl(file: string, m: Member, kind: string): Promise<string> {
  let text: string | undefined;
  await walkTar(memberStream(file, m, kind, MAX_CONTROL_TAR_BYTES), `${file}: ${m.name}`, async (h, p, body) => {
    if (p !== 'control') return;
    if (h.size > MAX_CONTROL_BYTES) throw new FormatError(`cannot read ${file}: the control file is ${h.size} bytes (limit ${MAX_CONTROL_BYTES})`);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    text = Buffer.concat(chunks).toString('utf8');
  });
  if (text === undefined) throw new FormatError(`cannot read ${file}: ${m.name} has no ./control file`);
  return text;
}

function parseControl(text: string, file: string): Paragraph {
  let p: Paragraph;
  try {
    p = parseControlParagraph(text, 'control');
  } catch (err) {
    throw new FormatError(`cannot read ${file}: bad control file: ${(err as Error).message}`, { cause: err });
  }
  const missing = ['Package', 'Version', 'Architecture'].filter((f) => !p.get(f));
  if (missing.length > 0) throw new FormatError(`cannot read ${file}: bad control file: missing ${missing.join(', ')}`);
  return p;
}

const TYPE: Partial<Record<Header['type'], DebFile['type']>> = { file: 'file', 'contiguous-file': 'file', directory: 'dir', symlink: 'symlink', link: 'hardlink' };

async function listData(file: string, m: Member, kind: string, { keep, maxBytes }: { keep: boolean; maxBytes?: number }): Promise<DebFile[]> {
  const files: DebFile[] = [];
  await walkTar(memberStream(file, m, kind, maxBytes), `${file}: ${m.name}`, async (h, p) => {
    if (!keep || p === '') return;
    const type = TYPE[h.type] ?? 'other';
    const f: DebFile = { path: p, type, mode: (h.mode ?? 0) & 0o7777, size: h.size ?? 0 };
    if (type === 'symlink' || type === 'hardlink') f.linkTarget = h.linkname ?? '';
    files.push(f);
  });
  return files;
}
