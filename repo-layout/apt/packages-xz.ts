// Packages.xz recompressed only where the Packages text changed. The text is
// cut into blocks at stanza boundaries chosen by content (a stanza whose
// `Package:` line hashes to 0 mod `divisor` starts a block, once the block
// holds `minBlock` bytes), so adding or removing a package changes one block
// and leaves the others' bytes alone. Each block is an independent .xz block
// (xz-container.ts); blocks already compressed by an earlier publish come from
// a cache keyed by the block's text and the xz options, the rest are
// compressed by one `xz` run. A block compressed alone has the same bytes as
// the same text compressed inside any stream, so an incremental publish and a
// full rebuild write the same file. A suite smaller than `minBlock` is one
// block: the same bytes as `xz -6` with a block-sized dictionary
// (packagesXzFilter). A cached block is used only if its bytes are intact (a
// digest kept beside them) and its stored CRC64 is that of the text it stands
// for, so a damaged cache costs time, never a wrong index.

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { compressBuffer } from '../compress.js';
import { ToolError } from '../errors.js';
import { blockCheck, crc64, parseXzStream, xzStreamFromBlocks, type XzBlock } from '../xz-container.js';

/** Compressed blocks by key, kept between publishes. */
export interface XzBlockCache {
  /** The block stored under `key`, or undefined. */
  get(key: string): Promise<XzBlock | undefined>;
  /** Stores a block under `key` (a later get may still miss: the cache is an optimisation only). */
  put(key: string, block: XzBlock): Promise<void>;
  /** Drops every block whose key is not in `keys`. */
  retain(keys: ReadonlySet<string>): Promise<void>;
}

export interface PackagesXzOptions {
  /** xz preset (default 6). */
  level?: number;
  cache?: XzBlockCache;
  /** A block is closed at a content boundary once it holds this many bytes (default 64 KiB). */
  minBlock?: number;
  /** …and always before it would exceed this (default 256 KiB). */
  maxBlock?: number;
  /** One stanza in `divisor` is a content boundary (default 64). */
  divisor?: number;
}

export interface PackagesXz {
  bytes: Buffer;
  /** Cache keys of its blocks (for XzBlockCache.retain). */
  keys: string[];
  /** How many blocks came from the cache. */
  reused: number;
}

const DEFAULT_MAX_BLOCK = 256 * 1024;
/** LZMA2 dictionary size of each xz preset 0-9 (xz(1), "Presets"). */
const PRESET_DICT = [256, 1024, 2048, 4096, 4096, 8192, 8192, 16384, 32768, 65536].map((k) => k * 1024);

/**
 * The LZMA2 options (`xz --lzma2=`) of Packages.xz: the preset, with a dictionary no bigger than a block. No match
 * reaches outside its block, so the data is what the preset's dictionary would give, but xz need not set up 8 MiB
 * per thread (-6) to compress it, and a client needs only the block's size of memory to decompress it.
 */
export function packagesXzFilter(level: number, maxBlock: number): string {
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new ToolError(`cannot compress Packages.xz: xz preset ${level} is not 0-9`);
  return `preset=${level},dict=${Math.max(4096, Math.min(maxBlock, PRESET_DICT[level]))}`;
}

/** Cuts the Packages text (stanzas joined by blank lines) into block texts at content-chosen stanza boundaries; their concatenation is the text. */
export function packagesBlocks(stanzas: readonly string[], opts: PackagesXzOptions = {}): string[] {
  const min = opts.minBlock ?? 64 * 1024;
  const max = opts.maxBlock ?? DEFAULT_MAX_BLOCK;
  const divisor = opts.divisor ?? 64;
  const blocks: string[] = [];
  let cur: string[] = [];
  let size = 0;
  stanzas.forEach((s, i) => {
    const boundary = size >= min && (firstLineHash(s) % divisor === 0 || size + s.length + 1 > max);
    if (boundary && cur.length > 0) {
      blocks.push(`${cur.join('\n')}\n`);
      cur = [];
      size = 0;
    }
    cur.push(s);
    size += s.length + (i < stanzas.length - 1 ? 1 : 0);
  });
  if (cur.length > 0) blocks.push(cur.join('\n'));
  return blocks;
}

