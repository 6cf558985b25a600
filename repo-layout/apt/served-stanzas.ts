// Packages stanzas taken back from the Packages files the last publish wrote,
// so that a publish in a new process (each `lxl apt … --key`) formats only
// the stanzas of packages added since, not every package of the suite. A
// served file is used only if it is one the last publish wrote (its SHA256
// is among the by-hash keys that publish referenced) by an lxl that formats
// stanzas the same way (stanzaFormat()); a stanza is used only for the
// record whose pool file and SHA256 it names. A stanza is a function of the
// .deb's bytes and its pool path, so it is then exactly what packagesStanza
// would give, and the indices are byte for byte those of a full rebuild.

import { createHash } from 'node:crypto';
import type { PublishedStorage } from '../../storage/storage.js';
import { NotFoundError } from '../errors.js';
import type { AptCatalog } from './apt-catalog.js';
import { rememberStanza } from './apt-index.js';
import { stanzaFormat } from './apt-packages.js';
import { BINARY_ARCHES } from './apt-pool.js';

export interface ServedStanzasOptions {
  storage: PublishedStorage;
  catalog: AptCatalog;
  /** The suites whose records should get their stanzas (their own served Packages files are read). */
  suites: readonly string[];
  /** Storage key prefix of the APT tree (default `apt`). */
  prefix?: string;
  /** Binary architectures (default amd64 and i386). */
  architectures?: readonly string[];
  /** The one component (default main). */
  component?: string;
}

/** Gives the suites' records the stanzas their served Packages files hold (see the top of this file); returns how many got one. */
export async function reuseServedStanzas(opts: ServedStanzasOptions): Promise<number> {
  const state = await opts.catalog.publishState();
  if (state.stanzaFormat !== stanzaFormat()) return 0;
  const prefix = opts.prefix ?? 'apt';
  const referenced = new Set(state.referenced);
  let reused = 0;
  for (const suite of opts.suites) {
    const byFile = new Map<string, string>();
    for (const arch of opts.architectures ?? BINARY_ARCHES) {
      const dir = `${prefix}/dists/${suite}/${opts.component ?? 'main'}/binary-${arch}`;
      const bytes = await opts.storage.getBytes(`${dir}/Packages`).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      });
      if (!bytes || !referenced.has(`${dir}/by-hash/SHA256/${createHash('sha256').update(bytes).digest('hex')}`)) continue;
      stanzasByFilename(bytes.toString('utf8'), byFile);
    }
    if (byFile.size === 0) continue;
    for (const rec of await opts.catalog.list(suite)) {
      const s = byFile.get(rec.filename);
      if (s !== undefined && s.includes(`\nSHA256: ${rec.sha256}\n`) && rememberStanza(rec, s)) reused++;
    }
  }
  return reused;
}

/** Adds each stanza of a Packages text (stanzas joined by blank lines, each ending in a newline) to `out` under its Filename. */
export function stanzasByFilename(text: string, out: Map<string, string>): Map<string, string> {
  const FIELD = '\nFilename: ';
  for (let start = 0; start < text.length; ) {
    const blank = text.indexOf('\n\n', start);
    const end = blank < 0 ? text.length : blank + 1;
    const f = text.indexOf(FIELD, start);
    if (f >= 0 && f < end) {
      const eol = text.indexOf('\n', f + FIELD.length);
      out.set(text.slice(f + FIELD.length, eol), text.slice(start, end));
    }
    start = end + 1;
  }
  return out;
}
