// A package file read whole when it is small: what the deb and rpm readers do
// for each input of a batch before they hash and parse it; and the open and
// positioned reads it is made of, which the deb reader also uses for the
// members of a big file.

import fs from 'node:fs';
import { inputError } from './errors.js';

/**
 * The file's size and mtime, and its bytes when it has at most `limit` of them (the size is then the bytes read).
 * Synchronous on purpose: for a batch of thousands of small (page-cached) packages, four async fs round trips per
 * file cost ~10x the CPU of the syscalls themselves, and one small read blocks the event loop for microseconds. A
 * file that cannot be opened or read (missing, unreadable, a folder) is an InputError naming it.
 */
export function readIfSmall(file: string, limit: number): { size: number; mtimeMs: number; bytes?: Buffer } {
  return withOpenFile(file, (fd) => {
    try {
      const { size, mtimeMs } = fs.fstatSync(fd);
      if (size > limit) return { size, mtimeMs };
      const buf = Buffer.allocUnsafe(size);
      const got = readFullyAt(fd, buf, 0);
      return { size: got, mtimeMs, bytes: got === size ? buf : buf.subarray(0, got) };
    } catch (err) {
      throw inputError(file, err);
    }
  });
}

/** Runs `fn` with the file open for reading (an InputError naming it when it cannot be opened), and closes it. */
export function withOpenFile<T>(file: string, fn: (fd: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw inputError(file, err);
  }
  try {
    return fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Fills `buf` from the open file at `position`, short only at the end of the file; returns the bytes read. */
export function readFullyAt(fd: number, buf: Buffer, position: number): number {
  let got = 0;
  for (let n = 1; got < buf.length && n > 0; got += n) n = fs.readSync(fd, buf, got, buf.length - got, position + got);
  return got;
}
