// The signing seam. Repo writers take a Signer and never touch key material,
// so tests sign with a throwaway key and production with the repo key.

import type { Readable } from 'node:stream';

/** Hash used inside an OpenPGP signature. sha512 is the default; sha256/sha1 exist for old rpm (EL5) profiles. */
export type SignatureHash = 'sha512' | 'sha256' | 'sha1';

/** Bytes to sign: a buffer, or a stream that is consumed once (large rpm payloads). */
export type SignInput = Uint8Array | string | Readable;

export interface DetachOptions {
  /** Digest algorithm for the signature; default sha512. */
  hash?: SignatureHash;
}

/** Signs repository metadata and packages with one (or, during rotation, several) OpenPGP keys. */
export interface Signer {
  /** Fingerprints (uppercase hex, no spaces) of the signing keys, primary first. */
  readonly fingerprints: string[];
  /** Cleartext-signed armored message of `text` (apt's InRelease). */
  clearsign(text: string): Promise<string>;
  /** Detached ASCII-armored signature (Release.gpg, repomd.xml.asc, SHA256SUMS.asc). */
  detachArmored(data: SignInput, opts?: DetachOptions): Promise<string>;
  /** Detached binary signature packet (rpm RSAHEADER/PGP tags). With several keys, only the primary signs. */
  detachBinary(data: SignInput, opts?: DetachOptions): Promise<Uint8Array>;
  /** Public key(s), ASCII-armored (`keys/<name>.asc`, `repomd.xml.key`). */
  publicKeyArmored(): string;
  /** Public key(s) as a binary OpenPGP keyring (`keys/<name>.gpg`, for apt Signed-By). */
  publicKeyBinary(): Uint8Array;
}
