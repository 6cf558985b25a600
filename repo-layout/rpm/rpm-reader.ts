// Reads the lead, signature header and main header of an rpm file without
// rpm installed: enough to validate an upload and to build YUM repodata.
// Only the headers are read into memory; the payload is streamed when its
// digest is verified.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { digestOf } from '../digests.js';
import { FormatError } from '../errors.js';
import { readIfSmall } from '../small-file.js';
import { decodeHeader, decodeLead, headerBlobSize, LEAD_SIZE, signaturePadding, type DecodedEntry } from './rpm-header.js';
import { PgpHash, SigTag, Tag } from './rpm-tags.js';

/** One dependency as stored in the header. */
export interface RpmDepInfo {
  name: string;
  flags: number;
  version: string;
}

/** One file of the package. */
export interface RpmFileInfo {
  /** Absolute path, e.g. `/boot/vmlinuz-6.1.0`. */
  path: string;
  mode: number;
  size: number;
  digest: string;
  linkTo: string;
  flags: number;
}

export interface RpmChangelogEntry {
  time: number;
  author: string;
  text: string;
}

/** What lxl needs to know about an rpm file. */
export interface RpmInfo {
  name: string;
  epoch?: number;
  version: string;
  release: string;
  arch: string;
  summary: string;
  description: string;
  url?: string;
  license: string;
  vendor?: string;
  group?: string;
  packager?: string;
  buildhost?: string;
  buildtime: number;
  /** Installed size (SIZE). */
  size: number;
  /** Uncompressed payload size (signature PAYLOADSIZE / LONGARCHIVESIZE). */
  archiveSize: number;
  sourcerpm?: string;
  /** Byte range of the main header in the file (createrepo's rpm:header-range). */
  headerStart: number;
  headerEnd: number;
  payloadCompressor: string;
  /** OpenPGP hash id of the file digests: 1 MD5 (the default), 8 SHA-256. */
  fileDigestAlgo: number;
  provides: RpmDepInfo[];
  requires: RpmDepInfo[];
  conflicts: RpmDepInfo[];
  obsoletes: RpmDepInfo[];
  files: RpmFileInfo[];
  changelog: RpmChangelogEntry[];
  /** Which signatures the signature header carries. */
  signed: { rsaHeader: boolean; pgpHeaderPayload: boolean };
  /** Every raw main-header entry, for checks beyond the fields above. */
  tags: Map<number, DecodedEntry>;
  sigTags: Map<number, DecodedEntry>;
  /** Present when ReadRpmOptions.digests was given. */
  fileDigests?: RpmFileDigests;
  /** The file's modification time as read (ms since the epoch), for repodata's `time file`. */
  fileMtimeMs: number;
}

export interface ReadRpmOptions {
  /** Also check the header digests and stream the payload to check PAYLOADDIGEST and the sizes. */
  verify?: boolean;
  /** Whole-file digests to compute in the same pass (for repodata checksums). */
  digests?: Array<'sha256' | 'sha1'>;
  /** Files up to this size are read whole (default 8 MiB); bigger ones read their headers, then stream. */
  wholeUpTo?: number;
}

/** Whole-file digests requested with `digests`. */
export interface RpmFileDigests {
  size: number;
  sha256?: string;
  sha1?: string;
}

/** Reads an rpm file's headers; throws FormatError on bad magic, truncation or (with verify) digest mismatch. */
export async function readRpmFile(file: string, opts: ReadRpmOptions = {}): Promise<RpmInfo> {
  // Small files (most uploads but kernels) are read once into memory, synchronously: for a batch of thousands of
  // page-cached rpms that costs a tenth of the CPU of async FileHandle calls. Big ones read their headers, then
  // stream the payload. Both parse the same way (parseHeaders).
  const small = readIfSmall(file, opts.wholeUpTo ?? SMALL_FILE);
  if (small.bytes) {
    const { info, header } = parseHeaders(small.bytes, small.mtimeMs);
    if (opts.verify || opts.digests?.length) scanWhole(small.bytes, header, info, opts);
    return info;
  }
  const fh = await open(file, 'r');
  try {
    const { info, header } = parseHeaders(await readHeaders(fh, small.size), small.mtimeMs);
    if (opts.verify || opts.digests?.length) await scanStream(createReadStream(file, { highWaterMark: 1 << 20 }), small.size, header, info, opts);
    return info;
  } finally {
    await fh.close();
  }
}

