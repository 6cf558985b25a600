// Incremental repodata, as `createrepo_c --update` does it: a publish copies
// the <package> elements of unchanged packages from the documents the repo
// serves, and encodes only the others. The catalogue remembers what the last
// publish wrote (RepodataRecord: the documents' names and checksums, the
// encoder version, and the catalogue's add count then); the served documents
// are used only when they are those, with those checksums, and an element
// only for a package that was in the catalogue at that publish (its record's
// add serial is not above the recorded count: records never change, and a
// package removed and added again gets a new serial). Anything missing,
// damaged or from another encoder version only costs the time of encoding
// afresh: the documents are the same bytes either way.

import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { hashBytes } from '../digests.js';
import type { PublishedStorage } from '../../storage/storage.js';
import type { YumEntry } from './yum-package.js';
import { REPODATA_TYPES, type ChecksumType, type ElementBytes, type RepodataType } from './yum-xml.js';

/**
 * The version of the elements yum-xml.ts encodes from a catalogue record. Bump it with any change to what they hold:
 * the next publish then encodes every package afresh. (The golden file test/golden/yum/elements-v<version>.xml holds
 * a rich record's elements: a change that shows there fails test/unit/yum-repodata-reuse.test.ts until you do.)
 */
export const REPODATA_ENCODER = 1;

/** The documents a publish wrote, kept in the catalogue for the next publish (YumState.repodata). */
export interface RepodataRecord {
  encoder: number;
  checksumType: ChecksumType;
  /** The catalogue's add serial at that publish (YumState.serial): every package it published has one no higher. */
  serial: number;
  /** Each document's `repodata/<checksum>-<type>.xml.gz` and that checksum (of the compressed bytes). */
  files: Array<{ type: RepodataType; href: string; checksum: string }>;
}

/** The package elements of earlier documents, by pkgid. */
export class RepodataElements {
  constructor(
    private readonly docs: ReadonlyMap<RepodataType, { bytes: Buffer; at: Map<string, [number, number]> }>,
    private readonly record: RepodataRecord,
  ) {}

  /** The element of `p` in the earlier `doc`, when `p` is a record that publish encoded; undefined otherwise. */
  get(doc: RepodataType, p: YumEntry): ElementBytes | undefined {
    if ((p.serial ?? 0) > this.record.serial) return undefined;
    const d = this.docs.get(doc);
    const range = d?.at.get(this.record.checksumType === 'sha1' ? p.sha1 : p.sha256);
    return range && { bytes: d!.bytes, start: range[0], end: range[1] };
  }
}

const END = Buffer.from('</package>\n');

/**
 * Where each <package> element of a document this encoder wrote starts and ends, by pkgid. Element text is escaped,
 * so `</package>` only ends one, and a start tag only begins one; a pkgid seen twice is dropped (never reused).
 */
export function indexElements(doc: RepodataType, bytes: Buffer): Map<string, [number, number]> {
  const at = new Map<string, [number, number]>();
  const dup = new Set<string>();
  const [start, open, close] = doc === 'primary' ? ['<package type="rpm">\n', 'pkgid="YES">', '<'] : ['<package pkgid="', '<package pkgid="', '"'];
  for (let pos = bytes.indexOf(start); pos >= 0; pos = bytes.indexOf(start, pos)) {
    const endAt = bytes.indexOf(END, pos);
    if (endAt < 0) break;
    const end = endAt + END.length;
    const a = bytes.indexOf(open, pos) + open.length;
    const b = bytes.indexOf(close, a);
    if (a >= open.length && a < end && b > a && b < end) {
      const id = bytes.toString('latin1', a, b);
      if (at.has(id)) dup.add(id);
      at.set(id, [pos, end]);
    }
    pos = end;
  }
  for (const id of dup) at.delete(id);
  return at;
}

const gunzipAsync = promisify(gunzip);

/** The metadata documents a repo serves, decompressed, with the checksum of each compressed file as computed here. */
export interface ServedRepodata {
  files: Array<{ type: RepodataType; href: string; checksum: string; bytes: Buffer }>;
}

/**
 * Reads the documents the repo at `prefix` (`yum/<name>`) serves, as its repomd.xml names them; undefined when one
 * cannot be read. A publish starts this before it parses the catalogue, so the reads and the decompression overlap the
 * parse.
 */
export async function readServedRepodata(storage: PublishedStorage, prefix: string): Promise<ServedRepodata | undefined> {
  try {
    const repomd = (await storage.getBytes(`${prefix}/repodata/repomd.xml`)).toString('utf8');
    const type = /<checksum type="(sha1|sha256)">/.exec(repomd)?.[1] as ChecksumType | undefined;
    const hrefs = REPODATA_TYPES.map((t) => new RegExp(`<data type="${t}">[\\s\\S]*?<location href="(repodata/[^"/]+)"`).exec(repomd)?.[1]);
    if (!type || hrefs.some((h) => h === undefined)) return undefined;
    const files = await Promise.all(
      REPODATA_TYPES.map(async (t, i) => {
        const gz = await storage.getBytes(`${prefix}/${hrefs[i]}`);
        return { type: t, href: hrefs[i]!, checksum: hashBytes(gz, [type])[type], bytes: await gunzipAsync(gz) };
      }),
    );
    return { files };
  } catch {
    // Only time is at stake: documents that cannot be read are encoded afresh.
    return undefined;
  }
}

/**
 * The elements of the `served` documents, when the catalogue's `record` says this encoder wrote them (same names,
 * same checksums) with `checksumType`; undefined otherwise.
 */
export function repodataElements(served: ServedRepodata | undefined, record: RepodataRecord | undefined, checksumType: ChecksumType): RepodataElements | undefined {
  if (!served || !record || record.encoder !== REPODATA_ENCODER || record.checksumType !== checksumType) return undefined;
  const written = (f: ServedRepodata['files'][number]): boolean => record.files.some((r) => r.type === f.type && r.href === f.href && r.checksum === f.checksum);
  if (record.files.length !== served.files.length || !served.files.every(written)) return undefined;
  return new RepodataElements(new Map(served.files.map((f) => [f.type, { bytes: f.bytes, at: indexElements(f.type, f.bytes) }])), record);
}
