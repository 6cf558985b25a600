// Reads what the APT index needs from a .deb: its control file and its
// digests. Only the ar header and the control.tar member are parsed (never
// data.tar), so adding a 60 MB kernel package costs one hashing pass.

import { open } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { AR_HEADER_SIZE, decodeArHeader } from '../ar.js';
import { decompressBuffer } from '../compress.js';
import { parseControlParagraph } from '../deb822.js';
import { MAX_CONTROL_TAR_BYTES } from '../deb/deb-control.js';
import { hashBytes, hashFile } from '../digests.js';
import { FormatError } from '../errors.js';
import { readIfSmall } from '../small-file.js';
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
  let head: Buffer;
  let digests;
  let member: (offset: number, len: number) => Promise<Buffer>;
  // One open for the size and (small files) the bytes: a batch of small .debs is bound by file-system round trips.
  const small = readIfSmall(file, IN_MEMORY_LIMIT);
  const size = small.size;
  const bytes = small.bytes;
  if (bytes) {
    const all = bytes;
    head = all;
    digests = hashBytes(all, ALGOS);
    member = async (o, l) => all.subarray(o, o + l);
  } else {
    digests = await hashFile(file, ALGOS);
    const fh = await open(file, 'r');
    try {
      head = Buffer.alloc(Math.min(size, 64 * 1024));
      await fh.read(head, 0, head.length, 0);
    } finally {
      await fh.close();
    }
    member = async (o, l) => {
      const h = await open(file, 'r');
      try {
        const b = Buffer.alloc(l);
        await h.read(b, 0, l, o);
        return b;
      } finally {
        await h.close();
      }
    };
  }
  const controlText = await controlFromDeb(file, head, size, member);
  const control = parseControlParagraph(controlText, `the control file of ${file}`);
  const name = control.get('Package');
  const version = control.get('Version');
  const arch = control.get('Architecture');
  if (!name || !version || !arch) throw new FormatError(`cannot read ${file}: its control file lacks Package, Version or Architecture`);
  parseDebianVersion(version);
  if (!['amd64', 'i386', 'all'].includes(arch)) {
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

/** Walks the ar members (deb(5): debian-binary, control.tar.*, data.tar.*) and returns the text of ./control. */
async function controlFromDeb(file: string, head: Buffer, size: number, member: (o: number, l: number) => Promise<Buffer>): Promise<string> {
  if (head.subarray(0, 8).toString('latin1') !== '!<arch>\n') throw new FormatError(`cannot read ${file}: not a .deb (no ar magic); is it really a Debian package?`);
  let off = 8;
  while (off + AR_HEADER_SIZE <= size) {
    const hdr = off + AR_HEADER_SIZE <= head.length ? head.subarray(off, off + AR_HEADER_SIZE) : await member(off, AR_HEADER_SIZE);
    const { name, size: len } = decodeArHeader(hdr, `${file} at byte ${off}`);
    const start = off + AR_HEADER_SIZE;
    if (start + len > size) throw new FormatError(`cannot read ${file}: truncated (member ${name} needs ${len} bytes but only ${size - start} remain)`);
    if (name === 'debian-binary') {
      const v = (await member(start, Math.min(len, 16))).toString('latin1');
      if (!v.startsWith('2.')) throw new FormatError(`cannot read ${file}: unsupported .deb format ${JSON.stringify(v.trim())}`);
    } else if (name.startsWith('control.tar')) {
      if (len > MAX_CONTROL_TAR_BYTES) throw new FormatError(`cannot read ${file}: its ${name} is ${len} bytes (limit ${MAX_CONTROL_TAR_BYTES})`);
      const raw = await member(start, len);
      const plain = await decompressMember(file, name, raw);
      return extractControl(file, plain);
    }
    off = start + len + (len % 2);
  }
  throw new FormatError(`cannot read ${file}: no control.tar member`);
}

async function decompressMember(file: string, name: string, raw: Buffer): Promise<Buffer> {
  try {
    if (name === 'control.tar') return raw;
    if (name === 'control.tar.gz') return gunzipSync(raw, { maxOutputLength: MAX_CONTROL_TAR_BYTES });
    if (name === 'control.tar.xz') return await decompressBuffer('xz', raw, { maxBytes: MAX_CONTROL_TAR_BYTES });
  } catch (err) {
    // zlib stops at maxOutputLength with ERR_BUFFER_TOO_LARGE; decompressBuffer says so itself.
    const why = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? `it unpacks to more than ${MAX_CONTROL_TAR_BYTES} bytes` : (err as Error).message;
    throw new FormatError(`cannot read ${file}: ${name} does not decompress: ${why}`, { cause: err });
  }
  throw new FormatError(`cannot read ${file}: unsupported member ${name} (lxl reads gzip, xz or plain control archives)`);
}

/** The ./control text of a control.tar: plain ustar/GNU headers are walked here (cheap for thousands of .debs); an archive with pax or GNU long-name headers goes through tar-stream. */
async function extractControl(file: string, tarBytes: Buffer): Promise<string> {
  for (let off = 0; off + 512 <= tarBytes.length; ) {
    const h = tarBytes.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    let sum = 256;
    for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += h[i];
    const stored = parseInt(h.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    if ((h[124] & 0x80) !== 0) return extractControlGeneric(file, tarBytes);
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    if (stored !== sum || !Number.isFinite(size)) throw new FormatError(`cannot read ${file}: bad control.tar: invalid tar header at byte ${off}`);
    const type = String.fromCharCode(h[156] || 0x30);
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') return extractControlGeneric(file, tarBytes);
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const body = off + 512;
    if ((type === '0' || type === '7') && (name === './control' || name === 'control')) {
      if (body + size > tarBytes.length) throw new FormatError(`cannot read ${file}: bad control.tar: ./control is truncated`);
      return tarBytes.subarray(body, body + size).toString('utf8');
    }
    off = body + Math.ceil(size / 512) * 512;
  }
  throw new FormatError(`cannot read ${file}: control.tar has no ./control`);
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
