// Reads what the APT index needs from a .deb: its control file and its
// digests. Only the ar header and the control.tar member are parsed (never
// data.tar), so adding a 60 MB kernel package costs one hashing pass.

import { gunzipSync } from 'node:zlib';
import { AR_HEADER_SIZE, decodeArHeader } from '../ar.js';
import { decompressBuffer } from '../compress.js';
import { parseControlParagraph } from '../deb822.js';
import { MAX_CONTROL_TAR_BYTES } from '../deb/deb-control.js';
import { hashBytes, hashFile, type Digests } from '../digests.js';
import { FormatError } from '../errors.js';
import { readFullyAt, readIfSmall, withOpenFile } from '../small-file.js';
import type { AptRecord } from './apt-catalog.js';
import { parseDebianVersion } from './debian-version.js';
import { poolPath, sourceName } from './apt-pool.js';

const ALGOS = ['md5', 'sha1', 'sha256', 'sha512'] as const;
/** Files up to this size are read into memory once (hash + parse); bigger ones are streamed. */
const IN_MEMORY_LIMIT = 8 * 1024 * 1024;

/** Reads a .deb into a catalogue record placed in `component`'s pool. Throws FormatError for anything that is not a valid binary package. */
export async function readDebRecord(file: string, opts: { component?: string } = {}): Promise<AptRecord> {
  return (await readDeb(file, opts)).record;
}

/** Like readDebRecord, and also returns the file's bytes when it was small enough to be read whole (so storing it needs no second read). */
export async function readDeb(file: string, opts: { component?: string } = {}): Promise<{ record: AptRecord; bytes?: Buffer }> {
  // One open for the size and (small files) the bytes: a batch of small .debs is bound by file-system round trips.
  // Everything but hashing a big file is synchronous: the members read are small, and a batch of thousands of small
  // .debs runs in a fresh CLI process, where every promise turn and call layer of cold code costs.
  const small = readIfSmall(file, IN_MEMORY_LIMIT);
  const bytes = small.bytes;
  let digests: Digests<(typeof ALGOS)[number]>;
  let member: ControlMember;
  if (bytes) {
    digests = hashBytes(bytes, ALGOS);
    member = controlMember(file, bytes.length, (o, l) => bytes.subarray(o, o + l));
  } else {
    digests = await hashFile(file, ALGOS);
    member = withOpenFile(file, (fd) => controlMember(file, small.size, (o, l) => readAt(file, fd, o, l)));
  }
  const tarBytes = member.name === 'control.tar.gz' ? gunzipMember(file, member) : await decompressMember(file, member);
  const controlText = plainControl(file, tarBytes) ?? (await extractControlGeneric(file, tarBytes));
  const control = parseControlParagraph(controlText, `the control file of ${file}`);
  const name = control.get('Package');
  const version = control.get('Version');
  const arch = control.get('Architecture');
  if (!name || !version || !arch) throw new FormatError(`cannot read ${file}: its control file lacks Package, Version or Architecture`);
  parseDebianVersion(version);
  if (arch !== 'amd64' && arch !== 'i386' && arch !== 'all') {
    throw new FormatError(`cannot add ${file}: architecture ${arch} is not one this repo publishes (amd64, i386, all)`);
  }
  const source = sourceName(control, name);
  const record: AptRecord = {
    name,
    version,
    arch,
    source,
    control: controlText.endsWith('\n') ? controlText : `${controlText}\n`,
    filename: poolPath({ component: opts.component ?? 'main', source, name, version, arch }),
    size: digests.size,
    md5: digests.md5,
    sha1: digests.sha1,
    sha256: digests.sha256,
    sha512: digests.sha512,
  };
  return { record, bytes };
}

/** The control.tar member of a .deb: its name and its (still packed) bytes. */
interface ControlMember {
  name: string;
  raw: Buffer;
}

/** `len` bytes at `offset` of an open file (inside its size, which the caller checked); a file that shrank meanwhile is truncated. */
function readAt(file: string, fd: number, offset: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  if (readFullyAt(fd, b, offset) < len) throw new FormatError(`cannot read ${file}: truncated (it shrank while being read)`);
  return b;
}

/**
 * Walks the ar members (deb(5): debian-binary, control.tar.*, data.tar.*) of a .deb of `size` bytes, reading through
 * `at`, and returns its control.tar member.
 */
function controlMember(file: string, size: number, at: (offset: number, len: number) => Buffer): ControlMember {
  if (size < 8 || at(0, 8).toString('latin1', 0, 8) !== '!<arch>\n') throw new FormatError(`cannot read ${file}: not a .deb (no ar magic); is it really a Debian package?`);
  let off = 8;
  while (off + AR_HEADER_SIZE <= size) {
    const { name, size: len } = decodeArHeader(at(off, AR_HEADER_SIZE), `${file} at byte ${off}`);
    const start = off + AR_HEADER_SIZE;
    if (start + len > size) throw new FormatError(`cannot read ${file}: truncated (member ${name} needs ${len} bytes but only ${size - start} remain)`);
    if (name === 'debian-binary') {
      const v = at(start, Math.min(len, 16)).toString('latin1', 0, Math.min(len, 16));
      if (!v.startsWith('2.')) throw new FormatError(`cannot read ${file}: unsupported .deb format ${JSON.stringify(v.trim())}`);
    } else if (name.startsWith('control.tar')) {
      if (len > MAX_CONTROL_TAR_BYTES) throw new FormatError(`cannot read ${file}: its ${name} is ${len} bytes (limit ${MAX_CONTROL_TAR_BYTES})`);
      return { name, raw: at(start, len) };
    }
    off = start + len + (len % 2);
  }
  throw new FormatError(`cannot read ${file}: no control.tar member`);
}

