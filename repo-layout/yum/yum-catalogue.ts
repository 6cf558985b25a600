// The YUM catalogue: what a repo holds (package records, settings, files
// waiting for deletion) behind a small interface. JsonYumCatalogue keeps it in
// `<repo>/state/yum/<name>/`: catalogue.json lists each package by the few
// fields a publish needs when it copies the package's elements (YumEntry), and
// an append-only records file holds the whole records, read only to encode
// elements. Adding one rpm to 2,000 appends one line and rewrites a ~0.6 MB
// list, instead of parsing and rewriting 2.5 MB of records. The server uses the
// same catalogue.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurable } from '../../storage/durable-file.js';
import { acquireStateLock } from '../../storage/state-lock.js';
import { StorageError } from '../errors.js';
import { entryOf, isWholeRecord, type YumEntry, type YumPackage } from './yum-package.js';
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
  /** Whole records (just added) or catalogue entries; YumCatalogue.records gives the whole ones. */
  packages: YumEntry[];
  pending: PendingDelete[];
  /** How many packages were ever added (each record's `serial` is its number; 0 for a catalogue older than it). */
  serial?: number;
  /** The metadata documents the last publish wrote (its package elements serve the next publish). */
  repodata?: RepodataRecord;
  /** The file (in the catalogue's folder) that the packages' `at` point into. */
  records?: string;
}

/** Storage of one YUM repo's catalogue. Callers hold the lock around read-modify-write. */
export interface YumCatalogue {
  /** Reads the whole state (an empty repo when there is none yet). */
  read(): Promise<YumState>;
  /** Replaces the whole state atomically. The catalogue may keep `state` (the caller must not change it afterwards). */
  write(state: YumState): Promise<void>;
  /** The whole records of `entries` of the state last read or written, in their order (whole ones as they are). */
  records(entries: readonly YumEntry[]): Promise<YumPackage[]>;
  /** Takes the repo's exclusive lock; rejects with LockedError when someone else holds it. Returns the release function. */
  lock(): Promise<() => Promise<void>>;
}

export interface JsonYumCatalogueOptions {
  /** Directory for catalogue.json and the lock, e.g. `<repo>/state/yum/<name>`. */
  dir: string;
  /** A lock older than this is considered abandoned (default 1 hour). */
  staleLockMs?: number;
  /** How long lock() waits while another live process holds the lock (default 0: LockedError at once). */
  lockWaitMs?: number;
  /** Dead bytes a records file may hold beyond its live ones before a write moves these to a new file (default 256 KiB). */
  compactMinDead?: number;
}

const RECORDS_FILE = /^records\.[0-9a-f]+\.jsonl$/;

/**
 * A YumCatalogue in two files. catalogue.json (temp + rename) holds the state with each package as its YumEntry; the
 * records file it names holds each whole record as a JSON line at the entry's `at`. A write appends the new records
 * (fsynced) before it renames the new catalogue.json into place, so a crash leaves the old list with at most an
 * unreferenced tail; once dead lines (removed packages, torn tails) outweigh live ones, the live ones move to a new
 * records file, and the old one is deleted after the rename. Records never change in place: a reader without the lock
 * (`lxl yum list`) needs only catalogue.json.
 *
 * The state it last wrote is handed to the next read (once) when catalogue.json is still the one it wrote (same
 * inode, size and mtime; every write renames a new inode into place): `lxl yum add --key` adds, then publishes,
 * without parsing the catalogue a second time.
 */
