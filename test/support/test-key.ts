// Shared signing keys for tests. RSA-4096 generation costs seconds, so each key
// is generated once, cached under $LXL_TEST_CACHE/keys/<name>/ (default
// /var/cache/lxl-test) and reused by every test file and run. A key directory
// is built under a temp name and renamed into place whole, so test files that
// start at the same time never see (or mix) half-written keys.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateKey, type KeyAlgorithm, type KeyMaterial } from '../../repo-layout/signing/keys.js';
import { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';

export interface TestKey {
  signer: OpenPgpSigner;
  key: KeyMaterial;
  /** Holds <name>.secret.asc, <name>.asc and <name>.gpg. */
  dir: string;
}

export interface TestKeyOptions {
  /** Default rsa4096. */
  algorithm?: KeyAlgorithm;
  /** Key name (and user id name); default `lxl-test-<algorithm>`. Different names give different keys. */
  name?: string;
}

// Fixed creation time in the past, so signatures made at any pinned test clock are valid.
const KEY_DATE = new Date('2020-01-01T00:00:00Z');

const loaded = new Map<string, Promise<TestKey>>();

/** Key storage root: $LXL_TEST_CACHE/keys, or a temp-dir fallback when the cache is not writable. */
async function keysRoot(): Promise<string> {
  const base = process.env.LXL_TEST_CACHE ?? '/var/cache/lxl-test';
  const root = path.join(base, 'keys');
  try {
    await mkdir(root, { recursive: true });
    return root;
  } catch {
    const fallback = path.join(os.tmpdir(), 'lxl-test-cache', 'keys');
    await mkdir(fallback, { recursive: true });
    return fallback;
  }
}

/** A cached unencrypted test key and a signer for it; generated at most once per name across runs. */
export function testKey(opts: TestKeyOptions = {}): Promise<TestKey> {
  const algorithm = opts.algorithm ?? 'rsa4096';
  const name = opts.name ?? `lxl-test-${algorithm}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`test key name must be a plain file name: ${name}`);
  const id = `${name}\0${algorithm}`;
  let p = loaded.get(id);
  if (!p) {
    p = load(name, algorithm);
    loaded.set(id, p);
    p.catch(() => loaded.delete(id));
  }
  return p;
}

async function load(name: string, algorithm: KeyAlgorithm): Promise<TestKey> {
  const root = await keysRoot();
  // The algorithm is part of the directory name so one name never maps to two key types.
  const dir = path.join(root, `${name}.${algorithm}`);
  const cached = await readCached(dir, name);
  if (cached) return { key: cached, dir, signer: await OpenPgpSigner.fromArmored(cached.secretArmored) };

  const key = await generateKey({ name, email: `${name}@lxl.test`, algorithm, date: KEY_DATE });
  const tmp = path.join(root, `.tmp-${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    await writeFile(path.join(tmp, `${name}.secret.asc`), key.secretArmored, { mode: 0o600 });
    await writeFile(path.join(tmp, `${name}.asc`), key.publicArmored);
    await writeFile(path.join(tmp, `${name}.gpg`), key.publicBinary);
    await writeFile(path.join(tmp, 'fingerprint'), `${key.fingerprint}\n`);
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    // Another test process won the race: use its key so every process agrees.
    const theirs = await readCached(dir, name);
    if (!theirs) throw err;
    return { key: theirs, dir, signer: await OpenPgpSigner.fromArmored(theirs.secretArmored) };
  }
  return { key, dir, signer: await OpenPgpSigner.fromArmored(key.secretArmored) };
}

/** Reads a complete cached key directory, or undefined when there is none. */
async function readCached(dir: string, name: string): Promise<KeyMaterial | undefined> {
  try {
    const [secretArmored, publicArmored, publicBinary, fingerprint] = await Promise.all([
      readFile(path.join(dir, `${name}.secret.asc`), 'utf8'),
      readFile(path.join(dir, `${name}.asc`), 'utf8'),
      readFile(path.join(dir, `${name}.gpg`)),
      readFile(path.join(dir, 'fingerprint'), 'utf8'),
    ]);
    return { secretArmored, publicArmored, publicBinary: new Uint8Array(publicBinary), fingerprint: fingerprint.trim() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
