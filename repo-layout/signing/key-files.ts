// Writes a key's files into a folder all-or-nothing: <name>.secret.asc (0600),
// <name>.asc and <name>.gpg. Each file goes to a temp name, is fsynced, and is
// renamed into place only once every file was written; a failure removes the
// temps and any file this call already renamed, so nothing partial remains.

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { ConflictError, KeyError } from '../errors.js';
import { fsyncPath } from '../../storage/durable-file.js';

/** The bytes of one key's files. */
export interface KeyFileSet {
  /** Armored secret key; written as <name>.secret.asc with mode 0600 when given. */
  secretArmored?: string;
  publicArmored: string;
  publicBinary: Uint8Array;
}

/** How writeKeyFiles treats files that already exist. */
export interface WriteKeyFilesOptions {
  /** Replace existing files (the secret key is never replaced silently: refuse without it). */
  force?: boolean;
}

/** File names a key set takes in its folder. */
export function keyFileNames(name: string): { secret: string; armored: string; binary: string } {
  return { secret: `${name}.secret.asc`, armored: `${name}.asc`, binary: `${name}.gpg` };
}

/** Checks that a key name is a plain file name (no slashes, no leading dot). */
export function checkKeyName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name)) {
    throw new KeyError(`cannot use key name "${name}": use letters, digits, ".", "_", "+" or "-" (no slashes, no leading dot)`);
  }
}

/** Writes the key's files into `dir` (created if missing); returns the paths written. Nothing partial on failure. */
export async function writeKeyFiles(dir: string, name: string, files: KeyFileSet, opts: WriteKeyFilesOptions = {}): Promise<string[]> {
  checkKeyName(name);
  const names = keyFileNames(name);
  const plan: Array<{ file: string; data: string | Uint8Array; mode: number }> = [];
  if (files.secretArmored !== undefined) plan.push({ file: names.secret, data: files.secretArmored, mode: 0o600 });
  plan.push({ file: names.armored, data: files.publicArmored, mode: 0o644 });
  plan.push({ file: names.binary, data: files.publicBinary, mode: 0o644 });

  let createdDir: string | undefined;
  try {
    createdDir = await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new KeyError(`cannot write key files to ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'mkdir failed'}`, { cause: err });
  }
  if (!opts.force) {
    for (const { file } of plan) {
      if (await exists(path.join(dir, file))) {
        if (createdDir) await rmdir(createdDir).catch(() => undefined);
        throw new ConflictError(`cannot write key file ${path.join(dir, file)}: it already exists (pass --force to replace it)`);
      }
    }
  }

  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const temps: string[] = [];
  const placed: string[] = [];
  try {
    for (const item of plan) {
      const tmp = path.join(dir, `.${item.file}.${tag}.tmp`);
      temps.push(tmp);
      await writeSynced(tmp, item.data, item.mode);
    }
    for (const [i, item] of plan.entries()) {
      const target = path.join(dir, item.file);
      await rename(temps[i]!, target);
      placed.push(target);
    }
    await fsyncPath(dir);
    return placed;
  } catch (err) {
    await Promise.all([...temps, ...placed].map((f) => rm(f, { force: true })));
    if (createdDir) await rm(createdDir, { recursive: true, force: true });
    throw new KeyError(`cannot write key files to ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** True when `file` exists. */
async function exists(file: string): Promise<boolean> {
  try {
    await access(file, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Writes `data` to a new file with `mode` and fsyncs it. */
async function writeSynced(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const fh = await open(file, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // open() applies the umask; public files must stay world-readable
    await fh.sync();
  } finally {
    await fh.close();
  }
}

