// Kernel source: fetch (or find) the tarball, check its sha256 and optional
// PGP signature, and unpack it into a clean work folder.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KernelBuildError } from './kernel-errors.js';
import type { KernelSource } from './kernel-line.js';
import { runTool } from './kernel-tools.js';

/** Options for fetching a source. */
export interface FetchSourceOptions {
  /** Shared download cache; files are stored by sha256 so several jobs reuse one download. */
  cacheDir: string;
  signal?: AbortSignal;
}

/** Returns a local, verified tarball for `source` (downloading URL sources into the cache once). */
export async function fetchSource(source: KernelSource, opts: FetchSourceOptions): Promise<string> {
  if (source.kind === 'tarball') {
    const s = await stat(source.tarball).catch(() => undefined);
    if (!s?.isFile()) {
      const hint = source.debianPackage ? `; install it with apt-get install ${source.debianPackage}` : '';
      throw new KernelBuildError('fetch', `cannot find source tarball ${source.tarball}${hint}`);
    }
    if (source.sha256) await checkSha256(source.tarball, source.sha256);
    return source.tarball;
  }
  const dir = path.join(opts.cacheDir, 'sources');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${source.sha256}-${path.basename(new URL(source.url).pathname)}`);
  if (!(await stat(file).catch(() => undefined))) {
    const part = `${file}.${process.pid}.part`;
    try {
      await download(source.url, part, opts.signal);
      await checkSha256(part, source.sha256);
      await rename(part, file);
    } finally {
      await rm(part, { force: true });
    }
  } else {
    await checkSha256(file, source.sha256);
  }
  if (source.signatureUrl) await checkSignature(file, source, opts);
  return file;
}

/** Unpacks `tarball` into `workDir/src` (wiping what was there) and returns the kernel tree's top folder. */
export async function unpackSource(tarball: string, workDir: string, signal?: AbortSignal): Promise<string> {
  const into = path.join(workDir, 'src');
  await rm(into, { recursive: true, force: true });
  await mkdir(into, { recursive: true });
  await runTool('unpack', 'tar', ['-xf', tarball, '-C', into, '--no-same-owner'], { signal });
  const top = await readdir(into);
  const tree = top.length === 1 ? path.join(into, top[0]!) : into;
  if (!(await stat(path.join(tree, 'Makefile')).catch(() => undefined))) {
    throw new KernelBuildError('unpack', `cannot find a kernel tree in ${tarball}: no Makefile at its top folder`);
  }
  return tree;
}

/** Throws unless the file's sha256 is `want`. */
export async function checkSha256(file: string, want: string): Promise<void> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  const got = h.digest('hex');
  if (got !== want) {
    throw new KernelBuildError('fetch', `cannot use ${file}: sha256 is ${got}, the line expects ${want}; the file changed or the line is out of date`);
  }
}

async function download(url: string, to: string, signal?: AbortSignal): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (err) {
    throw new KernelBuildError('fetch', `cannot download ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok || !res.body) throw new KernelBuildError('fetch', `cannot download ${url}: HTTP ${res.status}`);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(to));
}

// kernel.org signs the uncompressed tar, so `uncompressed` feeds gpgv the
// decompressed stream; gpgv reads the signed data from a file, hence the temp copy.
async function checkSignature(file: string, source: Extract<KernelSource, { kind: 'url' }>, opts: FetchSourceOptions): Promise<void> {
  const sig = `${file}.sig`;
  if (!(await stat(sig).catch(() => undefined))) {
    await download(source.signatureUrl!, `${sig}.part`, opts.signal);
    await rename(`${sig}.part`, sig);
  }
  let data = file;
  if (source.signedContent === 'uncompressed') {
    data = `${file}.${process.pid}.tar`;
    const tool = /\.xz$/.test(file) ? 'xz' : 'gzip';
    await runTool('fetch', 'sh', ['-c', `${tool} -dc "$1" > "$2"`, 'sh', file, data], { signal: opts.signal });
  }
  try {
    await runTool('fetch', 'gpgv', ['--keyring', source.keyring!, sig, data], { signal: opts.signal, what: `check the PGP signature of ${file}` });
  } finally {
    if (data !== file) await rm(data, { force: true });
  }
}
