// The APT catalogue: what each suite holds (control text + pool path +
// digests of every .deb), so adding or removing one package never re-reads
// the others. `AptCatalog` is the seam; `JsonAptCatalog` keeps it in one JSON
// file under `<repo>/state/apt/` (the server implements it on SQLite).

import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurable } from '../../storage/durable-file.js';
import { acquireStateLock } from '../../storage/state-lock.js';
import { ConflictError, StorageError } from '../errors.js';
import type { IndexedPackage } from './apt-packages.js';

/** One package in one suite. `filename` is its pool path. */
export interface AptRecord extends IndexedPackage {
  /** Source package name (the pool folder). */
  source: string;
}

/** Which packages to remove: a name, optionally narrowed to one version and/or architecture. */
export interface RemoveMatch {
  name: string;
  version?: string;
  arch?: string;
}

/** Result of adding one record. */
export type AddOutcome = 'added' | 'unchanged';

/** The package metadata store behind `lxl apt`. Implementations must make each call atomic. */
export interface AptCatalog {
  /** Names of every suite that has been used, sorted. */
  suites(): Promise<string[]>;
  /** The records of one suite (empty for an unknown suite). */
  list(suite: string): Promise<AptRecord[]>;
  /** Adds records to a suite in one transaction; identical ones are no-ops, a different file for the same name+version+arch (in any suite) is a ConflictError and nothing is added. */
  add(suite: string, records: AptRecord[]): Promise<AddOutcome[]>;
  /** Removes matching records from a suite and returns them. */
  remove(suite: string, matches: RemoveMatch[]): Promise<AptRecord[]>;
  /** What the last publish left behind: the keys it referenced and those waiting out the grace period. */
  publishState(): Promise<PublishState>;
  /** Replaces the publish state (at the end of a publish). */
  setPublishState(state: PublishState): Promise<void>;
}

/** Bookkeeping between publishes, so a publish never has to list the whole pool. */
export interface PublishState {
  /** Storage keys (pool files, by-hash copies) the last publish referenced. */
  referenced: string[];
  /** Keys no longer referenced, with when they were first found so (ms since the epoch). */
  unreferenced: Record<string, number>;
  /** stanzaFormat() of the lxl that wrote the Packages files of the last publish (absent before it was recorded). */
  stanzaFormat?: string;
}

interface CatalogFile {
  format: 1;
  suites: Record<string, AptRecord[]>;
  publish: PublishState;
}

/** Identity of a package file across the whole repository. */
function identity(r: { name: string; version: string; arch: string }): string {
  return `${r.name} ${r.version} ${r.arch}`;
}

/** Same bytes: the strongest digest and the size agree. */
function sameFile(a: AptRecord, b: AptRecord): boolean {
  return a.sha256 === b.sha256 && a.sha512 === b.sha512 && a.size === b.size;
}

/** Throws ConflictError when `rec` differs from a package already known under the same name, version and arch. */
export function checkImmutable(existing: AptRecord | undefined, rec: AptRecord): void {
  if (existing && !sameFile(existing, rec)) {
    throw new ConflictError(
      `cannot add ${rec.name} ${rec.version} (${rec.arch}): a different file with the same name, version and architecture is already in the repository ` +
        `(sha256 ${existing.sha256}, new ${rec.sha256}); published packages are immutable, so give the new build a new version`,
    );
  }
}

export interface JsonAptCatalogOptions {
  /** The repo's state folder (`<repo>/state`); the catalogue is `apt/catalog.json` in it. */
  stateDir: string;
}

/** An AptCatalog in one JSON file, written atomically (temp file, fsync, rename). */
export class JsonAptCatalog implements AptCatalog {
  readonly file: string;
  private cache: CatalogFile | undefined;
  /** Inside inOneWrite: writes are held in memory; `held` is the state to write at its end. */
  private holding = false;
  private held: CatalogFile | undefined;

  constructor(opts: JsonAptCatalogOptions) {
    this.file = path.join(opts.stateDir, 'apt', 'catalog.json');
  }

