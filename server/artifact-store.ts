// The content-addressed artifact store: `<root>/sha256/ab/<hex>`. Uploads
// land in `<root>/tmp/` (same filesystem), are verified, then renamed into
// place after an fsync, so a crash leaves either a complete artifact or a
// temp file that the next start sweeps away, never a half-stored artifact.

import { createReadStream } from 'node:fs';
import { link, mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { NotFoundError, StorageError } from '../repo-layout/errors.js';
import { fsyncPath } from '../storage/durable-file.js';

const SHA256_RE = /^[0-9a-f]{64}$/;

/** Where verified package files are kept by digest. */
export interface ArtifactStore {
  /** A fresh temp file path on the store's filesystem (the caller creates and fills it). */
  tempPath(): string;
  /** Moves a complete, fsynced temp file to its content address; an artifact already there is kept and the temp removed. */
  commit(tempFile: string, sha256: string): Promise<void>;
  /** True when the artifact is stored. */
  has(sha256: string): Promise<boolean>;
  /** Local path of a stored artifact (publishers read or hard-link it); NotFoundError when missing. */
  localPath(sha256: string): Promise<string>;
  /** Opens a stored artifact for reading. */
  open(sha256: string): Promise<Readable>;
  /** Digests of every stored artifact. */
  list(): Promise<string[]>;
  /** Deletes leftover temp files (from uploads cut off by a crash); resolves to how many. */
  sweepTemp(): Promise<number>;
}

export interface FsArtifactStoreOptions {
  /** The store's root folder, e.g. `<var>/artifacts`. */
  root: string;
}

/** An ArtifactStore in a local folder. */
export class FsArtifactStore implements ArtifactStore {
  readonly root: string;
  readonly tmpDir: string;

  constructor(opts: FsArtifactStoreOptions) {
    this.root = path.resolve(opts.root);
    this.tmpDir = path.join(this.root, 'tmp');
  }

  /** Creates the folders; call once before use. */
  async init(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(path.join(this.root, 'sha256'), { recursive: true });
  }

  private file(sha256: string): string {
    if (!SHA256_RE.test(sha256)) throw new StorageError(`cannot address artifact ${JSON.stringify(sha256)}: not a lowercase hex sha256`);
    return path.join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  tempPath(): string {
    return path.join(this.tmpDir, `${Date.now().toString(36)}-${randomBytes(8).toString('hex')}.part`);
  }

  async commit(tempFile: string, sha256: string): Promise<void> {
    const dest = this.file(sha256);
    try {
      await mkdir(path.dirname(dest), { recursive: true });
      // link(2) refuses to replace: an artifact already stored (same digest, same bytes) stays as it is.
      await link(tempFile, dest).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await fsyncPath(path.dirname(dest));
    } catch (err) {
      throw new StorageError(`cannot store artifact ${sha256}: ${(err as Error).message}`, { cause: err });
    } finally {
      await rm(tempFile, { force: true });
    }
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.file(sha256))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async localPath(sha256: string): Promise<string> {
    if (!(await this.has(sha256))) throw new NotFoundError(`cannot find artifact ${sha256} in ${this.root}`);
    return this.file(sha256);
  }

  async open(sha256: string): Promise<Readable> {
    return createReadStream(await this.localPath(sha256));
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    const base = path.join(this.root, 'sha256');
    for (const dir of await readdir(base).catch(() => [] as string[])) {
      for (const name of await readdir(path.join(base, dir))) if (SHA256_RE.test(name)) out.push(name);
    }
    return out.sort();
  }

  async sweepTemp(): Promise<number> {
    const names = await readdir(this.tmpDir).catch(() => [] as string[]);
    for (const n of names) await rm(path.join(this.tmpDir, n), { force: true, recursive: true });
    return names.length;
  }
}



FsArtifactStore satisfies new (opts: FsArtifactStoreOptions) => ArtifactStore;
