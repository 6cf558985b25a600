// The content-addressed artifact store: `<root>/sha256/ab/<hex>`. Uploads
// land in `<root>/tmp/` (same filesystem), are verified, then renamed into
// place after an fsync, so a crash leaves either a complete artifact or a
// temp file that the next start sweeps away, never a half-stored artifact.
// Derived artifacts (an uploaded rpm signed by the repo key) are stored the
// same way, with a small record `<root>/derived/<kind>/<source>` naming the
// result, so the derivation runs once. An artifact stored but never
// catalogued (the server died between the two) is swept after a grace period.

import { createReadStream } from 'node:fs';
import { chmod, link, mkdir, readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { NotFoundError, StorageError } from '../repo-layout/errors.js';
import { fsyncPath, writeFileDurable } from '../storage/durable-file.js';

const SHA256_RE = /^[0-9a-f]{64}$/;
/** Mode of a stored artifact. */
const ARTIFACT_MODE = 0o644;
const KIND_RE = /^[A-Za-z0-9._-]{1,100}$/;

/** How old an uncatalogued artifact must be before the start-up sweep removes it. */
export const UNREFERENCED_GRACE_MS = 60 * 60 * 1000;

/** What sweepUnreferenced removed. */
export interface SweepResult {
  artifacts: string[];
  derived: number;
}

/** Where verified package files are kept by digest. */
export interface ArtifactStore {
  /** A fresh temp file path on the store's filesystem (the caller creates and fills it). */
  tempPath(): string;
  /** Fsyncs a complete temp file and moves it to its content address; an artifact already there is kept and the temp removed. */
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
  /** The stored artifact recorded as `source` derived by `kind` (e.g. `rpm-signed-<fingerprint>`), if any and still stored. */
  derived(kind: string, source: string): Promise<string | undefined>;
  /** Records durably that the stored artifact `target` is `source` derived by `kind`. */
  setDerived(kind: string, source: string, target: string): Promise<void>;
  /**
   * Deletes artifacts older than `graceMs` that `referenced` (the catalogue's digests) does not hold,
   * keeping what is derived from a referenced artifact; derivation records of unreferenced sources go too.
   */
  sweepUnreferenced(referenced: ReadonlySet<string>, opts: { graceMs: number; now?: number }): Promise<SweepResult>;
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
      // The bytes reach the disk before the name does (the writer may have fsynced already; then this is cheap).
      await fsyncPath(tempFile);
      // Verified, an artifact is published content: readable by everyone, so a local pool can hard-link it (uploads stay 0640 until here).
      await chmod(tempFile, ARTIFACT_MODE);
      await mkdir(path.dirname(dest), { recursive: true });
      // link(2) refuses to replace: an artifact already stored (same digest, same bytes) stays as it is,
      // made fresh again so the unreferenced-artifact sweep's grace period starts over.
      await link(tempFile, dest).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
        const now = new Date();
        await utimes(dest, now, now);
        await chmod(dest, ARTIFACT_MODE);
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

  private derivedFile(kind: string, source: string): string {
    if (!KIND_RE.test(kind)) throw new StorageError(`cannot address derived artifacts of kind ${JSON.stringify(kind)}: use letters, digits, . _ -`);
    if (!SHA256_RE.test(source)) throw new StorageError(`cannot address artifact ${JSON.stringify(source)}: not a lowercase hex sha256`);
    return path.join(this.root, 'derived', kind, source);
  }

  async derived(kind: string, source: string): Promise<string | undefined> {
    let target: string;
    try {
      target = (await readFile(this.derivedFile(kind, source), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return SHA256_RE.test(target) && (await this.has(target)) ? target : undefined;
  }

  async setDerived(kind: string, source: string, target: string): Promise<void> {
    const file = this.derivedFile(kind, source);
    if (!(await this.has(target))) throw new NotFoundError(`cannot record derived artifact ${target}: it is not stored`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileDurable(file, `${target}\n`);
  }

  async sweepUnreferenced(referenced: ReadonlySet<string>, opts: { graceMs: number; now?: number }): Promise<SweepResult> {
    const cutoff = (opts.now ?? Date.now()) - opts.graceMs;
    const old = async (p: string): Promise<boolean> => ((await stat(p).catch(() => undefined))?.mtimeMs ?? Infinity) < cutoff;
    const keep = new Set(referenced);
    let derived = 0;
    const base = path.join(this.root, 'derived');
    for (const kind of await readdir(base).catch(() => [] as string[])) {
      if (!KIND_RE.test(kind)) continue;
      for (const source of await readdir(path.join(base, kind))) {
        if (!SHA256_RE.test(source)) continue;
        const file = path.join(base, kind, source);
        if (referenced.has(source)) {
          const target = (await readFile(file, 'utf8').catch(() => '')).trim();
          if (SHA256_RE.test(target)) keep.add(target);
        } else if (await old(file)) {
          await rm(file, { force: true });
          derived++;
        }
      }
    }
    const removed: string[] = [];
    for (const sha of await this.list()) {
      if (keep.has(sha) || !(await old(this.file(sha)))) continue;
      await rm(this.file(sha), { force: true });
      removed.push(sha);
    }
    return { artifacts: removed, derived };
  }
}



FsArtifactStore satisfies new (opts: FsArtifactStoreOptions) => ArtifactStore;