  private async load(): Promise<CatalogFile> {
    if (this.cache) return this.cache;
    try {
      const data = JSON.parse(await readFile(this.file, 'utf8')) as CatalogFile;
      if (data.format !== 1) throw new Error(`unknown catalogue format ${String(data.format)}`);
      this.cache = data;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StorageError(`cannot read the APT catalogue ${this.file}: ${(err as Error).message}`, { cause: err });
      }
      this.cache = { format: 1, suites: {}, publish: { referenced: [], unreferenced: {} } };
    }
    return this.cache;
  }

  /**
   * Runs `fn` with the catalogue's writes held in memory and makes them one durable write at the end (also when `fn`
   * fails: the state is then what its completed calls left, as without this). `lxl apt add --key` adds, prunes and
   * publishes with one write of the whole catalogue instead of one per step. A crash before the end loses the held
   * changes: pool files stored meanwhile stay unlisted (adding the same .deb again is a no-op), and the publish is
   * redone from the older catalogue by the next one.
   */
  async inOneWrite<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holding) throw new Error('internal: JsonAptCatalog.inOneWrite does not nest');
    this.holding = true;
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      await this.release().catch(() => {});
      throw err;
    }
    await this.release();
    return result;
  }

  /** Ends inOneWrite: writes what it held. */
  private async release(): Promise<void> {
    this.holding = false;
    const held = this.held;
    this.held = undefined;
    if (held) await this.save(held);
  }

  private async save(data: CatalogFile): Promise<void> {
    if (this.holding) {
      this.cache = this.held = data;
      return;
    }
    await mkdir(path.dirname(this.file), { recursive: true });
    try {
      await writeFileDurable(this.file, JSON.stringify(data));
    } catch (err) {
      throw new StorageError(`cannot write the APT catalogue ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    this.cache = data;
  }

  async suites(): Promise<string[]> {
    return Object.keys((await this.load()).suites).sort();
  }

  async list(suite: string): Promise<AptRecord[]> {
    return [...((await this.load()).suites[suite] ?? [])];
  }

  async add(suite: string, records: AptRecord[]): Promise<AddOutcome[]> {
    const data = await this.load();
    const known = new Map<string, AptRecord>();
    for (const recs of Object.values(data.suites)) for (const r of recs) known.set(identity(r), r);
    const inSuite = new Set((data.suites[suite] ?? []).map(identity));
    const added: AptRecord[] = [];
    const outcomes = records.map((rec): AddOutcome => {
      checkImmutable(known.get(identity(rec)), rec);
      if (inSuite.has(identity(rec))) return 'unchanged';
      known.set(identity(rec), rec);
      inSuite.add(identity(rec));
      added.push(rec);
      return 'added';
    });
    if (added.length > 0 || !data.suites[suite]) {
      await this.save({ ...data, suites: { ...data.suites, [suite]: [...(data.suites[suite] ?? []), ...added] } });
    }
    return outcomes;
  }

  async remove(suite: string, matches: RemoveMatch[]): Promise<AptRecord[]> {
    const data = await this.load();
    const hit = (r: AptRecord): boolean =>
      matches.some((m) => m.name === r.name && (m.version === undefined || m.version === r.version) && (m.arch === undefined || m.arch === r.arch));
    const recs = data.suites[suite] ?? [];
    const removed = recs.filter(hit);
    if (removed.length > 0) await this.save({ ...data, suites: { ...data.suites, [suite]: recs.filter((r) => !hit(r)) } });
    return removed;
  }

  async publishState(): Promise<PublishState> {
    const p = (await this.load()).publish;
    return { referenced: [...p.referenced], unreferenced: { ...p.unreferenced }, ...(p.stanzaFormat ? { stanzaFormat: p.stanzaFormat } : {}) };
  }

  async setPublishState(state: PublishState): Promise<void> {
    const data = await this.load();
    const format = state.stanzaFormat ? { stanzaFormat: state.stanzaFormat } : {};
    await this.save({ ...data, publish: { referenced: [...state.referenced], unreferenced: { ...state.unreferenced }, ...format } });
  }
}

/** An exclusive lock on a repo's APT state (one `lxl apt` writer at a time); a dead holder's lock is taken over; a live one's is waited for up to `waitMs`. */
export function lockRepoState(stateDir: string, opts: { staleMs?: number; waitMs?: number } = {}): Promise<() => Promise<void>> {
  return acquireStateLock(path.join(stateDir, 'apt', 'lock'), { what: `the APT repo state ${stateDir}`, staleMs: opts.staleMs, waitMs: opts.waitMs });
}

/** Writes a small state file atomically and durably (used for repo settings). */
export async function writeStateFile(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileDurable(file, text);
}