/** FNV-1a (32 bit) of a stanza's first line (`Package: <name>`): where blocks may start. */
function firstLineHash(stanza: string): number {
  let h = 0x811c9dc5;
  const end = stanza.indexOf('\n');
  for (let i = 0; i < (end < 0 ? stanza.length : end); i++) h = Math.imul(h ^ stanza.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Packages.xz for these stanzas: cached blocks where the text is unchanged, one xz run for the rest. */
export async function packagesXz(stanzas: readonly string[], opts: PackagesXzOptions = {}): Promise<PackagesXz> {
  return (await packagesXzMany([packagesBlockBytes([stanzas], opts)], opts))[0];
}

/**
 * The xz block texts of a Packages text made of runs of stanzas (their concatenation is the text): packagesBlocks of
 * each run, so no block spans two runs, and a run that ends two texts gives both the same blocks. With `lastRuns`,
 * the blocks of a final run are kept there by run (array identity) and shared by every text that ends with it.
 */
export function packagesBlockBytes(runs: ReadonlyArray<readonly string[]>, opts: PackagesXzOptions & { lastRuns?: Map<readonly string[], Buffer[]> } = {}): Buffer[] {
  const nonEmpty = runs.filter((r) => r.length > 0);
  return nonEmpty.flatMap((run, i) => {
    const last = i === nonEmpty.length - 1;
    const known = last ? opts.lastRuns?.get(run) : undefined;
    if (known) return known;
    const texts = packagesBlocks(run, opts);
    // The blank line between two runs ends the earlier run's last block.
    if (!last) texts[texts.length - 1] += '\n';
    const bytes = texts.map((t) => Buffer.from(t));
    if (last) opts.lastRuns?.set(run, bytes);
    return bytes;
  });
}

/**
 * Packages.xz for several Packages texts, each given as its block texts (packagesBlockBytes), such as one suite's
 * architectures: cached blocks where a text is unchanged, and one xz run for every block missing from the cache (a
 * block that several texts share is compressed once), started before the cached blocks are checked, so that the
 * checks run while xz does; a cached block that fails its check takes a second run.
 */
export async function packagesXzMany(sets: ReadonlyArray<readonly Buffer[]>, opts: PackagesXzOptions = {}): Promise<PackagesXz[]> {
  const filter = packagesXzFilter(opts.level ?? 6, opts.maxBlock ?? DEFAULT_MAX_BLOCK);
  // A block text that several sets share as the same Buffer (packagesBlockBytes' lastRuns) is hashed once.
  const keyOf = new Map<Buffer, string>();
  const keyFor = (t: Buffer): string => {
    let k = keyOf.get(t);
    if (k === undefined) keyOf.set(t, (k = createHash('sha256').update(`xz --lzma2=${filter} block\n`).update(t).digest('hex')));
    return k;
  };
  const keys = sets.map((texts) => texts.map(keyFor));
  const textOf = new Map<string, Buffer>();
  sets.forEach((texts, s) => texts.forEach((t, i) => textOf.set(keys[s][i], t)));
  const unique = [...textOf.keys()];
  const cache = opts.cache;
  const cached = cache ? await Promise.all(unique.map((k) => cache.get(k).catch(() => undefined))) : [];
  const blocks = new Map<string, XzBlock>();
  // Blocks the cache lacks go to xz at once; the cached ones are checked (a CRC64 of each text) while it runs, and any
  // that fails its check is compressed by a second run.
  const sized = unique.map((k, i) => cached[i]?.uncompressedSize === textOf.get(k)!.length);
  const absent = unique.filter((_, i) => !sized[i]);
  const firstRun = compressBlocks(absent.map((k) => textOf.get(k)!), filter);
  const failed = unique.filter((k, i) => {
    const b = cached[i];
    if (!sized[i]) return false;
    if (!validFor(b, textOf.get(k)!, k)) return true;
    blocks.set(k, b);
    return false;
  });
  const secondRun = failed.length > 0 ? compressBlocks(failed.map((k) => textOf.get(k)!), filter) : Promise.resolve([]);
  const [first, second] = await Promise.all([firstRun, secondRun]);
  const missing = [...absent, ...failed];
  const fresh = [...first, ...second];
  missing.forEach((k, j) => {
    checked.set(fresh[j], k);
    blocks.set(k, fresh[j]);
  });
  // The cache only saves time: an entry that cannot be read or written is a miss, never a failed publish.
  if (cache) await Promise.all(missing.map((k, j) => cache.put(k, fresh[j]).catch(() => {})));
  const compressed = new Set(missing);
  return keys.map((ks) => ({ bytes: xzStreamFromBlocks(ks.map((k) => blocks.get(k)!)), keys: ks, reused: ks.filter((k) => !compressed.has(k)).length }));
}

/**
 * Blocks known to hold the text of the key they are cached under: compressed by this process, or checked once. A
 * cache that hands back the same object for a key (FsXzBlockCache keeps what it read or wrote) is not checked again.
 */
const checked = new WeakMap<XzBlock, string>();

/** A cached block serves a text only if it decompresses to that many bytes with that CRC64 (its stored check). */
function validFor(b: XzBlock | undefined, text: Buffer, key: string): b is XzBlock {
  if (b === undefined || b.uncompressedSize !== text.length) return false;
  if (checked.get(b) === key) return true;
  const ok = b.bytes.length % 4 === 0 && b.bytes.length >= 12 && blockCheck(b).equals(crc64(text));
  if (ok) checked.set(b, key);
  return ok;
}

/** Compresses each text as its own block, all in one xz run (its threads share the blocks). */
async function compressBlocks(texts: Buffer[], filter: string): Promise<XzBlock[]> {
  if (texts.length === 0) return [];
  const stream = await compressBuffer('xz', Buffer.concat(texts), { xzFilter: filter, blockList: texts.map((t) => t.length) });
  const { blocks, check } = parseXzStream(stream);
  if (check !== 0x04 || blocks.length !== texts.length || blocks.some((b, i) => b.uncompressedSize !== texts[i].length)) {
    throw new ToolError(`cannot compress Packages.xz: xz did not cut the blocks as asked (${blocks.map((b) => b.uncompressedSize).join(',')})`);
  }
  // Own copies: the stream buffer is dropped, the blocks live on in the cache.
  return blocks.map((b) => ({ ...b, bytes: Buffer.from(b.bytes) }));
}

// A cache entry: magic, unpadded size (u32), uncompressed size (u64), 4 spare bytes, sha256 of the block bytes, the bytes.
const ENTRY_MAGIC = Buffer.from('LXB1', 'latin1');
const ENTRY_HEAD = 52;

/**
 * An XzBlockCache in a local folder (`<repo>/state/apt/xz-blocks/`): one file per block. The blocks this instance
 * read or wrote are also kept in memory, so a publish right after an add that compressed them (addDebs' `xz`) does
 * not read and check them again.
 */
export class FsXzBlockCache implements XzBlockCache {
  private readonly seen = new Map<string, XzBlock>();

  constructor(private readonly dir: string) {}

  async get(key: string): Promise<XzBlock | undefined> {
    const known = this.seen.get(key);
    if (known) return known;
    const block = await this.read(key);
    if (block) this.seen.set(key, block);
    return block;
  }

  private async read(key: string): Promise<XzBlock | undefined> {
    // A few small files from the page cache: synchronous reads cost less than a thread-pool round trip each.
    let buf: Buffer;
    try {
      buf = readFileSync(path.join(this.dir, key));
    } catch {
      return undefined;
    }
    if (buf.length < ENTRY_HEAD || !buf.subarray(0, 4).equals(ENTRY_MAGIC)) return undefined;
    const bytes = buf.subarray(ENTRY_HEAD);
    // Damage at rest (a flipped bit in the compressed data) shows here; a block of other text fails validFor's CRC64.
    if (!createHash('sha256').update(bytes).digest().equals(buf.subarray(20, 52))) return undefined;
    return { unpaddedSize: buf.readUInt32LE(4), uncompressedSize: Number(buf.readBigUInt64LE(8)), bytes };
  }

  async put(key: string, block: XzBlock): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const head = Buffer.alloc(ENTRY_HEAD);
    ENTRY_MAGIC.copy(head, 0);
    head.writeUInt32LE(block.unpaddedSize, 4);
    head.writeBigUInt64LE(BigInt(block.uncompressedSize), 8);
    createHash('sha256').update(block.bytes).digest().copy(head, 20);
    // Temp + rename: a reader never sees half an entry.
    const tmp = path.join(this.dir, `.${key}.${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(tmp, Buffer.concat([head, block.bytes]));
    await rename(tmp, path.join(this.dir, key));
    this.seen.set(key, block);
  }

  async retain(keys: ReadonlySet<string>): Promise<void> {
    for (const k of this.seen.keys()) if (!keys.has(k)) this.seen.delete(k);
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => !keys.has(n)).map((n) => rm(path.join(this.dir, n), { force: true })));
  }
}

FsXzBlockCache satisfies new (dir: string) => XzBlockCache;
