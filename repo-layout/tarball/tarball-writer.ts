// The tarball writer: `<name>-<version>-<arch>.tar.gz|.tar.xz`, kernel arch
// names (x86_64, i386), the same deterministic entries as a .deb's data.tar:
// `./`-prefixed, root:root, sorted, every mtime = SOURCE_DATE_EPOCH.

import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PackageSpec } from '../model.js';
import type { Packager, PackOptions } from '../packager.js';
import { archiveCompressor } from '../tar-compress.js';
import { tarStream } from '../tar-entries.js';

/** The tarball Packager; the epoch (if any) is dropped from the file name, as for .debs. */
export const tarPackager: Packager = {
  format: 'tar',
  fileName: (spec, opts) => `${spec.name}-${spec.version.replace(/^[0-9]+:/, '')}-${spec.arch}.tar${(opts?.compression ?? 'gzip') === 'xz' ? '.xz' : '.gz'}`,
  write: (spec, out, opts) => writeTarball(spec, out, opts),
};

/** Streams `spec.files` as a compressed tar into `out` (ended on success, destroyed on failure). */
export async function writeTarball(spec: PackageSpec, out: Writable, opts: PackOptions = {}): Promise<void> {
  try {
    await pipeline(
      tarStream(spec.files, { mtime: spec.sourceDateEpoch, signal: opts.signal }),
      archiveCompressor(opts.compression ?? 'gzip', opts.level),
      out,
      { signal: opts.signal },
    );
  } catch (err) {
    if (!out.destroyed) out.destroy(); // the rejection carries the error; no unhandled 'error' event
    throw err;
  }
}