/** rpms up to this size are read whole, with one read for the header, the digests and the payload checks. */
const SMALL_FILE = 8 << 20;

/** Parses the lead, signature header and main header at the start of `bytes` (the whole file, or its headers). */
function parseHeaders(bytes: Buffer, fileMtimeMs: number): { info: RpmInfo; header: Buffer } {
  const at = (pos: number, len: number, what: string): Buffer => {
    if (pos + len > bytes.length) throw new FormatError(`cannot read rpm ${what}: file is truncated`);
    return bytes.subarray(pos, pos + len);
  };
  const l = decodeLead(at(0, LEAD_SIZE, 'lead'));
  if (l.type !== 0) throw new FormatError('cannot read rpm: this is a source rpm (only binary rpms are published)');
  const sigSize = headerBlobSize(at(LEAD_SIZE, 16, 'signature header'), 'signature header').size;
  const sigTags = decodeHeader(at(LEAD_SIZE, sigSize, 'signature header'), 'signature header');
  const headerStart = LEAD_SIZE + sigSize + signaturePadding(sigSize);
  const mainSize = headerBlobSize(at(headerStart, 16, 'header'), 'header').size;
  const header = at(headerStart, mainSize, 'header');
  const tags = decodeHeader(header, 'header');
  return { info: toInfo(tags, sigTags, headerStart, headerStart + mainSize, fileMtimeMs), header };
}

/**
 * Reads a big rpm's start up to the end of its main header (the sizes come in turn: lead and signature intro, then
 * the main header's intro, then the rest), never past the file's end, so that a hostile header cannot make us
 * allocate a huge buffer. A short file reads short; parseHeaders says what is truncated.
 */
async function readHeaders(fh: FileHandle, fileSize: number): Promise<Buffer> {
  const upTo = async (have: Buffer, end: number): Promise<Buffer> => {
    const want = Math.min(end, fileSize);
    if (want <= have.length) return have;
    const more = Buffer.alloc(want - have.length);
    let got = 0;
    for (let n = 1; got < more.length && n > 0; got += n) n = (await fh.read(more, got, more.length - got, have.length + got)).bytesRead;
    return Buffer.concat([have, more.subarray(0, got)]);
  };
  let head = await upTo(Buffer.alloc(0), LEAD_SIZE + 16);
  if (head.length < LEAD_SIZE + 16) return head;
  decodeLead(head); // not an rpm: say so before reading on
  const sigSize = headerBlobSize(head.subarray(LEAD_SIZE), 'signature header').size;
  const headerStart = LEAD_SIZE + sigSize + signaturePadding(sigSize);
  head = await upTo(head, headerStart + 16);
  if (head.length < headerStart + 16) return head;
  return upTo(head, headerStart + headerBlobSize(head.subarray(headerStart), 'header').size);
}

const str = (t: Map<number, DecodedEntry>, tag: number): string | undefined => {
  const v = t.get(tag)?.value;
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? (v[0] as string) : undefined;
};
const strs = (t: Map<number, DecodedEntry>, tag: number): string[] => {
  const v = t.get(tag)?.value;
  return typeof v === 'string' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : [];
};
const nums = (t: Map<number, DecodedEntry>, tag: number): number[] => {
  const v = t.get(tag)?.value;
  return Array.isArray(v) ? (v as Array<number | bigint>).map((n) => Number(n)) : [];
};
const num = (t: Map<number, DecodedEntry>, tag: number): number | undefined => nums(t, tag)[0];

