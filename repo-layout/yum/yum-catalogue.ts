// The YUM catalogue: what a repo holds (package records, settings, files
// waiting for deletion) behind a small interface. JsonYumCatalogue keeps it in
// `<repo>/state/yum/<name>/catalogue.json`; the server implements the same
// interface on its metadata store.

import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurable } from '../../storage/durable-file.js';
import { acquireStateLock } from '../../storage/state-lock.js';
import { StorageError } from '../errors.js';
import type { YumPackage } from './yum-package.js';
import type { RepodataRecord } from './repodata-reuse.js';

export type YumProfile = 'modern' | 'el5';

/** Per-repo settings, remembered between publishes. */
export interface YumSettings {
  profile: YumProfile;
  /** Versions kept per package name and arch (0 = all). */
  retention: number;
  /** Hours an unreferenced file stays before it is deleted. */
  graceHours: number;
  /** Public URL of the published tree root (the folder holding `yum/`). */
  baseUrl?: string;
}

export const DEFAULT_SETTINGS: YumSettings = { profile: 'modern', retention: 3, graceHours: 24 };

/** A published file no longer referenced, deleted once `since + grace` has passed. */
export interface PendingDelete {
  key: string;
  /** ms since the epoch when it became unreferenced. */
  since: number;
}

/** Everything a catalogue stores for one YUM repo. */
export interface YumState {
  settings: YumSettings;
  packages: YumPackage[];
  pending: PendingDelete[];
  /** How many packages were ever added (each record's `serial` is its number; 0 for a catalogue older than it). */
  serial?: number;
  /** The metadata documents the last publish wrote (its package elements serve the next publish). */
  repodata?: RepodataRecord;
}

/** Storage of one YUM repo's catalogue. Callers hold the lock around read-modify-write. */
export interface YumCatalogue {
  /** Reads the whole state (an empty repo when there is none yet). */
  read(): Promise<YumState>;
  /** Replaces the whole state atomically. The catalogue may keep `state` (the caller must not change it afterwards). */
  write(state: YumState): Promise<void>;
  /** Takes the repo's exclusive lock; rejects with LockedError when someone else holds it. Returns the release function. */
  lock(): Promise<() => Promise<void>>;
}

export interface JsonYumCatalogueOptions {
  /** Directory for catalogue.json and the lock, e.g. `<repo>/state/yum/<name>`. */
  dir: string;
  /** A lock older than this is considered abandoned (default 1 hour). */
  staleLockMs?: number;
}

/**
 * A YumCatalogue in one JSON file, written with temp + rename. The state it last wrote is handed to the next read
 * (once) when the file is still the one it wrote (same inode, size and mtime; every write renames a new inode into
 * place): `lxl yum add --key` adds, then publishes, without parsing the whole catalogue a second time.
 */
export class JsonYumCatalogue implements YumCatalogue {
  /** `<dir>/catalogue.json`. */
  readonly file: string;
  private readonly lockFile: string;
  private readonly staleLockMs: number;
  private written: { state: YumState; ino: number; size: number; mtimeMs: number } | undefined;

  constructor(private readonly opts: JsonYumCatalogueOptions) {
    this.file = path.join(opts.dir, 'catalogue.json');
    this.lockFile = path.join(opts.dir, 'lock');
    this.staleLockMs = opts.staleLockMs ?? 3_600_000;
  }

  async read(): Promise<YumState> {
    const last = this.written;
    this.written = undefined;
    if (last) {
      const st = await stat(this.file).catch(() => undefined);
      if (st && st.ino === last.ino && st.size === last.size && st.mtimeMs === last.mtimeMs) return last.state;
    }
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { settings: { ...DEFAULT_SETTINGS }, packages: [], pending: [] };
      throw new StorageError(`cannot read yum catalogue ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const s = JSON.parse(text) as YumState;
      return { ...s, settings: { ...DEFAULT_SETTINGS, ...s.settings }, packages: s.packages ?? [], pending: s.pending ?? [] };
    } catch (err) {
      throw new StorageError(`cannot read yum catalogue ${this.file}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
  }

  async write(state: YumState): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    this.written = undefined;
    try {
      await writeFileDurable(this.file, JSON.stringify(state));
      const st = await stat(this.file);
      this.written = { state, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
    } catch (err) {
      throw new StorageError(`cannot write yum catalogue ${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  lock(): Promise<() => Promise<void>> {
    return acquireStateLock(this.lockFile, { what: `yum repo ${this.opts.dir}`, staleMs: this.staleLockMs });
  }
}


JsonYumCatalogue satisfies new (opts: JsonYumCatalogueOptions) => YumCatalogue;
