// Signer on openpgp.js 6: clearsigned InRelease, detached armored and binary
// signatures, one signature per key during key rotation.
//
// Signature packets are built with openpgp.js's SignaturePacket directly rather
// than openpgp.sign(): sign() honours config.preferredHashAlgorithm only when the
// key's own preferences list that hash (SHA-256 excepted), so it cannot make the
// SHA-1 signatures old rpm (EL5) needs with a key that prefers SHA-512. Every
// signature is a v4 packet (the keys are v4), binary (0x00) for detached data and
// canonical-text (0x01) for clearsigned text, as gpg makes them. SignaturePacket
// reads the signed bytes through `getBytes()` (see SignedData); the unit and e2e
// tests pin that contract when openpgp.js is upgraded.

import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { KeyError, SignError } from '../errors.js';
import { concatBytes, fingerprintOf, fullConfig, PGP_CONFIG, publicExportOf, safeReason } from './keys.js';
import type { DetachOptions, SignatureHash, Signer, SignInput } from './signer.js';

/** How OpenPgpSigner unlocks its keys and dates its signatures. */
export interface OpenPgpSignerOptions {
  /** Passphrase for encrypted secret keys (the same one for every key given). */
  passphrase?: string;
  /** Clock for signature creation times; default `new Date()`. Tests pin it. */
  now?: () => Date;
}

/** Where loadSigner finds the secret key file(s) and the passphrase. */
export interface LoadSignerOptions {
  /** Armored secret key file(s); several files (or several keys in one file) sign together during rotation. */
  keyFile: string | string[];
  /** Name of the environment variable that holds the passphrase. */
  passphraseEnv?: string;
  /** File whose content (minus one trailing newline) is the passphrase. */
  passphraseFile?: string;
}

const HASHES: Record<SignatureHash, openpgp.enums.hash> = {
  sha512: openpgp.enums.hash.sha512,
  sha256: openpgp.enums.hash.sha256,
  sha1: openpgp.enums.hash.sha1,
};

/** The part of a literal data packet SignaturePacket.sign reads for binary/text signatures. */
interface SignedData {
  text: null;
  getBytes(clone?: boolean): Uint8Array | ReadableStream<Uint8Array>;
}

/** Signs with one or more decrypted OpenPGP secret keys; the first key is the primary. */
export class OpenPgpSigner implements Signer {
  readonly fingerprints: string[];
  private readonly keys: openpgp.PrivateKey[];
  private readonly now: () => Date;
  private readonly publicArmored: string;
  private readonly publicBinary: Uint8Array;

  private constructor(keys: openpgp.PrivateKey[], now: () => Date) {
    this.keys = keys;
    this.now = now;
    this.fingerprints = keys.map(fingerprintOf);
    const pub = publicExportOf(keys);
    this.publicArmored = pub.publicArmored;
    this.publicBinary = pub.publicBinary;
  }

  /** Reads armored secret key(s) (each string may hold several), decrypting them with the passphrase when needed. */
  static async fromArmored(secretArmored: string | string[], opts: OpenPgpSignerOptions = {}): Promise<OpenPgpSigner> {
    const texts = Array.isArray(secretArmored) ? secretArmored : [secretArmored];
    const keys: openpgp.PrivateKey[] = [];
    for (const text of texts) keys.push(...(await readSecretKeys(text)));
    if (keys.length === 0) throw new KeyError('cannot load signing key: no secret key given');
    return OpenPgpSigner.fromKeys(keys, opts);
  }

  /** Wraps parsed secret keys; decrypts encrypted ones with opts.passphrase and checks each can sign now. */
  static async fromKeys(keys: openpgp.PrivateKey[], opts: OpenPgpSignerOptions = {}): Promise<OpenPgpSigner> {
    const now = opts.now ?? (() => new Date());
    const seen = new Set<string>();
    const ready: openpgp.PrivateKey[] = [];
    for (const key of keys) {
      const fp = fingerprintOf(key);
      if (seen.has(fp)) continue;
      seen.add(fp);
      if (key.keyPacket.version !== 4) {
        throw new KeyError(`cannot use signing key ${fp}: it is a v${key.keyPacket.version} key; apt, rpm and gpgv 2.2 read only v4 keys (generate one with lxl keys generate)`);
      }
      const decrypted = await decrypt(key, opts.passphrase);
      try {
        await decrypted.getSigningKey(undefined, now(), undefined, fullConfig());
      } catch (err) {
        throw new KeyError(`cannot use signing key ${fp}: ${safeReason(err)}`, { cause: err });
      }
      ready.push(decrypted);
    }
    return new OpenPgpSigner(ready, now);
  }