export class JsonYumCatalogue implements YumCatalogue {
  /** `<dir>/catalogue.json`. */
  readonly file: string;
  private readonly lockFile: string;
  private readonly staleLockMs: number;
  private written: { state: YumState; ino: number; size: number; mtimeMs: number } | undefined;
  /** The records file of the state last read or written. */
  private recordsFile: string | undefined;

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
      if (st && st.ino === last.ino && st.size === last.size && st.mtimeMs === last.mtimeMs) {
        this.recordsFile = last.state.records;
        return last.state;
      }
    }
    this.recordsFile = undefined;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { settings: { ...DEFAULT_SETTINGS }, packages: [], pending: [] };
      throw new StorageError(`cannot read yum catalogue ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const s = JSON.parse(text) as YumState;
      if (s.records !== undefined && !RECORDS_FILE.test(s.records)) throw new Error(`records file name ${JSON.stringify(s.records)} is not records.<hex>.jsonl`);
      this.recordsFile = s.records;
      return { ...s, settings: { ...DEFAULT_SETTINGS, ...s.settings }, packages: s.packages ?? [], pending: s.pending ?? [] };
    } catch (err) {
      throw new StorageError(`cannot read yum catalogue ${this.file}: ${err instanceof SyntaxError ? `not valid JSON (${err.message})` : (err as Error).message}`, { cause: err });
    }
  }

  async write(state: YumState): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    this.written = undefined;
    try {
      const { records, entries, replaced } = await this.storeRecords(state);
      const saved: YumState = { ...state, packages: entries, records };
      await writeFileDurable(this.file, JSON.stringify(saved));
      const st = await stat(this.file);
      this.written = { state: saved, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
      this.recordsFile = records;
      // Records files no catalogue.json names any more: the one just replaced, or one a crash left behind.
      if (replaced) for (const name of await readdir(this.opts.dir)) if (RECORDS_FILE.test(name) && name !== records) await rm(path.join(this.opts.dir, name), { force: true });
    } catch (err) {
      throw new StorageError(`cannot write yum catalogue ${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  async records(entries: readonly YumEntry[]): Promise<YumPackage[]> {
    const out: Array<YumPackage | undefined> = entries.map((e) => (isWholeRecord(e) ? e : undefined));
    const missing = entries.flatMap((e, i) => (out[i] ? [] : [i]));
    if (missing.length === 0) return out as YumPackage[];
    const file = path.join(this.opts.dir, this.recordsFile ?? 'records');
    const lines = await readLines(file, missing.map((i) => entries[i]));
    missing.forEach((i, k) => (out[i] = wholeRecord(file, entries[i], lines[k])));
    return out as YumPackage[];
  }

  lock(): Promise<() => Promise<void>> {
    return acquireStateLock(this.lockFile, { what: `yum repo ${this.opts.dir}`, staleMs: this.staleLockMs, waitMs: this.opts.lockWaitMs });
  }

  /**
   * Makes every package of `state` a record in a records file (appending the new ones, or moving the live ones to a
   * new file when dead lines outweigh them); returns the file, the entries pointing into it, and whether it is new.
   */
  private async storeRecords(state: YumState): Promise<{ records: string; entries: YumEntry[]; replaced: boolean }> {
    const fresh = state.packages.filter((p) => !p.at || !state.records);
    for (const p of fresh) if (!isWholeRecord(p)) throw new Error(`${p.href} has no whole record and no place in a records file`);
    const oldFile = state.records ? path.join(this.opts.dir, state.records) : undefined;
    const live = state.packages.reduce((n, p) => n + (p.at && state.records ? p.at[1] : 0), 0);
    // A records file that entries point into must be there; one that none does may be gone (a new one is made).
    const size = oldFile ? (await stat(oldFile).catch((err: unknown) => (live > 0 ? Promise.reject(err) : undefined)))?.size : undefined;
    const compact = size === undefined || size - live > Math.max(live, this.opts.compactMinDead ?? 256 << 10);
    if (oldFile && !compact) {
      if (fresh.length === 0) return { records: state.records!, entries: state.packages.map(entryOf), replaced: false };
      const placed = await appendRecords(oldFile, fresh as YumPackage[]);
      return { records: state.records!, entries: state.packages.map((p) => entryOf(placed.has(p) ? { ...p, at: placed.get(p)! } : p)), replaced: false };
    }
    // A new records file: every record (the kept ones copied from the old file), then the rename of catalogue.json.
    const isFresh = new Set(fresh);
    const kept = state.packages.filter((p) => !isFresh.has(p));
    const keptLines = new Map(oldFile ? (await readLines(oldFile, kept)).map((line, i) => [kept[i], line]) : []);
    // Checked as a publish would read them: a damaged record is an error now, not moved along.
    for (const [p, line] of keptLines) wholeRecord(oldFile!, p, line);
    const name = `records.${randomBytes(6).toString('hex')}.jsonl`;
    const parts: Array<string | Buffer> = [];
    const at = new Map<YumEntry, [number, number]>();
    let offset = 0;
    for (const p of state.packages) {
      const line = keptLines.get(p) ?? recordLine(p as YumPackage);
      const size = typeof line === 'string' ? Buffer.byteLength(line) : line.length;
      at.set(p, [offset, size]);
      parts.push(line);
      offset += size;
    }
    await writeFileDurable(path.join(this.opts.dir, name), joinLines(parts));
    return { records: name, entries: state.packages.map((p) => entryOf({ ...p, at: at.get(p)! })), replaced: true };
  }
}

/** A record's line in a records file: the whole record without the fields catalogue.json keeps for it (serial, at). */
function recordLine(p: YumPackage): string {
  const { serial: _serial, at: _at, ...rest } = p as YumPackage & YumEntry;
  return `${JSON.stringify(rest)}\n`;
}

/**
 * The bytes of a records file from its lines: new ones as text, kept ones as read. A batch of new lines is one text
 * (one allocation, not a Buffer per record); a compaction, which keeps lines as read, concatenates.
 */
function joinLines(parts: ReadonlyArray<string | Buffer>): string | Buffer {
  if (parts.every((x) => typeof x === 'string')) return parts.join('');
  return Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)));
}

