// Re-signs an existing rpm file: keeps its lead, main header and payload
// byte for byte and writes a new signature header with the header-only
// signature (RSA, tag 268), the header+payload signature (PGP, 1002), the
// header SHA1/SHA256 digests, the header+payload MD5 and the sizes — what
// `rpmsign --addsign` gives, and what rpm-writer.ts writes for a signed rpm.
// Workers hold no key, so the server signs what they upload this way.
// Pass 1 reads header+payload once for MD5 and the PGP signature; pass 2
// writes the new file. Only the headers are ever held in memory.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FormatError } from '../errors.js';
import type { SignatureHash, Signer } from '../signing/signer.js';
import { encodeHeader, LEAD_SIZE, signaturePadding } from './rpm-header.js';
import { readRpmFile, type RpmInfo } from './rpm-reader.js';
import { signatureEntries, signRpmPart } from './rpm-writer.js';
import { PgpHash, SigTag, Tag, TAG_HEADERSIGNATURES } from './rpm-tags.js';

export interface ResignOptions {
  signer: Signer;
  /** Digest inside both signatures; default from the package: sha1 for el5-style rpms (no SHA-256 file digests), else sha256. */
  hash?: Extract<SignatureHash, 'sha256' | 'sha1'>;
  signal?: AbortSignal;
}

/** What was written. */
export interface ResignResult {
  /** sha256 and size of the signed file. */
  sha256: string;
  size: number;
  hash: 'sha256' | 'sha1';
}

/**
 * The signature digest an rpm's readers need: rpm 4.4 (EL5) knows only SHA-1
 * signatures, so an rpm with MD5 file digests and no ENCODING tag — what the
 * el5 profile writes, and rpmbuild before 4.6 — gets sha1; anything newer sha256.
 */
export function resignHashFor(info: Pick<RpmInfo, 'tags'>): 'sha256' | 'sha1' {
  const algo = info.tags.get(Tag.FILEDIGESTALGO)?.value;
  const modernDigests = Array.isArray(algo) && algo.length > 0 && Number(algo[0]) !== PgpHash.MD5;
  return modernDigests || info.tags.has(Tag.ENCODING) ? 'sha256' : 'sha1';
}

/** Writes `input` re-signed by `opts.signer` to `out`; the payload streams twice from disk, never into memory. */
export async function resignRpm(input: string, out: Writable, opts: ResignOptions): Promise<ResignResult> {
  try {
    const info = await readRpmFile(input);
    const hash = opts.hash ?? resignHashFor(info);
    const { lead, header, fileSize } = await readHeaders(input, info);
    const payloadSize = fileSize - info.headerEnd;

    // Pass 1: MD5 of header+payload and the header+payload signature in one read.
    const md5 = createHash('md5');
    const headerAndPayload = async function* (): AsyncGenerator<Buffer> {
      md5.update(header);
      yield header;
      for await (const chunk of payloadStream(input, info.headerEnd)) {
        md5.update(chunk as Buffer);
        yield chunk as Buffer;
      }
    };
    const rsa = await signRpmPart(opts.signer, header, hash);
    const pgp = await signRpmPart(opts.signer, Readable.from(headerAndPayload(), { signal: opts.signal }), hash);
    opts.signal?.throwIfAborted();
    const digest = md5.digest();
    const oldMd5 = info.sigTags.get(SigTag.MD5)?.value;
    // The bytes changed on disk since they were accepted: refuse to bless them with a signature.
    if (Buffer.isBuffer(oldMd5) && !oldMd5.equals(digest)) throw new FormatError(`cannot re-sign ${input}: its MD5 digest of header+payload does not match (the file is damaged)`);

    const rawSize = info.archiveSize;
    const entries = signatureEntries({ header, payloadSize, rawSize, md5: digest, rsa, pgp })
      // Without a known uncompressed size, leave it out as rpm does rather than claim 0.
      .filter((e) => rawSize > 0 || (e.tag !== SigTag.PAYLOADSIZE && e.tag !== SigTag.LONGARCHIVESIZE));
    const sig = encodeHeader(TAG_HEADERSIGNATURES, entries);
    const head = Buffer.concat([lead, sig, Buffer.alloc(signaturePadding(sig.length)), header]);

    // Pass 2: the new file, hashed on the way.
    const sha = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        sha.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(
      Readable.from(
        (async function* () {
          yield head;
          yield* payloadStream(input, info.headerEnd);
        })(),
      ),
      tap,
      out,
      { signal: opts.signal },
    );
    return { sha256: sha.digest('hex'), size, hash };
  } catch (err) {
    // Hand the error to whoever listens on `out`; an unwatched stream is just closed.
    out.destroy(out.listenerCount('error') > 0 ? (err as Error) : undefined);
    throw err;
  }
}

/** Re-signs `input` into the new file `output` (created exclusively, fsynced on close); removes it on failure. */
export async function resignRpmFile(input: string, output: string, opts: ResignOptions): Promise<ResignResult> {
  const out = createWriteStream(output, { flags: 'wx', flush: true, highWaterMark: 1 << 20 });
  // Wait for the file to exist first, so a failure's rm cannot run before the open.
  await once(out, 'open');
  try {
    return await resignRpm(input, out, opts);
  } catch (err) {
    if (!out.closed) await once(out, 'close');
    await rm(output, { force: true });
    throw err;
  }
}

function payloadStream(file: string, start: number): Readable {
  return createReadStream(file, { start, highWaterMark: 1 << 20 });
}

/** The original lead and main header bytes. */
async function readHeaders(file: string, info: RpmInfo): Promise<{ lead: Buffer; header: Buffer; fileSize: number }> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const lead = Buffer.alloc(LEAD_SIZE);
    const header = Buffer.alloc(info.headerEnd - info.headerStart);
    if ((await fh.read(lead, 0, lead.length, 0)).bytesRead !== lead.length || (await fh.read(header, 0, header.length, info.headerStart)).bytesRead !== header.length) {
      throw new FormatError(`cannot re-sign ${file}: the file is truncated`);
    }
    return { lead, header, fileSize: size };
  } finally {
    await fh.close();
  }
}
