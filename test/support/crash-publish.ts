// One publish of a change (new .debs and .rpms) to an APT + YUM repo, as the
// crash trials run it: in a child process (`node --import tsx
// crash-publish.ts <json job>`) that the test SIGKILLs at a random point, and
// in the test process itself for the rerun. The child logs every storage
// write as it starts (`put <key>` on stderr, written synchronously) so the
// test knows where each kill landed.

import { writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JsonAptCatalog } from '../../repo-layout/apt/apt-catalog.js';
import { addDebs } from '../../repo-layout/apt/apt-changes.js';
import { publishApt } from '../../repo-layout/apt/apt-publish.js';
import { loadSigner } from '../../repo-layout/signing/openpgp-signer.js';
import type { Signer } from '../../repo-layout/signing/signer.js';
import { JsonYumCatalogue } from '../../repo-layout/yum/yum-catalogue.js';
import { addRpms, publishYum } from '../../repo-layout/yum/yum-repo.js';
import { openStorage, storageConfigFromUrl } from '../../storage/storage-config.js';
import type { PublishedStorage } from '../../storage/storage.js';
import { writeTrace } from '../../storage/trace.js';

/** What one publish does. */
export interface CrashJob {
  /** Storage URL (folder path or s3://bucket?endpoint=...), rooted at the published tree. */
  storage: string;
  /** State folder (catalogues), never served. */
  stateDir: string;
  /** Armored secret key file. */
  keyFile: string;
  /** URL that serves the published tree (for .sources / .repo files). */
  baseUrl: string;
  debs: string[];
  rpms: string[];
  /** YUM grace period in hours (default: the repo's saved setting, 24 at first). */
  yumGraceHours?: number;
}

export const APT_NAME = 'lxl-crash';
export const YUM_NAME = 'stable';

/** Adds the job's packages and publishes APT then YUM, each followed by its trace file. */
export async function publishChange(job: CrashJob, opts: { signer: Signer; storage?: PublishedStorage }): Promise<void> {
  const storage = opts.storage ?? openStorage(storageConfigFromUrl(job.storage));
  const started = new Date();
  const catalog = new JsonAptCatalog({ stateDir: path.join(job.stateDir, 'apt-state') });
  await addDebs({ storage, catalog, suite: 'stable', files: job.debs });
  await publishApt({ storage, catalog, signer: opts.signer, origin: APT_NAME, label: APT_NAME, name: APT_NAME, baseUrl: job.baseUrl, xzLevel: 1 });
  await writeTrace(storage, 'apt', { host: 'lxl-crash', started, finished: new Date(), creator: 'lxl crash trial' });
  const ctx = { storage, catalogue: new JsonYumCatalogue({ dir: path.join(job.stateDir, 'yum-state') }), name: YUM_NAME };
  await addRpms(ctx, job.rpms);
  await publishYum(ctx, { signer: opts.signer, settings: { retention: 0, graceHours: job.yumGraceHours }, defaultBaseUrl: job.baseUrl });
  await writeTrace(storage, 'yum', { host: 'lxl-crash', started, finished: new Date(), creator: 'lxl crash trial' });
}

/** Storage methods that change the published tree one key (or one directory link) at a time. */
export const WRITES: ReadonlySet<string | symbol> = new Set(['put', 'putIfAbsent', 'delete', 'copy', 'linkDirectory']);

/** Wraps a storage so each write logs `<method> <key>` to stderr synchronously before it starts. */
export function loggedStorage(inner: PublishedStorage): PublishedStorage {
  const log = (line: string): void => void writeSync(2, `${line}\n`);
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = v as (...a: unknown[]) => unknown;
      if (WRITES.has(prop)) {
        return (...a: unknown[]) => {
          // copy(from, to) writes `to`; every other write names its key first.
          log(`${String(prop)} ${String(prop === 'copy' ? a[1] : a[0])}`);
          return fn.apply(target, a);
        };
      }
      if (prop === 'putMany') {
        return (items: Array<{ key: string }>, ...rest: unknown[]) => {
          for (const x of items) log(`put ${x.key}`);
          return fn.apply(target, [items, ...rest]);
        };
      }
      return fn.bind(target);
    },
  });
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as CrashJob;
  const signer = await loadSigner({ keyFile: job.keyFile });
  const storage = loggedStorage(openStorage(storageConfigFromUrl(job.storage)));
  writeSync(2, 'ready\n');
  await publishChange(job, { signer, storage });
  writeSync(2, 'done\n');
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  main().catch((err: unknown) => {
    process.stderr.write(`crash-publish: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}

/** Absolute path of this script, for spawning it. */
export const CRASH_PUBLISH_SCRIPT = fileURLToPath(import.meta.url);
