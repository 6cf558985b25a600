// Compression streams shared by every writer. gzip uses zlib (its header has
// mtime 0 and no name, so output is deterministic); xz runs the `xz` binary,
// always in its multi-threaded block mode (-T >= 2), whose output is the same
// for any thread count, so packages are byte-identical across machines.

import { spawn } from 'node:child_process';
import os from 'node:os';
import { Duplex, PassThrough, Readable, Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { FormatError, ToolError, UnpackLimitError } from './errors.js';
import { asBuffer } from './bytes.js';
import { commandRelay } from './command-relay.js';

export type Compression = 'gzip' | 'xz' | 'none';

export interface CompressOptions {
  /** gzip 1-9 (default 9), xz 0-9 (default 6). */
  level?: number;
  /** xz worker threads (default: the CPU count, at least 2; the output does not depend on it). */
  threads?: number;
  /** xz block size in bytes (default: xz's 3 x dictionary); smaller blocks spread big payloads over more threads. */
  blockSize?: number;
  /** xz only: exact block sizes in bytes (`--block-list`); each block is compressed on its own. */
  blockList?: number[];
  /** xz only: an LZMA2 option string (`--lzma2=<this>`, e.g. `preset=6,mf=hc4`) used instead of the `-<level>` preset. */
  xzFilter?: string;
}

/** xz reads options from these: every xz run here goes without them, so output never depends on the caller's environment. */
const XZ_OPTION_VARS = ['XZ_DEFAULTS', 'XZ_OPT'];

/** File-name suffix of a compression (`.gz`, `.xz`, or empty). */
export function compressionSuffix(kind: Compression): string {
  return kind === 'gzip' ? '.gz' : kind === 'xz' ? '.xz' : '';
}

/** A transform stream that compresses with `kind`. */
export function compressor(kind: Compression, opts: CompressOptions = {}): Duplex {
  if (kind === 'none') return new PassThrough();
  if (kind === 'gzip') return zlib.createGzip({ level: opts.level ?? 9 });
  return spawnFilter('xz', xzArgs(opts));
}

/** xz's arguments for compressing stdin to stdout with `opts`. */
function xzArgs(opts: CompressOptions): string[] {
  const threads = Math.max(2, opts.threads ?? os.availableParallelism());
  const block = opts.blockSize ? [`--block-size=${opts.blockSize}`] : [];
  if (opts.blockList?.length) block.push(`--block-list=${opts.blockList.join(',')}`);
  const preset = opts.xzFilter ? `--lzma2=${opts.xzFilter}` : `-${opts.level ?? 6}`;
  return ['-z', '-c', '--check=crc64', preset, `-T${threads}`, ...block, '--memlimit-compress=50%'];
}

/** A transform stream that decompresses `kind`. */
export function decompressor(kind: Compression): Duplex {
  if (kind === 'none') return new PassThrough();
  if (kind === 'gzip') return zlib.createGunzip();
  return spawnFilter('xz', ['-d', '-c']);
}

/**
 * A pass-through that fails with an UnpackLimitError (`message()`) once more than `maxBytes` have gone through it, put
 * after a decompressor: a small archive that unpacks to gigabytes (a decompression bomb) is stopped there, and the
 * pipeline's destroy ends the decompressor (an `xz` child is killed) instead of it running to the end.
 */
export function unpackLimit(maxBytes: number, message: () => string): Transform {
  if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) throw new ToolError(`cannot limit unpacked bytes to ${maxBytes}: not a byte count`);
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > maxBytes) cb(new UnpackLimitError(message()));
      else cb(null, chunk);
    },
  });
}

/** A transform stream that decompresses zstd with the `zstd` binary (for reading Debian's own .debs). */
export function zstdDecompressor(): Duplex {
  return spawnFilter('zstd', ['-d', '-c', '-q']);
}

const gzipAsync = promisify(zlib.gzip);
const gunzipAsync = promisify(zlib.gunzip);

