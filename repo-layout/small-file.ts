// A package file read whole when it is small: what the deb and rpm readers do
// for each input of a batch before they hash and parse it.

import fs from 'node:fs';
import { inputError } from './errors.js';

/**
 * The file's size and mtime, and its bytes when it has at most `limit` of them (the size is then the bytes read).
 * Synchronous on purpose: for a batch of thousands of small (page-cached) packages, four async fs round trips per
 * file cost ~10x the CPU of the syscalls themselves, and one small read blocks the event loop for microseconds. A
 * file that cannot be opened or read (missing, unreadable, a folder) is an InputError naming it.
 */
export function readIfSmall(file: string, limit: number): { size: number; mtimeMs: number; bytes?: Buffer } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw inputError(file, err);
  }
  try {
    const { size, mtimeMs } = fs.fstatSync(fd);
    if (size > limit) return { size, mtimeMs };
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    for (let n = 1; got < size && n > 0; got += n) n = fs.readSync(fd, buf, got, size - got, got);
    return { size: got, mtimeMs, bytes: got === size ? buf : buf.subarray(0, got) };
  } catch (err) {
    throw inputError(file, err);
  } finally {
    fs.closeSync(fd);
  }
}