/** A control.tar.gz unpacked (in the calling turn: a batch reads thousands of them). */
function gunzipMember(file: string, m: ControlMember): Buffer {
  try {
    return gunzipSync(m.raw, { maxOutputLength: MAX_CONTROL_TAR_BYTES });
  } catch (err) {
    throw notDecompressed(file, m.name, err);
  }
}

async function decompressMember(file: string, m: ControlMember): Promise<Buffer> {
  try {
    if (m.name === 'control.tar') return m.raw;
    if (m.name === 'control.tar.xz') return await decompressBuffer('xz', m.raw, { maxBytes: MAX_CONTROL_TAR_BYTES });
  } catch (err) {
    throw notDecompressed(file, m.name, err);
  }
  throw new FormatError(`cannot read ${file}: unsupported member ${m.name} (lxl reads gzip, xz or plain control archives)`);
}

function notDecompressed(file: string, name: string, err: unknown): FormatError {
  // zlib stops at maxOutputLength with ERR_BUFFER_TOO_LARGE; decompressBuffer says so itself.
  const why = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? `it unpacks to more than ${MAX_CONTROL_TAR_BYTES} bytes` : (err as Error).message;
  return new FormatError(`cannot read ${file}: ${name} does not decompress: ${why}`, { cause: err });
}

/**
 * The ./control text of a control.tar whose headers are plain ustar/GNU ones (walked here: cheap for thousands of
 * .debs); undefined for an archive with pax or GNU long-name headers, which extractControlGeneric reads.
 */
function plainControl(file: string, tarBytes: Buffer): string | undefined {
  for (let off = 0; off + 512 <= tarBytes.length; ) {
    const h = tarBytes.subarray(off, off + 512);
    const sum = headerSum(h);
    if (sum === 0) break;
    const stored = parseInt(octalField(h, 148, 156), 8);
    if ((h[124] & 0x80) !== 0) return undefined;
    const size = parseInt(octalField(h, 124, 136) || '0', 8);
    if (stored !== sum || !Number.isFinite(size)) throw new FormatError(`cannot read ${file}: bad control.tar: invalid tar header at byte ${off}`);
    const type = h[156] || 0x30;
    // x, g: pax headers; L, K: GNU long names.
    if (type === 0x78 || type === 0x67 || type === 0x4c || type === 0x4b) return undefined;
    const body = off + 512;
    if (type === 0x30 || type === 0x37) {
      const name = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      if (name === './control' || name === 'control') {
        if (body + size > tarBytes.length) throw new FormatError(`cannot read ${file}: bad control.tar: ./control is truncated`);
        return tarBytes.toString('utf8', body, body + size);
      }
    }
    off = body + Math.ceil(size / 512) * 512;
  }
  throw new FormatError(`cannot read ${file}: control.tar has no ./control`);
}

/** A tar header's numeric field as text: up to its first NUL, blanks trimmed. */
function octalField(h: Buffer, from: number, to: number): string {
  return h.toString('latin1', from, to).replace(/\0.*$/s, '').trim();
}

/** Scratch words for headerSum (a header copied in is read four bytes at a time, whatever its own alignment). */
const HEADER_WORDS = new Uint32Array(128);
const HEADER_BYTES = new Uint8Array(HEADER_WORDS.buffer);

/**
 * A 512-byte tar header's checksum as POSIX defines it (the sum of its bytes, the checksum field counted as eight
 * spaces), or 0 for a block of zeros (the end of the archive; a real header sums to at least 256). The bytes are
 * summed a word at a time, two bytes per 16-bit lane: 128 steps instead of 512, in code that often runs cold.
 */
export function headerSum(h: Uint8Array): number {
  if (h.length !== 512) throw new RangeError(`a tar header is 512 bytes, not ${h.length}`);
  HEADER_BYTES.set(h);
  let lanes = 0;
  for (let i = 0; i < 128; i++) {
    const w = HEADER_WORDS[i];
    // Each lane gains at most 2 x 255 per word: 128 words stay below 65,536, so no lane carries into the next.
    lanes += (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff);
  }
  const all = (lanes % 65536) + Math.floor(lanes / 65536);
  if (all === 0) return 0;
  let field = 0;
  for (let i = 148; i < 156; i++) field += h[i];
  return all - field + 8 * 32;
}

async function extractControlGeneric(file: string, tarBytes: Buffer): Promise<string> {
  const { default: tar } = await import('tar-stream');
  return new Promise((resolve, reject) => {
    const ex = tar.extract();
    let found: string | undefined;
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        if (h.name === './control' || h.name === 'control') chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        if (h.name === './control' || h.name === 'control') found = Buffer.concat(chunks).toString('utf8');
        next();
      });
      stream.resume();
    });
    ex.on('finish', () => (found === undefined ? reject(new FormatError(`cannot read ${file}: control.tar has no ./control`)) : resolve(found)));
    ex.on('error', (err) => reject(new FormatError(`cannot read ${file}: bad control.tar: ${err.message}`, { cause: err })));
    ex.end(tarBytes);
  });
}
