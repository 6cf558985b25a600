// The .deb writer (dpkg deb.pod): an ar archive of `debian-binary` ("2.0\n"),
// `control.tar.{gz,xz}` and `data.tar.{gz,xz}`, in that order. ar needs each
// member's size before its bytes, so data.tar is compressed to a temp file
// next to the output first (md5sums are computed on the way), then control.tar
// is built in memory and the three members are streamed into `out`.

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, WriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AR_MAGIC, arPadding, encodeArHeader } from '../ar.js';
import { formatParagraph } from '../deb822.js';
import type { FileEntry, PackageSpec } from '../model.js';
import { SCRIPT_NAMES } from '../model.js';
import type { Packager, PackOptions } from '../packager.js';
import { archiveCompressor, type ArchiveCompression } from '../tar-compress.js';
import { tarStream } from '../tar-entries.js';
import { debArch, debConffiles, debControl, debFileVersion, debMd5sums, installedSizeKiB } from './deb-control.js';
import { discardWriteStream } from '../../storage/durable-file.js';

/** Deb-specific options: where the temporary data.tar goes (default: beside an fs output file, else the OS temp dir). */
export interface DebPackOptions extends PackOptions {
  tmpDir?: string;
}

const SUFFIX: Record<ArchiveCompression, string> = { gzip: '.gz', xz: '.xz' };

/** The .deb Packager: `<name>_<version without epoch>_<debarch>.deb`. */
export const debPackager: Packager = {
  format: 'deb',
  fileName: (spec) => `${spec.name}_${debFileVersion(spec.version)}_${debArch(spec.arch)}.deb`,
  write: (spec, out, opts) => writeDeb(spec, out, opts),
};

/** Writes `spec` as a .deb into `out` (ended on success, destroyed on failure). */
export async function writeDeb(spec: PackageSpec, out: Writable, opts: DebPackOptions = {}): Promise<void> {
  const kind = opts.compression ?? 'gzip';
  const tmpDir = opts.tmpDir ?? (out instanceof WriteStream && typeof out.path === 'string' ? path.dirname(out.path) : os.tmpdir());
  const tmp = path.join(tmpDir, `.lxl-data-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  let dataOut: WriteStream | undefined;
  try {
    const md5s = new Map<string, string>();
    dataOut = createWriteStream(tmp, { flags: 'wx' });
    await pipeline(tarStream(spec.files, { mtime: spec.sourceDateEpoch, md5s, signal: opts.signal }), archiveCompressor(kind, opts.level), dataOut, { signal: opts.signal });
    const dataSize = (await stat(tmp)).size;
    const control = await controlTar(spec, md5s, kind, opts);
    const mtime = spec.sourceDateEpoch;
    const members = async function* (): AsyncGenerator<Buffer> {
      yield AR_MAGIC;
      yield encodeArHeader({ name: 'debian-binary', size: 4, mtime });
      yield Buffer.from('2.0\n');
      yield encodeArHeader({ name: `control.tar${SUFFIX[kind]}`, size: control.length, mtime });
      yield control;
      yield arPadding(control.length);
      yield encodeArHeader({ name: `data.tar${SUFFIX[kind]}`, size: dataSize, mtime });
      yield* createReadStream(tmp, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>;
      yield arPadding(dataSize);
    };
    await pipeline(Readable.from(members()), out, { signal: opts.signal });
  } catch (err) {
    if (!out.destroyed) out.destroy(); // the rejection carries the error; no unhandled 'error' event
    throw err;
  } finally {
    await discardWriteStream(dataOut);
    await rm(tmp, { force: true });
  }
}

/** Builds the compressed control.tar: ./control, ./md5sums, ./conffiles (if any) and the maintainer scripts (0755). */
async function controlTar(spec: PackageSpec, md5s: Map<string, string>, kind: ArchiveCompression, opts: PackOptions): Promise<Buffer> {
  const inline = (p: string, text: string, mode: number): FileEntry => {
    const content = Buffer.from(text, 'utf8');
    return { type: 'file', path: p, mode, size: content.length, content };
  };
  const entries: FileEntry[] = [
    inline('control', formatParagraph(debControl(spec, installedSizeKiB(spec))), 0o644),
    inline('md5sums', debMd5sums(spec, md5s), 0o644),
  ];
  const conffiles = debConffiles(spec);
  if (conffiles) entries.push(inline('conffiles', conffiles, 0o644));
  for (const name of SCRIPT_NAMES) {
    const text = spec.scripts[name];
    if (text !== undefined) entries.push(inline(name, text, 0o755));
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const tar = tarStream(entries, { mtime: spec.sourceDateEpoch, signal: opts.signal });
  const chunks: Buffer[] = [];
  await pipeline(tar, archiveCompressor(kind, opts.level), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) chunks.push(c);
  });
  return Buffer.concat(chunks);
}