/** Appends the records to `file` after whatever it holds (a torn tail stays dead), fsynced; returns where each went. */
async function appendRecords(file: string, pkgs: YumPackage[]): Promise<Map<YumEntry, [number, number]>> {
  const fh = await open(file, 'a');
  try {
    let offset = (await fh.stat()).size;
    const at = new Map<YumEntry, [number, number]>();
    const lines = pkgs.map(recordLine);
    pkgs.forEach((p, i) => {
      const size = Buffer.byteLength(lines[i]);
      at.set(p, [offset, size]);
      offset += size;
    });
    await fh.writeFile(lines.join(''));
    await fh.sync();
    return at;
  } finally {
    await fh.close();
  }
}

/** The lines of `entries` in `file`. */
async function readLines(file: string, entries: readonly YumEntry[]): Promise<Buffer[]> {
  if (entries.length === 0) return [];
  const fail = (why: string, cause?: unknown): never => {
    throw new StorageError(`cannot read yum package records ${file}: ${why}`, { cause });
  };
  for (const e of entries) if (!e.at) fail(`catalogue.json gives no place for ${e.href}`);
  // One read: records are needed for all packages (an encoder change, served documents gone) or for none.
  const all = await readFile(file).catch((err: unknown) => fail((err as Error).message, err));
  return entries.map((e) => all.subarray(e.at![0], e.at![0] + e.at![1]));
}

/** The whole record of `entry` from its line, checked against the entry (a wrong place or a damaged file is an error). */
function wholeRecord(file: string, entry: YumEntry, line: Buffer): YumPackage {
  let rec: YumPackage;
  try {
    rec = JSON.parse(line.toString('utf8')) as YumPackage;
  } catch (err) {
    throw new StorageError(`cannot read yum package records ${file}: the record of ${entry.href} at byte ${entry.at![0]} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (rec?.sha256 !== entry.sha256 || rec.href !== entry.href) throw new StorageError(`cannot read yum package records ${file}: the record at byte ${entry.at![0]} is not ${entry.href}'s`);
  const { at: _at, ...fields } = entryOf(entry);
  return { ...rec, ...fields };
}

JsonYumCatalogue satisfies new (opts: JsonYumCatalogueOptions) => YumCatalogue;
