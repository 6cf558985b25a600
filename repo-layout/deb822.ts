// A small, strict deb822 parser and formatter (Debian policy §5.1).
// We do not use the `debian-control` npm package: it is GPL-3.0-or-later
// (lxl is MIT) and it trims continuation lines, which loses the exact bytes of
// multi-line fields such as Description and the Release checksum lists.

import { FormatError } from './errors.js';

/** One deb822 paragraph: fields in their original order, looked up case-insensitively. */
export class Paragraph {
  private readonly fields: Array<[string, string]> = [];
  /** Lower-cased field name → its position in `fields` (a lookup lower-cases one name, not every field's). */
  private readonly index = new Map<string, number>();

  constructor(entries: Iterable<[string, string]> = []) {
    for (const [k, v] of entries) this.set(k, v);
  }

  /** The value of `name` (case-insensitive), or undefined. Multi-line values keep their continuation lines. */
  get(name: string): string | undefined {
    const i = this.index.get(name.toLowerCase());
    return i === undefined ? undefined : this.fields[i][1];
  }

  /** Sets `name`, keeping its position if it exists, else appending it. */
  set(name: string, value: string): this {
    const lower = name.toLowerCase();
    const i = this.index.get(lower);
    if (i !== undefined) this.fields[i] = [this.fields[i][0], value];
    else {
      this.index.set(lower, this.fields.length);
      this.fields.push([name, value]);
    }
    return this;
  }

  /** True when the paragraph has `name`. */
  has(name: string): boolean {
    return this.index.has(name.toLowerCase());
  }

  /** Removes `name` if present. */
  delete(name: string): this {
    const lower = name.toLowerCase();
    const i = this.index.get(lower);
    if (i === undefined) return this;
    this.fields.splice(i, 1);
    this.index.delete(lower);
    for (const [k, j] of this.index) if (j > i) this.index.set(k, j - 1);
    return this;
  }

  /** Fields in order as [name, value] pairs. */
  entries(): Array<[string, string]> {
    return this.fields.map(([k, v]) => [k, v]);
  }

  /** Field names in order. */
  keys(): string[] {
    return this.fields.map(([k]) => k);
  }
}

export interface ParseOptions {
  /** Allow `#` comment lines (control files in source packages); Packages/Release files have none. */
  comments?: boolean;
}

const FIELD_RE = /^([!-9;-~][!-9;-~]*):(.*)$/;
const BLANK_RE = /^[ \t]*$/;

/** Parses deb822 text into paragraphs; throws FormatError naming the line for anything malformed. */
export function parseDeb822(text: string, opts: ParseOptions = {}): Paragraph[] {
  return parseCleanDeb822(text) ?? parseDeb822ByLine(text, opts);
}

/**
 * One field of clean text, matched where the last one ended: a name (not starting with `-` or `#`), its value between
 * blanks, then its continuation lines. "Clean" is what dpkg-deb, apt and lxl write: every line ends in "\n", a value
 * and each continuation line start and end with printable ASCII (so `trim()` would change nothing in them), and a
 * field's first line has no other line terminator (FIELD_RE's `.` stops at \r, \u2028 and \u2029).
 */
