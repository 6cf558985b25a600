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
}

/** Whole-file digests requested with `digests`. */
export interface RpmFileDigests {
  size: number;
  sha256?: string;
  sha1?: string;
}

/** Reads an rpm file's headers; throws FormatError on bad magic, truncation or (with verify) digest mismatch. */
export async function readRpmFile(file: string, opts: ReadRpmOptions = {}): Promise<RpmInfo> {
  // Small files (most uploads but kernels) are read once into memory, synchronously: for a batch of thousands
  // of page-cached rpms that costs a tenth of the CPU of async FileHandle calls. Big ones are streamed.
  const small = readIfSmall(file, SMALL_FILE);
  const fh = small.bytes ? undefined : await open(file, 'r');
  try {
    const fileSize = small.size;
    const whole = small.bytes;
    const readAt = async (pos: number, len: number, what: string): Promise<Buffer> => {
      if (whole) {
        if (pos + len > whole.length) throw new FormatError(`cannot read rpm ${what}: file is truncated`);
        return whole.subarray(pos, pos + len);
      }
      // Check against the file size first, so a hostile header cannot make us allocate a huge buffer.
      if (pos + len > fileSize) throw new FormatError(`cannot read rpm ${what}: file is truncated`);
      return readRange(fh!, pos, len, what);
    };
    const lead = await readAt(0, LEAD_SIZE, 'lead');
    const l = decodeLead(lead);
    if (l.type !== 0) throw new FormatError('cannot read rpm: this is a source rpm (only binary rpms are published)');
    const sigIntro = await readAt(LEAD_SIZE, 16, 'signature header');
    const sigSize = headerBlobSize(sigIntro, 'signature header').size;
    const sigTags = decodeHeader(await readAt(LEAD_SIZE, sigSize, 'signature header'), 'signature header');
    const headerStart = LEAD_SIZE + sigSize + signaturePadding(sigSize);
    const mainIntro = await readAt(headerStart, 16, 'header');
    const mainSize = headerBlobSize(mainIntro, 'header').size;
    const header = await readAt(headerStart, mainSize, 'header');
    const tags = decodeHeader(header, 'header');
    const info = toInfo(tags, sigTags, headerStart, headerStart + mainSize, small.mtimeMs);
    if (opts.verify || opts.digests?.length) await scan(whole ? [whole] : createReadStream(file, { highWaterMark: 1 << 20 }), fileSize, header, info, opts);
    return info;
  } finally {
    await fh?.close();
  }
}

/** rpms up to this size are read whole, with one read for the header, the digests and the payload checks. */
const SMALL_FILE = 8 << 20;

async function readRange(fh: FileHandle, pos: number, len: number, what: string): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  const { bytesRead } = await fh.read(buf, 0, len, pos);
  if (bytesRead < len) throw new FormatError(`cannot read rpm ${what}: file is truncated`);
  return buf;
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

/** One read of the whole file: whole-file digests, MD5 from the header on, payload digest after it; then the checks. */
async function scan(source: AsyncIterable<Buffer | string> | Buffer[], fileSize: number, header: Buffer, info: RpmInfo, opts: ReadRpmOptions): Promise<void> {
  if (Array.isArray(source) && source.length === 1) {
    // Read whole: each digest in one call over its part of the bytes (thousands of small rpms are bound by per-call costs).
    const file = source[0];
    info.fileDigests = { size: file.length, ...Object.fromEntries((opts.digests ?? []).map((a) => [a, digestOf(a, file, 'hex')])) };
    if (opts.verify) {
      verifyDigests(info, header, fileSize, {
        md5: () => digestOf('md5', file.subarray(info.headerStart), 'buffer'),
        payload: (algo) => digestOf(algo, file.subarray(info.headerEnd), 'hex'),
      });
    }
    return;
  }
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
