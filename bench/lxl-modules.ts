// The lxl modules that the in-process benchmark rows time: the compiled dist/
// (what `lxl server` and the CLI run) when it is current, else the TypeScript
// sources through tsx, which run slower (its transform wraps every function
// it creates in a naming helper). Each bench prints which one it timed.

// @ts-expect-error plain ESM helper without types
import { distIsCurrent } from '../bin/dist-current.mjs';

/** True when the rows time the compiled dist/. */
export const fromDist: boolean = (distIsCurrent as () => boolean)();

/** What the rows ran, for the bench's report. */
export const modulesLabel = fromDist ? 'compiled dist/' : 'TypeScript sources through tsx (dist/ missing or stale: npm run build)';

/** Imports the lxl module at `rel` (e.g. `repo-layout/apt/apt-publish`) from dist/ or from the sources. */
export async function lxlModule<T>(rel: string): Promise<T> {
  return (await import(fromDist ? `../dist/${rel}.js` : `../${rel}.js`)) as T;
}
