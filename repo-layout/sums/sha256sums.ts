// SHA256SUMS files as kernel.org and `sha256sum` write them: one
// `<64 hex>  <name>` line per file (two spaces: text mode), sorted by name.

import { FormatError } from '../errors.js';

/** One line of a SHA256SUMS file. */
export interface Sha256Entry {
  name: string;
  sha256: string;
}

/** Formats entries sorted by name (byte order); names must be single-line and hashes 64 hex digits. */
export function formatSha256Sums(entries: readonly Sha256Entry[]): string {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return sorted
    .map((e) => {
      if (!/^[0-9a-f]{64}$/i.test(e.sha256)) throw new FormatError(`cannot format SHA256SUMS: ${JSON.stringify(e.name)} has a bad sha256 ${JSON.stringify(e.sha256)}`);
      if (e.name === '' || /[\n\r\\]/.test(e.name)) throw new FormatError(`cannot format SHA256SUMS: bad file name ${JSON.stringify(e.name)}`);
      return `${e.sha256.toLowerCase()}  ${e.name}\n`;
    })
    .join('');
}

/** Parses SHA256SUMS text (text `  ` or binary ` *` separators); throws FormatError naming the bad line. */
export function parseSha256Sums(text: string): Sha256Entry[] {
  const out: Sha256Entry[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.replace(/\r$/, ''));
    if (!m) throw new FormatError(`cannot parse SHA256SUMS: line ${i + 1}: expected "<sha256>  <name>", got ${JSON.stringify(line.slice(0, 80))}`);
    out.push({ sha256: m[1].toLowerCase(), name: m[2] });
  });
  return out;
}
