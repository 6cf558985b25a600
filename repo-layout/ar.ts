// The common `ar` archive format that wraps a .deb (dpkg deb.pod, deb-ar(5)):
// an 8-byte global magic, then members, each a 60-byte ASCII header followed
// by the data and one `\n` pad byte when the size is odd. Pure encoders and
// decoders over buffers; the .deb writer and reader do the I/O.

import { FormatError } from './errors.js';

/** The global header every ar archive starts with. */
export const AR_MAGIC = Buffer.from('!<arch>\n', 'latin1');

/** Size of one member header. */
export const AR_HEADER_SIZE = 60;

/** One member header's fields (dpkg writes uid/gid 0, mode 100644). */
export interface ArMember {
  name: string;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
}

/** Encodes one 60-byte member header; the name must fit 16 bytes (dpkg names do). */
export function encodeArHeader(m: ArMember): Buffer {
  if (m.name.length > 16 || /[\s/]/.test(m.name)) throw new FormatError(`cannot encode ar member ${JSON.stringify(m.name)}: names are at most 16 characters without spaces or "/"`);
  if (!Number.isSafeInteger(m.size) || m.size < 0 || m.size > 9_999_999_999) throw new FormatError(`cannot encode ar member ${m.name}: size ${m.size} does not fit 10 digits`);
  const field = (v: string, width: number): string => v.padEnd(width, ' ');
  const text =
    field(m.name, 16) +
    field(String(Math.max(0, Math.floor(m.mtime))), 12) +
    field('0', 6) +
    field('0', 6) +
    field('100644', 8) +
    field(String(m.size), 10) +
    '`\n';
  return Buffer.from(text, 'latin1');
}

/** The pad after a member of `size` bytes (one `\n` when odd, else nothing). */
export function arPadding(size: number): Buffer {
  return size % 2 === 1 ? Buffer.from('\n', 'latin1') : Buffer.alloc(0);
}

/** Decodes one member header; throws FormatError naming `where` for anything malformed. */
export function decodeArHeader(buf: Uint8Array, where: string): ArMember {
  if (buf.length < AR_HEADER_SIZE) throw new FormatError(`cannot read ${where}: truncated ar member header (${buf.length} of 60 bytes)`);
  const text = Buffer.from(buf.subarray(0, AR_HEADER_SIZE)).toString('latin1');
  if (text.slice(58, 60) !== '`\n') throw new FormatError(`cannot read ${where}: bad ar member header terminator (the file is not an ar archive or is corrupted)`);
  // GNU ar ends names with "/"; BSD/dpkg pad with spaces.
  const name = text.slice(0, 16).trimEnd().replace(/\/$/, '');
  const sizeText = text.slice(48, 58).trim();
  const mtimeText = text.slice(16, 28).trim();
  if (!/^\d+$/.test(sizeText)) throw new FormatError(`cannot read ${where}: member ${JSON.stringify(name)} has a bad size field ${JSON.stringify(sizeText)}`);
  return { name, size: Number(sizeText), mtime: /^\d+$/.test(mtimeText) ? Number(mtimeText) : 0 };
}