  /** Cleartext-signed message (InRelease): one SHA-512 text signature per key; accepted by gpgv and apt. */
  async clearsign(text: string): Promise<string> {
    // gpg --clearsign drops the input's final line ending from the signed text (the
    // armor's own newline stands in for it): do the same so a Release file ending
    // in "\n" comes back from apt byte-identical, with no blank line added.
    const lf = text.replace(/\r\n/g, '\n');
    const body = lf.endsWith('\n') ? lf.slice(0, -1) : lf;
    // RFC 4880 §7.1: the signed text has trailing blanks removed and CRLF line ends.
    const canonical = body.replace(/[ \t]+$/gm, '');
    const literal = binaryData(new TextEncoder().encode(canonical)); // openpgp.js makes the \r\n for text signatures
    const date = this.now();
    const sigs: openpgp.SignaturePacket[] = [];
    for (const key of this.keys) sigs.push(await this.signOne(key, literal, openpgp.enums.signature.text, 'sha512', date));
    return formatCleartext(canonical, sigs);
  }

  /** Detached ASCII-armored signature over the exact bytes, one per key. */
  async detachArmored(data: SignInput, opts: DetachOptions = {}): Promise<string> {
    const sources = splitInput(data, this.keys.length);
    const date = this.now();
    const hash = opts.hash ?? 'sha512';
    const sigs = await releaseOnError(
      data,
      Promise.all(this.keys.map((key, i) => this.signOne(key, binaryData(sources[i]!), openpgp.enums.signature.binary, hash, date))),
    );
    return openpgp.armor(openpgp.enums.armor.signature, concatBytes(sigs.map(writePacket)), undefined, undefined, undefined, true, fullConfig());
  }

  /** Detached binary signature packet by the primary key only (rpm header tags 268/1002). */
  async detachBinary(data: SignInput, opts: DetachOptions = {}): Promise<Uint8Array> {
    const [source] = splitInput(data, 1);
    const sig = await releaseOnError(
      data,
      this.signOne(this.keys[0]!, binaryData(source!), openpgp.enums.signature.binary, opts.hash ?? 'sha512', this.now()),
    );
    return writePacket(sig);
  }

  /** Public key(s), ASCII-armored. */
  publicKeyArmored(): string {
    return this.publicArmored;
  }

  /** Public key(s) as a binary keyring. */
  publicKeyBinary(): Uint8Array {
    return this.publicBinary.slice();
  }

  /** One signature packet by `key`'s current signing key (primary or signing subkey). */
  private async signOne(
    key: openpgp.PrivateKey,
    data: SignedData,
    type: openpgp.enums.signature,
    hash: SignatureHash,
    date: Date,
  ): Promise<openpgp.SignaturePacket> {
    const fp = fingerprintOf(key);
    const algo = HASHES[hash];
    if (algo === undefined) throw new SignError(`cannot sign with key ${fp}: unknown hash "${hash}" (use sha512, sha256 or sha1)`);
    try {
      const config = fullConfig();
      const signing = await key.getSigningKey(undefined, date, undefined, config);
      const packet = signing.keyPacket as openpgp.SecretKeyPacket;
      const sig = new openpgp.SignaturePacket();
      sig.signatureType = type;
      sig.publicKeyAlgorithm = packet.algorithm;
      sig.hashAlgorithm = algo;
      const sign = sig.sign.bind(sig) as unknown as (
        k: openpgp.SecretKeyPacket,
        d: SignedData,
        date: Date,
        detached: boolean,
        c: openpgp.Config,
      ) => Promise<void>;
      await sign(packet, data, date, true, config);
      await settle(sig);
      return sig;
    } catch (err) {
      if (err instanceof KeyError || err instanceof SignError) throw err;
      throw new SignError(`cannot sign with key ${fp} (${hash}): ${safeReason(err)}`, { cause: err });
    }
  }
}

/** Reads an armored secret key file set and builds a signer; the passphrase comes from an env var or a file. */
export async function loadSigner(opts: LoadSignerOptions): Promise<OpenPgpSigner> {
  const files = Array.isArray(opts.keyFile) ? opts.keyFile : [opts.keyFile];
  if (files.length === 0) throw new KeyError('cannot load signing key: no key file given');
  const passphrase = await readPassphrase(opts);
  const texts: string[] = [];
  for (const file of files) {
    try {
      texts.push(await readFile(file, 'utf8'));
    } catch (err) {
      throw new KeyError(`cannot read signing key ${file}: ${(err as NodeJS.ErrnoException).code ?? 'read failed'}`, { cause: err });
    }
  }
  const keys: openpgp.PrivateKey[] = [];
  for (const [i, text] of texts.entries()) keys.push(...(await readSecretKeys(text, files[i])));
  return OpenPgpSigner.fromKeys(keys, { passphrase });
}

/** Passphrase from `passphraseEnv` (the variable must exist) or `passphraseFile` (one trailing newline trimmed). */
export async function readPassphrase(opts: { passphraseEnv?: string; passphraseFile?: string }): Promise<string | undefined> {
  if (opts.passphraseEnv && opts.passphraseFile) {
    throw new KeyError('cannot read passphrase: give either a passphrase variable or a passphrase file, not both');
  }
  if (opts.passphraseEnv) {
    const value = process.env[opts.passphraseEnv];
    if (value === undefined) throw new KeyError(`cannot read passphrase: environment variable ${opts.passphraseEnv} is not set`);
    return value;
  }
  if (opts.passphraseFile) {
    let value: string;
    try {
      value = await readFile(opts.passphraseFile, 'utf8');
    } catch (err) {
      throw new KeyError(`cannot read passphrase file ${opts.passphraseFile}: ${(err as NodeJS.ErrnoException).code ?? 'read failed'}`, {
        cause: err,
      });
    }
    return value.replace(/\r?\n$/, '');
  }
  return undefined;
}

