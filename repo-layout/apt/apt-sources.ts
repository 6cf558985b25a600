// Ready-made client configuration published next to the tree: a deb822
// `.sources` file (apt ≥ 1.1) and a one-line `sources.list` entry (any apt),
// both pinning our key with signed-by, to be stored at
// /etc/apt/keyrings/<name>.gpg (downloaded from `keys/<name>.gpg`).

import { formatParagraph } from '../deb822.js';

/** Where a client finds the repo. */
export interface SourcesInfo {
  /** URL of the published root (serves `keys/` and `<prefix>/`). */
  baseUrl: string;
  /** The APT tree under the root (`apt`). */
  prefix: string;
  suite: string;
  /** Repo name: the keyring is /etc/apt/keyrings/<name>.gpg. */
  name: string;
}

/** The keyring path the entries point at. */
export function keyringPath(name: string): string {
  return `/etc/apt/keyrings/${name}.gpg`;
}

function repoUri(info: SourcesInfo): string {
  return `${info.baseUrl.replace(/\/+$/, '')}/${info.prefix}`;
}

/** A deb822 `.sources` file for /etc/apt/sources.list.d/. */
export function debSourcesFile(info: SourcesInfo): string {
  return formatParagraph([
    ['Types', 'deb'],
    ['URIs', repoUri(info)],
    ['Suites', info.suite],
    ['Components', 'main'],
    ['Signed-By', keyringPath(info.name)],
  ]);
}

/** A one-line sources.list entry with `[signed-by=...]` (apt ≥ 1.1 understands the option). No `arch=`: apt picks the host's architectures. */
export function oneLineSourcesEntry(info: SourcesInfo): string {
  return `deb [signed-by=${keyringPath(info.name)}] ${repoUri(info)} ${info.suite} main\n`;
}
