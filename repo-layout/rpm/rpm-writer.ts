// The rpm Packager: streams a PackageSpec into a binary RPM v4 file.
// Pass 1 archives the files as cpio through the compressor into a temp file,
// hashing each file and the compressed payload on the way. Then the main
// header is encoded, hashed and signed; pass 2 reads the payload once more for
// MD5 and the header+payload signature; pass 3 copies it after the headers.
// The payload is never held in memory.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressor } from '../compress.js';
import { DigestStream } from '../digests.js';
import { ConfigError, LxlError, SignError } from '../errors.js';
import { validatePackageSpec, type PackageSpec } from '../model.js';
import type { PackOptions, Packager } from '../packager.js';
import type { Signer } from '../signing/signer.js';
import { cpioStream, type CpioMember } from './cpio-newc.js';
import { encodeHeader, encodeLead, signaturePadding, type RpmEntry } from './rpm-header.js';
import { fileDataSize, fileMode, mainHeaderEntries, rpmFiles, specEvr } from './rpm-main-header.js';
import { RPM_ARCH, formatEvr, type RpmProfile } from './rpm-names.js';
import { RpmType, SigTag, TAG_HEADERIMMUTABLE, TAG_HEADERSIGNATURES } from './rpm-tags.js';
import { discardWriteStream } from '../../storage/durable-file.js';

/** Payload compression and file-digest choices of a profile (DESIGN.md §3 "RPM v4"). */
export function profileSettings(opts: PackOptions = {}): { profile: RpmProfile; compression: 'gzip' | 'xz'; level: number; fileDigest: 'md5' | 'sha256'; sigHash: 'sha256' | 'sha1' } {
  const profile = opts.profile ?? 'modern';
  const compression = opts.compression ?? (profile === 'el5' ? 'gzip' : 'xz');
  // rpm 4.4 (EL5) reads only gzip and bzip2 payloads.
  if (profile === 'el5' && compression !== 'gzip') throw new ConfigError(`cannot pack rpm for el5 with ${compression}: rpm 4.4 reads only gzip payloads (use --compression gzip)`);
  const level = opts.level ?? (compression === 'xz' ? 6 : 9);
  return { profile, compression, level, fileDigest: profile === 'el5' ? 'md5' : 'sha256', sigHash: profile === 'el5' ? 'sha1' : 'sha256' };
}

/** The conventional `name-version-release.arch.rpm` file name. */
export function rpmFileName(spec: PackageSpec, opts: PackOptions = {}): string {
  const evr = specEvr(spec, opts.profile ?? 'modern');
  return `${spec.name}-${evr.version}-${evr.release}.${RPM_ARCH[spec.arch]}.rpm`;
}

