// The explicit registry of package writers (no import side effects): each
// format maps to a loader of its Packager.

import { ConfigError } from './errors.js';
import type { PackageFormat, Packager } from './packager.js';

const PACKAGERS: Partial<Record<PackageFormat, () => Promise<Packager>>> = {
  deb: async () => (await import('./deb/deb-writer.js')).debPackager,
  tar: async () => (await import('./tarball/tarball-writer.js')).tarPackager,
  rpm: async () => (await import('./rpm/rpm-writer.js')).rpmPackager,
};

/** The formats that have a writer. */
export function packageFormats(): PackageFormat[] {
  return Object.keys(PACKAGERS) as PackageFormat[];
}

/** Loads the Packager for `format`; throws ConfigError for an unknown format. */
export async function packagerFor(format: string): Promise<Packager> {
  const load = PACKAGERS[format as PackageFormat];
  if (!load) throw new ConfigError(`cannot pack ${JSON.stringify(format)}: unknown format (use one of ${packageFormats().join(', ') || 'none yet'})`);
  return load();
}
