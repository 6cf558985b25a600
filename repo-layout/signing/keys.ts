// Repository signing keys: generate one, read armored keys, export the public
// half armored (.asc) and as a binary keyring (.gpg, for apt's Signed-By).
//
// Keys are always v4 (gpgv 2.2, rpm and apt cannot read v6). Self-signatures
// use SHA-512 (apt 3's sqv rejects SHA-1 self-signatures) and the key's hash
// preferences list SHA512 then SHA256. Ed25519 keys use the v4 "EdDSA legacy"
// algorithm (22), which gpgv 2.2 and Sequoia read; old gpgv 1.4 cannot.

import * as openpgp from 'openpgp';
import { KeyError } from '../errors.js';

/** Key types lxl generates: RSA (4096 by default) or Ed25519 (v4 EdDSA, not readable by gpgv 1.4). */
export type KeyAlgorithm = 'rsa4096' | 'rsa3072' | 'rsa2048' | 'ed25519';

/** Every KeyAlgorithm, for CLI choices and validation. */
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['rsa4096', 'rsa3072', 'rsa2048', 'ed25519'];

/** What generateKey makes: the user id (name + e-mail), algorithm, optional passphrase and creation time. */
export interface GenerateKeyOptions {
  name: string;
  email: string;
  /** Default rsa4096. */
  algorithm?: KeyAlgorithm;
  /** Encrypts the secret key (iterated+salted S2K, AES-256) when set. */
  passphrase?: string;
  /** Key creation time; default now. */
  date?: Date;
}

/** A generated key: the armored secret, the public key armored and binary, and its fingerprint. */
export interface KeyMaterial {
  secretArmored: string;
  publicArmored: string;
  publicBinary: Uint8Array;
  /** Uppercase hex, no spaces. */
  fingerprint: string;
}

/** The public half of one or more keys, ready for keys/<name>.asc and keys/<name>.gpg. */
export interface PublicKeyExport {
  publicArmored: string;
  publicBinary: Uint8Array;
  /** Fingerprint of the first key (uppercase hex). */
  fingerprint: string;
  /** Fingerprints of every key, in input order. */
  fingerprints: string[];
}

/** openpgp.js settings every lxl key and signature uses: v4 keys, SHA-512, no version/comment headers. */
export const PGP_CONFIG: openpgp.PartialConfig = {
  v6Keys: false,
  preferredHashAlgorithm: openpgp.enums.hash.sha512,
  showVersion: false,
  showComment: false,
  // lxl signs with a fixed hash per call (rpm EL5 needs SHA-1 data signatures); the
  // random salt notation openpgp.js would add brings nothing for RSA and hides
  // reproducibility, so signatures stay plain RFC 4880 v4 packets.
  nonDeterministicSignaturesViaNotation: false,
};

/** Full openpgp.js config (low-level packet calls need every field). */
export function fullConfig(): openpgp.Config {
  return { ...openpgp.config, ...PGP_CONFIG } as openpgp.Config;
}

/** Uppercase hex fingerprint of a key. */
export function fingerprintOf(key: openpgp.Key): string {
  return key.getFingerprint().toUpperCase();
}

/** Generates a v4 signing key (no subkeys) with SHA-512 self-signature; resolves to its armored and binary forms. */
export async function generateKey(opts: GenerateKeyOptions): Promise<KeyMaterial> {
  const algorithm = opts.algorithm ?? 'rsa4096';
  if (!KEY_ALGORITHMS.includes(algorithm)) {
    throw new KeyError(`cannot generate key: unknown algorithm "${algorithm}" (use ${KEY_ALGORITHMS.join(', ')})`);
  }
  if (!opts.name.trim()) throw new KeyError('cannot generate key: name is empty');
  if (!/^[^\s<>@]+@[^\s<>@]+$/.test(opts.email)) {
    throw new KeyError(`cannot generate key: "${opts.email}" is not an e-mail address`);
  }
  const typeOptions =
    algorithm === 'ed25519'
      ? { type: 'ecc' as const, curve: 'ed25519Legacy' as const }
      : { type: 'rsa' as const, rsaBits: Number(algorithm.slice(3)) };
  let generated;
  try {
    generated = await openpgp.generateKey({
      ...typeOptions,
      userIDs: [{ name: opts.name, email: opts.email }],
      passphrase: opts.passphrase || undefined,
      date: opts.date,
      subkeys: [],
      format: 'object',
      config: PGP_CONFIG,
    });
  } catch (err) {
    throw new KeyError(`cannot generate ${algorithm} key: ${safeReason(err)}`, { cause: err });
  }
  const publicKey = generated.publicKey;
  return {
    secretArmored: generated.privateKey.armor(fullConfig()),
    publicArmored: publicKey.armor(fullConfig()),
    publicBinary: publicKey.write(),
    fingerprint: fingerprintOf(publicKey),
  };
}

/** Reads one or more armored (or binary) public or secret keys; throws KeyError without echoing the input. */
export async function readAnyKeys(input: string | Uint8Array, what = 'key'): Promise<openpgp.Key[]> {
  try {
    const keys =
      typeof input === 'string'
        ? await openpgp.readKeys({ armoredKeys: input, config: PGP_CONFIG })
        : await openpgp.readKeys({ binaryKeys: input, config: PGP_CONFIG });
    if (keys.length === 0) throw new Error('no key found');
    return keys;
  } catch (err) {
    throw new KeyError(`cannot read ${what}: not an OpenPGP key (${safeReason(err)})`, { cause: err });
  }
}

/** Public half of the given armored secret or public key(s): armored, binary keyring and fingerprints. */
export async function exportPublicKey(secretOrPublicArmored: string): Promise<PublicKeyExport> {
  const keys = await readAnyKeys(secretOrPublicArmored);
  return publicExportOf(keys);
}

/** Public export of already-parsed keys (several keys make one keyring / one armor block). */
export function publicExportOf(keys: openpgp.Key[]): PublicKeyExport {
  const publics = keys.map((k) => k.toPublic());
  const parts = publics.map((k) => k.write());
  const publicBinary = concatBytes(parts);
  const publicArmored =
    publics.length === 1
      ? publics[0]!.armor(fullConfig())
      : openpgp.armor(openpgp.enums.armor.publicKey, publicBinary, undefined, undefined, undefined, true, fullConfig());
  const fingerprints = publics.map(fingerprintOf);
  return { publicArmored, publicBinary, fingerprint: fingerprints[0]!, fingerprints };
}

/** Concatenates byte arrays. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A short reason taken from a library error, safe to show: openpgp.js messages name
 * the problem, never the key bytes, but cap the length and drop anything that looks
 * like armored or base64 data in case a future version echoes input.
 */
export function safeReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const firstLine = msg.split('\n')[0] ?? '';
  const cleaned = firstLine.replace(/[A-Za-z0-9+/=]{24,}/g, '[…]').slice(0, 160);
  return cleaned || 'unknown error';
}