/** Parses armored secret keys; a public-only or unparsable input gives a KeyError that never quotes the input. */
async function readSecretKeys(text: string, source = 'signing key'): Promise<openpgp.PrivateKey[]> {
  try {
    return await openpgp.readPrivateKeys({ armoredKeys: text, config: PGP_CONFIG });
  } catch (err) {
    const isPublic = /-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(text);
    const why = isPublic ? 'it holds a public key only; give the secret key (.secret.asc)' : `not an armored OpenPGP secret key (${safeReason(err)})`;
    throw new KeyError(`cannot read ${source}: ${why}`, { cause: isPublic ? undefined : err });
  }
}

/** Decrypts `key` if it is encrypted; errors name the fingerprint, never the passphrase. */
async function decrypt(key: openpgp.PrivateKey, passphrase: string | undefined): Promise<openpgp.PrivateKey> {
  if (key.isDecrypted()) return key;
  const fp = fingerprintOf(key);
  if (passphrase === undefined) {
    throw new KeyError(`cannot decrypt signing key ${fp}: it is passphrase-protected and no passphrase was given (use --passphrase-env or --passphrase-file)`);
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase, config: PGP_CONFIG });
  } catch (err) {
    const msg = err instanceof Error ? err.message : '';
    if (/passphrase|checksum|decrypt/i.test(msg)) throw new KeyError(`cannot decrypt signing key ${fp}: wrong passphrase`);
    throw new KeyError(`cannot decrypt signing key ${fp}: ${safeReason(err)}`);
  }
}

/** Awaits `work`; if it fails, destroys a stream input so the caller's file handle is not left open. */
async function releaseOnError<T>(data: SignInput, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) data.destroy();
    throw err;
  }
}

/** Turns the sign input into `n` independent byte sources (a stream is teed, never buffered whole). */
function splitInput(data: SignInput, n: number): Array<Uint8Array | ReadableStream<Uint8Array>> {
  if (typeof data === 'string') return Array(n).fill(new TextEncoder().encode(data));
  if (data instanceof Uint8Array) return Array(n).fill(data);
  let stream = toWebStream(data);
  const out: ReadableStream<Uint8Array>[] = [];
  for (let i = 1; i < n; i++) {
    const [a, b] = stream.tee();
    out.push(a);
    stream = b;
  }
  out.push(stream);
  return out;
}

/** Pull-based web stream over a Node Readable, so backpressure reaches the source. */
function toWebStream(readable: Readable): ReadableStream<Uint8Array> {
  const it = readable[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else if (typeof value === 'string') controller.enqueue(new TextEncoder().encode(value));
      else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** Binary-signature data: handed to SignaturePacket as-is (LiteralDataPacket would tee a stream and buffer it). */
function binaryData(bytes: Uint8Array | ReadableStream<Uint8Array>): SignedData {
  return { text: null, getBytes: () => bytes };
}

/** Waits for a streamed signature to finish and replaces its lazy fields with plain bytes. */
async function settle(sig: openpgp.SignaturePacket): Promise<void> {
  const s = sig as unknown as { params: unknown; signedHashValue: unknown };
  s.params = await s.params;
  if (s.signedHashValue instanceof ReadableStream) s.signedHashValue = await readAll(s.signedHashValue);
}

/** Reads a web stream of bytes to the end. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concatBytes(parts);
    parts.push(value);
  }
}

/**
 * The cleartext signature framework (RFC 4880 §7) with LF line ends, as gpg
 * writes it: a Hash header, the dash-escaped text, then the armored signatures.
 */
function formatCleartext(canonical: string, sigs: openpgp.SignaturePacket[]): string {
  const hashes = [...new Set(sigs.map((s) => openpgp.enums.read(openpgp.enums.hash, s.hashAlgorithm!).toUpperCase()))];
  const escaped = canonical.replace(/^-/gm, '- -');
  const armored = openpgp.armor(openpgp.enums.armor.signature, concatBytes(sigs.map(writePacket)), undefined, undefined, undefined, true, fullConfig());
  return `-----BEGIN PGP SIGNED MESSAGE-----\nHash: ${hashes.join(',')}\n\n${escaped}\n${armored.replace(/\r\n/g, '\n')}`;
}

/** Serializes one signature packet with its OpenPGP packet header. */
function writePacket(sig: openpgp.SignaturePacket): Uint8Array {
  const list = new openpgp.PacketList<openpgp.SignaturePacket>();
  list.push(sig);
  const bytes = list.write() as unknown;
  if (!(bytes instanceof Uint8Array)) throw new SignError('cannot serialize signature: packet is still streaming');
  return bytes;
}
