// Upload validation: read the uploaded file as the package it claims to be
// (deb control, rpm header, tarball listing) and check it against the repo's
// rules: a known arch, a name that fits the kernel line, no path escaping the
// extraction root, no truncation, no decompression bomb (a payload that
// unpacks to far more than its size). Everything refused is a FormatError
// naming the problem, which the API answers with 422 before anything is stored.

import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { decompressor, sniffCompression, unpackLimit } from '../repo-layout/compress.js';
import { FormatError, LxlError, UnpackLimitError } from '../repo-layout/errors.js';
import { inspectDeb } from '../repo-layout/deb/deb-reader.js';
import { readRpmFile } from '../repo-layout/rpm/rpm-reader.js';
import { checkRelativePath } from '../repo-layout/model.js';
import { ApiError } from './http-errors.js';
import { ARCHES, lineMismatch, TARBALL_NAME_RE } from './kernel-names.js';
import type { PackageKind } from './metadata-store.js';

/** What the server learned from an uploaded file. */
export interface InspectedPackage {
  kind: PackageKind;
  name: string;
  version: string;
  arch: string;
  meta: Record<string, unknown>;
}

/** File names the server accepts: a plain base name, no separators, no leading dot. */
const FILENAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,254}$/;

/** The package kind a file name says, or a FormatError for a name lxl does not publish. */
export function kindOf(filename: string): PackageKind {
  if (!FILENAME_RE.test(filename)) throw new FormatError(`cannot accept file name ${JSON.stringify(filename.slice(0, 100))}: use a plain base name of letters, digits and . _ + ~ -`);
  if (filename.endsWith('.deb')) return 'deb';
  if (filename.endsWith('.src.rpm')) throw new FormatError(`cannot accept ${filename}: source rpms are not published; upload the binary rpm`);
  if (filename.endsWith('.rpm')) return 'rpm';
  if (/\.tar(\.xz|\.gz)?$/.test(filename)) return 'tarball';
  throw new FormatError(`cannot accept ${filename}: only .deb, .rpm, .tar.xz and .tar.gz files are published`);
}

/** How far a payload (a .deb's data.tar, a tarball's tar) may unpack before it is refused as a decompression bomb (the server's `limits`). */
export interface InspectPackageOptions {
  /** This many times the file's size… */
  maxUnpackRatio: number;
  /** …or this many bytes if that is more. */
  unpackFloorBytes: number;
}

/** The most bytes the payload of a `packedBytes` upload may unpack to. */
export function unpackBudget(packedBytes: number, opts: InspectPackageOptions): number {
  return Math.max(opts.unpackFloorBytes, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(packedBytes * opts.maxUnpackRatio)));
}

/** Reads `file` as the package `filename` says it is; FormatError when it is not a valid one. */
export async function inspectPackage(file: string, filename: string, opts: InspectPackageOptions): Promise<InspectedPackage> {
  const kind = kindOf(filename);
  try {
    const budget = unpackBudget((await stat(file)).size, opts);
    if (kind === 'deb') return await inspectDebFile(file, budget);
    if (kind === 'rpm') return await inspectRpmFile(file);
    return await inspectTarball(file, filename, budget);
  } catch (err) {
    // Readers name the file they read: show the upload's name, not the server's temp path.
    const msg = ((err as Error)?.message ?? String(err)).split(file).join(filename);
    if (err instanceof UnpackLimitError) {
      throw new ApiError(422, 'E_FORMAT', msg, { hint: 'its payload unpacks to far more than its size; if the package is real, raise limits.maxUnpackRatio or limits.unpackFloorBytes on the server', cause: err });
    }
    if (err instanceof LxlError && err.code !== 'E_FORMAT') throw err;
    throw new FormatError(err instanceof LxlError ? msg : `cannot read ${filename} as a ${kind}: ${msg}`, { cause: err });
  }
}

/** Checks an inspected package against the arch table and the kernel line; a 422 ApiError naming the first problem. */
export function checkPackageRules(pkg: InspectedPackage, line: string): void {
  if (!ARCHES[pkg.kind].includes(pkg.arch)) {
    throw new ApiError(422, 'E_PACKAGE_REFUSED', `cannot accept ${pkg.name}: unknown arch ${JSON.stringify(pkg.arch)} for a ${pkg.kind} (lxl publishes ${ARCHES[pkg.kind].join(', ')})`, {
      hint: 'build the package for one of the listed arches',
    });
  }
  const bad = lineMismatch(pkg.kind, pkg.kind === 'tarball' ? String(pkg.meta.filename) : pkg.name, pkg.version, line);
  if (bad) throw new ApiError(422, 'E_PACKAGE_REFUSED', `cannot accept the upload: ${bad}`, { hint: 'upload it for its own kernel line, or fix the package name' });
}