const CLEAN_FIELD_RE = /(?![-#])([!-9;-~]+):[ \t]*((?:[!-~](?:[^\n\r\u2028\u2029]*[!-~])?)?)[ \t]*\n((?:[ \t][^\n]*[!-~]\n)*)/y;
/** The blank lines between paragraphs. */
const CLEAN_BREAK_RE = /(?:[ \t]*\n)+/y;

/**
 * parseDeb822 for clean text (CLEAN_FIELD_RE), a field per regular-expression match instead of a line at a time (a
 * batch add parses thousands of control files in a fresh process, where each line's JavaScript runs cold). Undefined
 * for anything else, duplicate fields included, which parseDeb822ByLine then parses or refuses with the line's number:
 * where this returns paragraphs, they are the ones parseDeb822ByLine returns.
 */
export function parseCleanDeb822(text: string): Paragraph[] | undefined {
  const out: Paragraph[] = [];
  let current = new Paragraph();
  let pos = 0;
  while (pos < text.length) {
    CLEAN_FIELD_RE.lastIndex = pos;
    const m = CLEAN_FIELD_RE.exec(text);
    if (m === null) {
      CLEAN_BREAK_RE.lastIndex = pos;
      if (pos === 0 || !CLEAN_BREAK_RE.test(text)) return undefined;
      out.push(current);
      current = new Paragraph();
      pos = CLEAN_BREAK_RE.lastIndex;
      continue;
    }
    if (current.has(m[1])) return undefined;
    current.set(m[1], m[3] === '' ? m[2] : `${m[2]}\n${m[3].slice(0, -1)}`);
    pos = CLEAN_FIELD_RE.lastIndex;
  }
  if (current.keys().length > 0) out.push(current);
  return out;
}

/** parseDeb822 a line at a time: the reference, and the one for text that is not clean (or not valid). */
export function parseDeb822ByLine(text: string, opts: ParseOptions = {}): Paragraph[] {
  const out: Paragraph[] = [];
  let current: Paragraph | undefined;
  // The field being read: its name and its lines (the first line's value, then continuation lines), set when it ends.
  let field: string | undefined;
  let parts: string[] = [];
  const endField = (): void => {
    if (field !== undefined) current!.set(field, parts.length === 1 ? parts[0] : parts.join('\n'));
    field = undefined;
  };
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (BLANK_RE.test(line)) {
      endField();
      if (current) out.push(current);
      current = undefined;
      continue;
    }
    if (opts.comments && line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (field === undefined) throw new FormatError(`cannot parse deb822: line ${i + 1}: continuation line outside a field`);
      parts.push(line.trimEnd());
      continue;
    }
    const m = FIELD_RE.exec(line);
    if (!m || m[1].startsWith('-') || m[1].startsWith('#')) throw new FormatError(`cannot parse deb822: line ${i + 1}: expected "Field: value", got ${JSON.stringify(line.slice(0, 60))}`);
    endField();
    current ??= new Paragraph();
    if (current.has(m[1])) throw new FormatError(`cannot parse deb822: line ${i + 1}: duplicate field ${m[1]}`);
    field = m[1];
    parts = [m[2].trim()];
  }
  endField();
  if (current) out.push(current);
  return out;
}

/** Parses text that must hold exactly one paragraph (a DEBIAN/control file, a Release file). */
export function parseSingleParagraph(text: string, what: string): Paragraph {
  const ps = parseDeb822(text);
  if (ps.length !== 1) throw new FormatError(`cannot parse ${what}: expected one paragraph, found ${ps.length}`);
  return ps[0];
}

/** Formats one paragraph: `Name: value` lines, ending with a newline. Values with newlines must already carry their continuation indentation. */
export function formatParagraph(p: Paragraph | Iterable<[string, string]>): string {
  const entries = p instanceof Paragraph ? p.entries() : [...p];
  let out = '';
  for (const [k, v] of entries) {
    if (v.split('\n').some((l, i) => i > 0 && !/^[ \t]/.test(l))) {
      throw new FormatError(`cannot format field ${k}: a continuation line does not start with a space`);
    }
    // A field whose value starts on the next line (checksum lists) is written "Name:" with no trailing space.
    out += v.startsWith('\n') || v === '' ? `${k}:${v}\n` : `${k}: ${v}\n`;
  }
  return out;
}

/** Formats paragraphs separated by blank lines (a Packages file). */
export function formatDeb822(ps: Array<Paragraph | Iterable<[string, string]>>): string {
  return ps.map((p) => formatParagraph(p)).join('\n');
}

/** Builds a Description value: the synopsis, then the long text with each line indented and blank lines as " .". */
export function formatDescription(summary: string, long: string): string {
  const body = long
    .replace(/\s+$/, '')
    .split('\n')
    .filter((_, i, a) => a.length > 1 || a[0] !== '')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l}`));
  return [summary.trim(), ...body].join('\n');
}

/**
 * Parses a DEBIAN/control file: one paragraph, with no line of only spaces and tabs, which dpkg-deb refuses ("blank
 * line in value of field"). deb822(5) lets a reader take such a line for the end of a paragraph, while apt, reprepro
 * and aptly read it as a continuation line, so a Packages stanza that carried one would mean different things to
 * different readers.
 */
export function parseControlParagraph(text: string, what: string): Paragraph {
  // One search of the whole text (the add reads thousands of control files); the line and field only on a hit.
  const hit = BLANK_LINE_RE.exec(text);
  if (hit) {
    const before = text.slice(0, hit.index).split('\n');
    const field = before.reverse().map((l) => FIELD_RE.exec(l.endsWith('\r') ? l.slice(0, -1) : l)?.[1]).find((f) => f !== undefined);
    const where = field === undefined ? '' : ` in the value of field ${field}`;
    throw new FormatError(`cannot parse ${what}: line ${before.length}: a line of only spaces or tabs${where} (dpkg-deb refuses it too; an empty line in a description is written " .")`);
  }
  return parseSingleParagraph(text, what);
}

/** A line of one or more spaces and tabs and nothing else (a CR before its newline allowed). */
const BLANK_LINE_RE = /^[ \t]+\r?$/m;
