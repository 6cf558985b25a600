// primary.xml, filelists.xml and other.xml as pure encoders (elements as
// strings, documents as bytes), in the element order and indentation
// createrepo_c writes (and yum 3.2/dnf/zypper read).

import { isPrimaryFile, isWholeRecord, type YumDep, type YumEntry, type YumFile, type YumPackage } from './yum-package.js';

export type ChecksumType = 'sha256' | 'sha1';

/** Escapes text for XML element content or attribute values; drops characters XML 1.0 forbids. */
export function xmlEscape(s: string): string {
  // Most names and versions need nothing: one scan instead of five replaces.
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const NEEDS_ESCAPE = /[&<>"\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';

const pkgChecksum = (p: YumPackage, type: ChecksumType): string => (type === 'sha1' ? p.sha1 : p.sha256);

function versionEl(p: YumPackage): string {
  return `<version epoch="${p.epoch}" ver="${xmlEscape(p.version)}" rel="${xmlEscape(p.release)}"/>`;
}

function depEl(d: YumDep): string {
  let s = `<rpm:entry name="${xmlEscape(d.name)}"`;
  if (d.flags) {
    s += ` flags="${d.flags}" epoch="${xmlEscape(d.epoch ?? '0')}"`;
    if (d.ver !== undefined) s += ` ver="${xmlEscape(d.ver)}"`;
    if (d.rel !== undefined) s += ` rel="${xmlEscape(d.rel)}"`;
  }
  if (d.pre) s += ' pre="1"';
  return `${s}/>`;
}

function depsBlock(tag: string, deps: YumDep[]): string {
  if (deps.length === 0) return '';
  return `    <rpm:${tag}>\n${deps.map((d) => `      ${depEl(d)}\n`).join('')}    </rpm:${tag}>\n`;
}

function fileEl(f: YumFile, indent: string): string {
  return `${indent}<file${f.type ? ` type="${f.type}"` : ''}>${xmlEscape(f.path)}</file>\n`;
}

/** One <package> of primary.xml. */
export function primaryPackage(p: YumPackage, type: ChecksumType): string {
  return (
    '<package type="rpm">\n' +
    `  <name>${xmlEscape(p.name)}</name>\n` +
    `  <arch>${xmlEscape(p.arch)}</arch>\n` +
    `  ${versionEl(p)}\n` +
    `  <checksum type="${type}" pkgid="YES">${pkgChecksum(p, type)}</checksum>\n` +
    `  <summary>${xmlEscape(p.summary)}</summary>\n` +
    `  <description>${xmlEscape(p.description)}</description>\n` +
    `  <packager>${xmlEscape(p.packager)}</packager>\n` +
    `  <url>${xmlEscape(p.url)}</url>\n` +
    `  <time file="${p.fileTime}" build="${p.buildTime}"/>\n` +
    `  <size package="${p.packageSize}" installed="${p.installedSize}" archive="${p.archiveSize}"/>\n` +
    `  <location href="${xmlEscape(p.href)}"/>\n` +
    '  <format>\n' +
    `    <rpm:license>${xmlEscape(p.license)}</rpm:license>\n` +
    `    <rpm:vendor>${xmlEscape(p.vendor)}</rpm:vendor>\n` +
    `    <rpm:group>${xmlEscape(p.group)}</rpm:group>\n` +
    `    <rpm:buildhost>${xmlEscape(p.buildhost)}</rpm:buildhost>\n` +
    `    <rpm:sourcerpm>${xmlEscape(p.sourcerpm)}</rpm:sourcerpm>\n` +
    `    <rpm:header-range start="${p.headerStart}" end="${p.headerEnd}"/>\n` +
    depsBlock('provides', p.provides) +
    depsBlock('requires', p.requires) +
    depsBlock('conflicts', p.conflicts) +
    depsBlock('obsoletes', p.obsoletes) +
    p.files
      .filter((f) => isPrimaryFile(f.path))
      .map((f) => fileEl(f, '    '))
      .join('') +
    '  </format>\n' +
    '</package>\n'
  );
}

/** One <package> of filelists.xml. */
export function filelistsPackage(p: YumPackage, type: ChecksumType): string {
  return (
    `<package pkgid="${pkgChecksum(p, type)}" name="${xmlEscape(p.name)}" arch="${xmlEscape(p.arch)}">\n` +
    `  ${versionEl(p)}\n` +
    p.files.map((f) => fileEl(f, '  ')).join('') +
    '</package>\n'
  );
}

/** One <package> of other.xml (its changelog). */
export function otherPackage(p: YumPackage, type: ChecksumType): string {
  return (
    `<package pkgid="${pkgChecksum(p, type)}" name="${xmlEscape(p.name)}" arch="${xmlEscape(p.arch)}">\n` +
    `  ${versionEl(p)}\n` +
    p.changelog.map((c) => `  <changelog author="${xmlEscape(c.author)}" date="${c.date}">${xmlEscape(c.text)}</changelog>\n`).join('') +
    '</package>\n'
  );
}

/** The three metadata documents repomd.xml lists. */
export type RepodataType = 'primary' | 'filelists' | 'other';
export const REPODATA_TYPES: readonly RepodataType[] = ['primary', 'filelists', 'other'];

const DOCS: Record<RepodataType, { root: string; ns: string; pkg: (p: YumPackage, type: ChecksumType) => string }> = {
  primary: { root: 'metadata', ns: 'xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm"', pkg: primaryPackage },
  filelists: { root: 'filelists', ns: 'xmlns="http://linux.duke.edu/metadata/filelists"', pkg: filelistsPackage },
  other: { root: 'otherdata', ns: 'xmlns="http://linux.duke.edu/metadata/other"', pkg: otherPackage },
};

// Text is turned into bytes every ~64 KiB: one string built from thousands of pieces costs far more to flatten and encode at once (~50 → ~37 ms for a 2.5 MB primary.xml in a fresh process).
const TEXT_CHUNK = 65_536;

/** A byte range of an earlier document: one package's element. */
export interface ElementBytes {
  bytes: Buffer;
  start: number;
  end: number;
}

/** The default `whole` of repodataXml: packages to encode must be whole records. */
function wholeOnly(p: YumEntry): YumPackage {
  if (!isWholeRecord(p)) throw new Error(`repodataXml: ${p.href} is a catalogue entry, not a whole record, and no whole() gives it`);
  return p;
}

/**
 * A whole metadata document for `pkgs` (already in publish order), as UTF-8 bytes. `reuse` may hand back a package's
 * element as an earlier document holds it (the bytes its encoder above gives), which is copied instead of encoded;
 * elements that follow each other there are copied as one range. `whole` gives the whole record of a package to
 * encode (by default the package itself, which must be one).
 */
export function repodataXml<T extends YumEntry>(...args: Parameters<typeof repodataXmlParts<T>>): Buffer {
  return Buffer.concat(repodataXmlParts(...args));
}

/**
 * repodataXml's bytes as the pieces it joins: encoded text, and ranges of the earlier documents (views, not copies).
 * A publish gzips and hashes them as they are, never holding the whole document in one more buffer.
 */
export function repodataXmlParts<T extends YumEntry>(
  doc: RepodataType,
  pkgs: readonly T[],
  type: ChecksumType,
  reuse?: (p: T) => ElementBytes | undefined,
  whole: (p: T) => YumPackage = wholeOnly,
): Buffer[] {
  const d = DOCS[doc];
  const parts: Buffer[] = [];
  let text = `${HEAD}<${d.root} ${d.ns} packages="${pkgs.length}">\n`;
  let run: ElementBytes | undefined;
  const flush = (): void => {
    if (text) parts.push(Buffer.from(text, 'utf8'));
    if (run) parts.push(run.bytes.subarray(run.start, run.end));
    text = '';
    run = undefined;
  };
  for (const p of pkgs) {
    const old = reuse?.(p);
    if (old === undefined) {
      if (run) flush();
      text += d.pkg(whole(p), type);
      if (text.length >= TEXT_CHUNK) flush();
    } else if (run && run.bytes === old.bytes && run.end === old.start) run.end = old.end;
    else {
      flush();
      run = { ...old };
    }
  }
  flush();
  parts.push(Buffer.from(`</${d.root}>\n`, 'utf8'));
  return parts;
}
