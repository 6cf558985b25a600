// What `npm run build` (bin/build.mjs) could make here, for the tests of its outputs: whether dist/ is current (else
// bin/lxl.mjs runs the sources through tsx) and whether esbuild is installed (else no bundle and no snapshot).
import { createRequire } from 'node:module';
// @ts-expect-error plain ESM helper without types
import { distIsCurrent, SOURCE_DIRS } from '../../bin/dist-current.mjs';

export const distCurrent: boolean = (distIsCurrent as () => boolean)();

/** The source folders dist/ is compiled from (what bin/lxl.mjs and bin/lxl check for newer files). */
export const sourceDirs: readonly string[] = SOURCE_DIRS as string[];

export const hasEsbuild: boolean = (() => {
  try {
    createRequire(import.meta.url).resolve('esbuild');
    return true;
  } catch {
    return false;
  }
})();