/** Compresses a whole buffer (for small indices such as Packages.gz/.xz); xz runs through the process's command relay. */
export async function compressBuffer(kind: Compression, data: Uint8Array | string, opts: CompressOptions = {}): Promise<Buffer> {
  if (kind === 'none') return asBuffer(data);
  // On the thread pool (the same bytes as gzipSync), so several compress side by side.
  if (kind === 'gzip') return gzipAsync(asBuffer(data), { level: opts.level ?? 9 });
  // Through the relay: no fork of this process (command-relay.ts); the bytes are those of compressor().
  const { code, stdout, stderr } = await commandRelay.run(['xz', ...xzArgs(opts)], { input: asBuffer(data), unsetEnv: XZ_OPTION_VARS });
  if (code !== 0) throw new ToolError(`cannot compress with xz: ${stderr.trim() || `exit ${code}`}${code === 127 ? ' (install xz-utils)' : ''}`);
  return stdout;
}

/** Compresses the concatenation of `parts` (the same bytes as compressBuffer of it) without joining them first. */
export async function compressParts(kind: Compression, parts: readonly Uint8Array[], opts: CompressOptions = {}): Promise<Buffer> {
  if (kind === 'none') return Buffer.concat(parts);
  return buffer(Readable.from(parts).pipe(compressor(kind, opts)));
}

/** Decompresses a whole buffer (a small one: xz runs through the process's command relay, its output is read whole); more than `maxBytes` of output is a FormatError, found without making it all. */
export async function decompressBuffer(kind: Compression, data: Uint8Array, opts: { maxBytes?: number } = {}): Promise<Buffer> {
  const max = opts.maxBytes;
  const tooBig = (): FormatError => new FormatError(`cannot decompress with ${kind}: the data unpacks to more than ${max} bytes`);
  if (kind === 'none') {
    if (max !== undefined && data.length > max) throw tooBig();
    return asBuffer(data);
  }
  if (kind === 'gzip') {
    // zlib stops at maxOutputLength: a small input that unpacks to gigabytes is never unpacked in full.
    return gunzipAsync(data, max !== undefined ? { maxOutputLength: Math.max(1, max) } : {}).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ERR_BUFFER_TOO_LARGE' ? tooBig() : err;
    });
  }
  const { code, stdout, stderr, overflow } = await commandRelay.run(['xz', '-d', '-c', '--no-sparse'], { input: data, unsetEnv: XZ_OPTION_VARS, maxOutputBytes: max });
  if (overflow) throw tooBig();
  if (code === 127) throw new ToolError('cannot run xz (install xz-utils)');
  if (code !== 0) throw new FormatError(`cannot decompress with xz: ${stderr.trim() || `exit ${code}`}`);
  return stdout;
}

/** Tells gzip, xz or zstd from a file's first bytes; undefined when none matches. */
export function sniffCompression(head: Uint8Array): Compression | 'zstd' | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return undefined;
}

/** Wraps a filter program (stdin → stdout) as a Duplex; a non-zero exit becomes a stream error. */
function spawnFilter(cmd: string, args: string[]): Duplex {
  const env = cmd === 'xz' ? Object.fromEntries(Object.entries(process.env).filter(([k]) => !XZ_OPTION_VARS.includes(k))) : process.env;
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  let stdoutEnded = false;
  let exit: number | null | undefined;
  const finish = (): void => {
    if (!stdoutEnded || exit === undefined) return;
    if (exit === 0) out.end();
    else {
      const msg = Buffer.concat(stderr).toString().trim();
      const Err = args.includes('-d') ? FormatError : ToolError;
      out.destroy(new Err(`cannot ${args.includes('-d') ? 'decompress' : 'compress'} with ${cmd}: ${msg || `exit ${exit}`}`));
    }
  };
  child.stdout.on('end', () => {
    stdoutEnded = true;
    finish();
  });
  child.on('close', (code) => {
    exit = code;
    stdoutEnded = true;
    finish();
  });
  child.on('error', (err) => out.destroy(new ToolError(`cannot run ${cmd}: ${err.message} (install xz-utils)`, { cause: err })));
  // A reader that stops early (EPIPE on stdin) is reported through the exit code, not as a crash.
  child.stdin.on('error', () => {});
  const duplex = Duplex.from({ writable: child.stdin, readable: out });
  duplex.on('close', () => {
    if (exit === undefined) child.kill('SIGKILL');
  });
  return duplex;
}
