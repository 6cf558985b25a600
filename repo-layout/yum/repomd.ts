// repodata/repomd.xml (createrepo_c's layout) and the ready-made `.repo`
// file clients drop into /etc/yum.repos.d or /etc/zypp/repos.d.

import { xmlEscape, type ChecksumType } from './yum-xml.js';

/** One metadata file listed in repomd.xml. */
export interface RepomdRecord {
  type: 'primary' | 'filelists' | 'other';
  /** `repodata/<checksum>-<type>.xml.gz`. */
  href: string;
  checksum: string;
  openChecksum: string;
  size: number;
  openSize: number;
  timestamp: number;
}

/** Encodes repomd.xml; `revision` is usually the publish time in seconds. */
export function repomdXml(records: RepomdRecord[], opts: { checksumType: ChecksumType; revision: number }): string {
  const t = opts.checksumType;
  const data = records
    .map(
      (r) =>
        `  <data type="${r.type}">\n` +
        `    <checksum type="${t}">${r.checksum}</checksum>\n` +
        `    <open-checksum type="${t}">${r.openChecksum}</open-checksum>\n` +
        `    <location href="${xmlEscape(r.href)}"/>\n` +
        `    <timestamp>${r.timestamp}</timestamp>\n` +
        `    <size>${r.size}</size>\n` +
        `    <open-size>${r.openSize}</open-size>\n` +
        '  </data>\n',
    )
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n' +
    `  <revision>${opts.revision}</revision>\n` +
    data +
    '</repomd>\n'
  );
}

/** Finds the repodata hrefs a repomd.xml references (to keep them during GC). */
export function repomdHrefs(xml: string): string[] {
  return [...xml.matchAll(/<location href="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
}

export interface RepoFileOptions {
  /** Section id, e.g. `lxl-el`. */
  id: string;
  name: string;
  /** URL of the repo directory (the one holding repodata/). */
  baseUrl: string;
  /** URL of the armored public key. */
  gpgKeyUrl: string;
}

/** A `.repo` file with package and metadata signature checks on. */
export function repoFile(o: RepoFileOptions): string {
  return [
    `[${o.id}]`,
    `name=${o.name}`,
    `baseurl=${o.baseUrl}`,
    'enabled=1',
    'gpgcheck=1',
    'repo_gpgcheck=1',
    `gpgkey=${o.gpgKeyUrl}`,
    // zypper reads the same file; this stops it from asking about auto-refresh.
    'autorefresh=1',
    'type=rpm-md',
    '',
  ].join('\n');
}