function deps(t: Map<number, DecodedEntry>, nameTag: number, flagsTag: number, versionTag: number): RpmDepInfo[] {
  const names = strs(t, nameTag);
  const flags = nums(t, flagsTag);
  const versions = strs(t, versionTag);
  return names.map((name, i) => ({ name, flags: flags[i] ?? 0, version: versions[i] ?? '' }));
}

function toInfo(t: Map<number, DecodedEntry>, sig: Map<number, DecodedEntry>, headerStart: number, headerEnd: number, fileMtimeMs: number): RpmInfo {
  const need = (tag: number, what: string): string => {
    const v = str(t, tag);
    if (v === undefined || v === '') throw new FormatError(`cannot read rpm header: ${what} is missing`);
    return v;
  };
  const name = need(Tag.NAME, 'NAME');
  const dirnames = strs(t, Tag.DIRNAMES);
  const dirindexes = nums(t, Tag.DIRINDEXES);
  const basenames = strs(t, Tag.BASENAMES);
  const modes = nums(t, Tag.FILEMODES);
  const sizes = nums(t, Tag.FILESIZES);
  const digests = strs(t, Tag.FILEDIGESTS);
  const links = strs(t, Tag.FILELINKTOS);
  const fflags = nums(t, Tag.FILEFLAGS);
  const files = basenames.map((b, i) => {
    const dir = dirnames[dirindexes[i] ?? -1];
    if (dir === undefined) throw new FormatError(`cannot read rpm header: file ${b} has no directory`);
    return { path: `${dir}${b}`, mode: modes[i] ?? 0, size: sizes[i] ?? 0, digest: digests[i] ?? '', linkTo: links[i] ?? '', flags: fflags[i] ?? 0 };
  });
  const times = nums(t, Tag.CHANGELOGTIME);
  const authors = strs(t, Tag.CHANGELOGNAME);
  const texts = strs(t, Tag.CHANGELOGTEXT);
  return {
    name,
    epoch: num(t, Tag.EPOCH),
    version: need(Tag.VERSION, 'VERSION'),
    release: need(Tag.RELEASE, 'RELEASE'),
    arch: need(Tag.ARCH, 'ARCH'),
    summary: str(t, Tag.SUMMARY) ?? '',
    description: str(t, Tag.DESCRIPTION) ?? '',
    url: str(t, Tag.URL),
    license: str(t, Tag.LICENSE) ?? '',
    vendor: str(t, Tag.VENDOR),
    group: str(t, Tag.GROUP),
    packager: str(t, Tag.PACKAGER),
    buildhost: str(t, Tag.BUILDHOST),
    buildtime: num(t, Tag.BUILDTIME) ?? 0,
    size: num(t, Tag.SIZE) ?? num(t, 5009) ?? 0,
    archiveSize: num(sig, SigTag.PAYLOADSIZE) ?? num(sig, SigTag.LONGARCHIVESIZE) ?? num(t, Tag.ARCHIVESIZE) ?? 0,
    sourcerpm: str(t, Tag.SOURCERPM),
    headerStart,
    headerEnd,
    payloadCompressor: str(t, Tag.PAYLOADCOMPRESSOR) ?? 'gzip',
    fileDigestAlgo: num(t, Tag.FILEDIGESTALGO) ?? PgpHash.MD5,
    provides: deps(t, Tag.PROVIDENAME, Tag.PROVIDEFLAGS, Tag.PROVIDEVERSION),
    requires: deps(t, Tag.REQUIRENAME, Tag.REQUIREFLAGS, Tag.REQUIREVERSION),
    conflicts: deps(t, Tag.CONFLICTNAME, Tag.CONFLICTFLAGS, Tag.CONFLICTVERSION),
    obsoletes: deps(t, Tag.OBSOLETENAME, Tag.OBSOLETEFLAGS, Tag.OBSOLETEVERSION),
    files,
    changelog: times.map((time, i) => ({ time, author: authors[i] ?? '', text: texts[i] ?? '' })),
    signed: { rsaHeader: sig.has(SigTag.RSA), pgpHeaderPayload: sig.has(SigTag.PGP) },
    tags: t,
    sigTags: sig,
    fileMtimeMs,
  };
}

