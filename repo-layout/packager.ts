// The packager seam: one small interface per output format, registered in an
// explicit map (no import side effects). Each writer turns one PackageSpec into bytes.

import type { Writable } from 'node:stream';
import type { PackageSpec } from './model.js';
import type { Signer } from './signing/signer.js';

export type PackageFormat = 'deb' | 'rpm' | 'tar';

/** Options every writer understands; format-specific ones live in each writer's own options type. */
export interface PackOptions {
  /** Compression for payloads: gzip (the legacy default) or xz. */
  compression?: 'gzip' | 'xz';
  /** Compression level; each writer picks a sensible default. */
  level?: number;
  /** Rpm only: signs header (and header+payload) with this signer. */
  signer?: Signer;
  /** Rpm only: compatibility profile. */
  profile?: 'modern' | 'el5';
  /** Aborts a pack in progress. */
  signal?: AbortSignal;
}

/** Turns a PackageSpec into one package file. */
export interface Packager {
  /** The format this packager writes. */
  readonly format: PackageFormat;
  /** The conventional file name, e.g. `hello_1.0-1_amd64.deb`. */
  fileName(spec: PackageSpec, opts?: PackOptions): string;
  /** Writes the package to `out` (which it ends); rejects, leaving `out` destroyed, on any failure. */
  write(spec: PackageSpec, out: Writable, opts?: PackOptions): Promise<void>;
}