/** Writes the rpm for `spec` to `out`, signing it when `opts.signer` is set. */
export async function writeRpm(specIn: PackageSpec, out: Writable, opts: PackOptions & { tmpDir?: string } = {}): Promise<void> {
  // The compressed payload waits in a temp file (next to the output when the caller says where).
  const tmp = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), '.lxl-rpm-'));
  let payloadOut: WriteStream | undefined;
  try {
    const spec = validatePackageSpec(specIn);
    const cfg = profileSettings(opts);
    const evr = specEvr(spec, cfg.profile);
    const files = rpmFiles(spec);
    // Map names, versions and dependencies first, so a bad spec fails before any compression work.
    mainHeaderEntries(spec, { fileDigests: [], payloadSha256: '', compressor: cfg.compression, level: cfg.level }, cfg.profile);
    const members: CpioMember[] = files.map((f, i) => ({
      name: `./${f.path}`,
      ino: i + 1,
      mode: fileMode(f),
      nlink: f.type === 'dir' ? 2 : 1,
      mtime: spec.sourceDateEpoch,
      size: fileDataSize(f),
      source: f.type === 'file' ? f.source : undefined,
      content: f.type === 'file' ? f.content : f.type === 'symlink' ? Buffer.from(f.target) : undefined,
    }));

    // Pass 1: cpio → count → compress → sha256 → temp file.
    const payloadFile = path.join(tmp, 'payload');
    const fileDigests: string[] = files.map(() => '');
    let rawSize = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        rawSize += chunk.length;
        cb(null, chunk);
      },
    });
    const compressedDigest = new DigestStream(['sha256'] as const);
    payloadOut = createWriteStream(payloadFile);
    await pipeline(
      Readable.from(cpioStream(members, { digest: cfg.fileDigest, digests: fileDigests, signal: opts.signal })),
      counter,
      // 8 MiB xz blocks (the level-6 dictionary size) keep every thread busy on a ~100 MB kernel
      // tree; xz's default 24 MiB blocks leave one thread idle for the last block.
      compressor(cfg.compression, { level: cfg.level, blockSize: 8 << 20 }),
      compressedDigest,
      payloadOut,
      { signal: opts.signal },
    );
    const payload = compressedDigest.result();

    const header = encodeHeader(
      TAG_HEADERIMMUTABLE,
      mainHeaderEntries(spec, { fileDigests, payloadSha256: payload.sha256, compressor: cfg.compression, level: cfg.level }, cfg.profile),
    );

    // Pass 2: MD5 over header+payload, and the header+payload signature, in one read.
    const md5 = createHash('md5').update(header);
    const headerAndPayload = async function* (): AsyncGenerator<Buffer> {
      yield header;
      for await (const chunk of createReadStream(payloadFile, { highWaterMark: 1 << 20 })) {
        md5.update(chunk as Buffer);
        yield chunk as Buffer;
      }
    };
    let rsa: Uint8Array | undefined;
    let pgp: Uint8Array | undefined;
    if (opts.signer) {
      rsa = await signRpmPart(opts.signer, header, cfg.sigHash);
      pgp = await signRpmPart(opts.signer, Readable.from(headerAndPayload()), cfg.sigHash);
    } else {
      for await (const _ of headerAndPayload());
    }

    const sig = encodeHeader(
      TAG_HEADERSIGNATURES,
      signatureEntries({ header, payloadSize: payload.size, rawSize, md5: md5.digest(), rsa, pgp }),
    );
    const lead = encodeLead(`${spec.name}-${formatEvr(evr)}`);
    const padding = Buffer.alloc(signaturePadding(sig.length));

    // Pass 3: the file itself.
    await pipeline(
      Readable.from(
        (async function* () {
          yield Buffer.concat([lead, sig, padding, header]);
          yield* createReadStream(payloadFile, { highWaterMark: 1 << 20 });
        })(),
      ),
      out,
      { signal: opts.signal },
    );
  } catch (err) {
    out.destroy(err as Error);
    throw err;
  } finally {
    await discardWriteStream(payloadOut);
    await rm(tmp, { recursive: true, force: true });
  }
}

/** One detached binary signature for the rpm signature header; signer failures become SignError. */
export async function signRpmPart(signer: Signer, data: Buffer | Readable, hash: 'sha256' | 'sha1'): Promise<Uint8Array> {
  try {
    return await signer.detachBinary(data, { hash });
  } catch (err) {
    if (err instanceof LxlError) throw err;
    throw new SignError(`cannot sign rpm: ${(err as Error).message}`, { cause: err });
  }
}

/** Signature-header entries (rpm lib/signature.c, rpmvs.cc): sizes, digests and optional signatures. */
export function signatureEntries(x: { header: Buffer; payloadSize: number; rawSize: number; md5: Buffer; rsa?: Uint8Array; pgp?: Uint8Array }): RpmEntry[] {
  const total = x.header.length + x.payloadSize;
  const big = total > 0xffffffff || x.rawSize > 0xffffffff;
  const entries: RpmEntry[] = [
    { tag: SigTag.SHA1, type: RpmType.STRING, value: createHash('sha1').update(x.header).digest('hex') },
    { tag: SigTag.SHA256, type: RpmType.STRING, value: createHash('sha256').update(x.header).digest('hex') },
    { tag: SigTag.MD5, type: RpmType.BIN, value: x.md5 },
  ];
  // Sizes over 4 GiB need the 64-bit tags (rpm >= 4.6).
  if (big) {
    entries.push({ tag: SigTag.LONGSIZE, type: RpmType.INT64, value: [BigInt(total)] });
    entries.push({ tag: SigTag.LONGARCHIVESIZE, type: RpmType.INT64, value: [BigInt(x.rawSize)] });
  } else {
    entries.push({ tag: SigTag.SIZE, type: RpmType.INT32, value: [total] });
    entries.push({ tag: SigTag.PAYLOADSIZE, type: RpmType.INT32, value: [x.rawSize] });
  }
  if (x.rsa) entries.push({ tag: SigTag.RSA, type: RpmType.BIN, value: Buffer.from(x.rsa) });
  if (x.pgp) entries.push({ tag: SigTag.PGP, type: RpmType.BIN, value: Buffer.from(x.pgp) });
  return entries;
}

/** The rpm Packager registered in repo-layout/packagers.ts. */
export const rpmPackager: Packager = {
  format: 'rpm',
  fileName: rpmFileName,
  write: writeRpm,
};