/** The checks of a file read whole: each digest in one call over its part of the bytes (thousands of small rpms are bound by per-call costs). */
function scanWhole(file: Buffer, header: Buffer, info: RpmInfo, opts: ReadRpmOptions): void {
  info.fileDigests = { size: file.length, ...Object.fromEntries((opts.digests ?? []).map((a) => [a, digestOf(a, file, 'hex')])) };
  if (opts.verify) {
    verifyDigests(info, header, file.length, {
      md5: () => digestOf('md5', file.subarray(info.headerStart), 'buffer'),
      payload: (algo) => digestOf(algo, file.subarray(info.headerEnd), 'hex'),
    });
  }
}

/** One read of a big file: whole-file digests, MD5 from the header on, payload digest after it; then the checks. */
async function scanStream(source: AsyncIterable<Buffer | string>, fileSize: number, header: Buffer, info: RpmInfo, opts: ReadRpmOptions): Promise<void> {
  const whole = (opts.digests ?? []).map((a) => [a, createHash(a)] as const);
  const hMd5 = createHash('md5');
  const hPayload = createHash(payloadAlgo(info));
  let pos = 0;
  for await (const chunk of source) {
    const b = chunk as Buffer;
    for (const [, h] of whole) h.update(b);
    if (opts.verify) {
      const end = pos + b.length;
      if (end > info.headerStart) hMd5.update(b.subarray(Math.max(0, info.headerStart - pos)));
      if (end > info.headerEnd) hPayload.update(b.subarray(Math.max(0, info.headerEnd - pos)));
    }
    pos += b.length;
  }
  info.fileDigests = { size: pos, ...Object.fromEntries(whole.map(([a, h]) => [a, h.digest('hex')])) };
  if (opts.verify) verifyDigests(info, header, fileSize, { md5: () => hMd5.digest(), payload: () => hPayload.digest('hex') });
}

/** The algorithm of the payload digest (PAYLOADDIGESTALGO; SHA-256 unless it says SHA-1). */
const payloadAlgo = (info: RpmInfo): 'sha1' | 'sha256' => (num(info.tags, Tag.PAYLOADDIGESTALGO) === PgpHash.SHA1 ? 'sha1' : 'sha256');

/** A verified read's checks: header digests, header+payload size, then (computed on demand) its MD5 and the payload digest. */
function verifyDigests(info: RpmInfo, header: Buffer, fileSize: number, got: { md5: () => Buffer; payload: (algo: 'sha1' | 'sha256') => string }): void {
  const sha256 = str(info.sigTags, SigTag.SHA256);
  const sha1 = str(info.sigTags, SigTag.SHA1);
  if (sha256 !== undefined && digestOf('sha256', header, 'hex') !== sha256) throw new FormatError('cannot verify rpm: header SHA256 digest does not match');
  if (sha1 !== undefined && digestOf('sha1', header, 'hex') !== sha1) throw new FormatError('cannot verify rpm: header SHA1 digest does not match');
  const expectSize = num(info.sigTags, SigTag.SIZE) ?? num(info.sigTags, SigTag.LONGSIZE);
  if (expectSize !== undefined && expectSize !== fileSize - info.headerStart) {
    throw new FormatError(`cannot verify rpm: header+payload is ${fileSize - info.headerStart} bytes, the signature header says ${expectSize} (truncated?)`);
  }
  const md5 = info.sigTags.get(SigTag.MD5)?.value;
  if (Buffer.isBuffer(md5) && !got.md5().equals(md5)) throw new FormatError('cannot verify rpm: MD5 digest of header+payload does not match');
  const payloadDigest = strs(info.tags, Tag.PAYLOADDIGEST)[0];
  const algo = num(info.tags, Tag.PAYLOADDIGESTALGO);
  if (payloadDigest !== undefined && (algo === PgpHash.SHA256 || algo === PgpHash.SHA1) && got.payload(payloadAlgo(info)) !== payloadDigest) {
    throw new FormatError('cannot verify rpm: payload digest does not match (the payload is damaged)');
  }
}