async function inspectDebFile(file: string, maxDataBytes: number): Promise<InspectedPackage> {
  // inspectDeb reads data.tar through (so truncation shows) and refuses absolute or `..` paths in either tar.
  const info = await inspectDeb(file, { maxDataBytes });
  const get = (f: string): string => {
    const v = info.control.get(f);
    if (!v) throw new FormatError(`cannot accept the .deb: its control file has no ${f} field`);
    return v;
  };
  const controlText = info.controlText.endsWith('\n') ? info.controlText : `${info.controlText}\n`;
  return { kind: 'deb', name: get('Package'), version: get('Version'), arch: get('Architecture'), meta: { control: controlText, compression: info.compression } };
}

async function inspectRpmFile(file: string): Promise<InspectedPackage> {
  const info = await readRpmFile(file, { verify: true });
  const version = `${info.epoch ? `${info.epoch}:` : ''}${info.version}-${info.release}`;
  return {
    kind: 'rpm',
    name: info.name,
    version,
    arch: info.arch,
    meta: { epoch: info.epoch ?? 0, version: info.version, release: info.release, summary: info.summary, headerStart: info.headerStart, headerEnd: info.headerEnd, files: info.files.length },
  };
}

/** Entry types a kernel tarball may hold (tar-stream's names). */
const TAR_TYPES = new Set(['file', 'directory', 'symlink', 'link']);

/** Lists a tarball fully (which also proves it is not truncated) and refuses any entry that could escape the extraction root. */
async function inspectTarball(file: string, filename: string, maxTarBytes: number): Promise<InspectedPackage> {
  const m = TARBALL_NAME_RE.exec(filename);
  if (!m) throw new FormatError(`cannot accept ${filename}: tarballs are named linux-xen-legacy-<krel>-<x86_64|i386>.tar.xz or .tar.gz`);
  const head = Buffer.alloc(8);
  const fh = await open(file, 'r');
  try {
    await fh.read(head, 0, 8, 0);
  } finally {
    await fh.close();
  }
  const compression = sniffCompression(head) ?? 'none';
  if (compression === 'zstd') throw new FormatError(`cannot accept ${filename}: zstd tarballs are not published (use xz or gzip)`);
  const expected = m[3] === 'xz' ? 'xz' : m[3] === 'gz' ? 'gzip' : 'none';
  if (compression !== expected) throw new FormatError(`cannot accept ${filename}: its name says ${expected} but the bytes are ${compression}`);

  let entries = 0;
  const symlinks = new Set<string>();
  const ex = tar.extract();
  ex.on('entry', (h, stream, next) => {
    // Destroying the extractor also destroys this entry's stream with the error; it must not go unheard.
    stream.on('error', () => {});
    const fail = (why: string): void => {
      ex.destroy(new FormatError(`cannot accept ${filename}: entry ${JSON.stringify(h.name.slice(0, 200))} ${why}`));
    };
    entries++;
    const name = h.name.replace(/^\.\//, '').replace(/\/$/, '');
    if (name !== '' && name !== '.') {
      const bad = checkRelativePath(name);
      if (bad) return fail(`has an unsafe path: ${bad}`);
      const segs = name.split('/');
      for (let i = 1; i < segs.length; i++) if (symlinks.has(segs.slice(0, i).join('/'))) return fail('lies under a symlink (a path traversal trick)');
    }
    if (!TAR_TYPES.has(h.type ?? 'file')) return fail(`is a ${h.type}; kernel tarballs hold only files, directories and links`);
    if (h.type === 'link') {
      const bad = checkRelativePath((h.linkname ?? '').replace(/^\.\//, ''));
      if (bad) return fail(`is a hard link whose target ${bad}`);
    }
    if (h.type === 'symlink') symlinks.add(name);
    stream.on('end', next);
    stream.resume();
  });
  const bomb = () => `cannot accept ${filename}: its tar unpacks to more than ${maxTarBytes} bytes; refused as a likely decompression bomb`;
  const steps = compression === 'none' ? [createReadStream(file), ex] : [createReadStream(file), decompressor(compression), unpackLimit(maxTarBytes, bomb), ex];
  try {
    await pipeline(steps as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
  } catch (err) {
    if (err instanceof LxlError) throw err;
    throw new FormatError(`cannot accept ${filename}: the tarball does not read to its end (${(err as Error).message}); is it truncated?`, { cause: err });
  }
  if (entries === 0) throw new FormatError(`cannot accept ${filename}: the tarball is empty`);
  // The name carries the compression, so the .tar.xz and .tar.gz of one kernel are two catalogue entries.
  return { kind: 'tarball', name: `linux-xen-legacy.tar${m[3] ? `.${m[3]}` : ''}`, version: m[1], arch: m[2], meta: { filename, krel: m[1], entries, compression } };
}
