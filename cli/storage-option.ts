// The `--storage <url>` option shared by the repo CLIs, and opening the
// published storage of a repo folder from it: by default the local folder
// `<repo>/public`; with `s3://bucket/prefix?endpoint=...` an S3 bucket
// (credentials from the standard AWS provider chain). On S3 a change runs
// under the bucket's publish lock object (If-None-Match create, owner +
// expiry), so deployments sharing a bucket publish one at a time; the local
// catalogue lock stays the guarantee within one repo folder.

import { hostname } from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ConfigError } from '../repo-layout/errors.js';
import { FsStorage } from '../storage/fs-storage.js';
import type { PublishedStorage } from '../storage/storage.js';
import { writeTrace } from '../storage/trace.js';

/** Flags the option adds. */
export interface StorageFlags {
  storage?: string;
  lockWait?: number;
}

/** Key of the publish lock object inside the bucket (prefix). */
export const S3_LOCK_KEY = 'locks/publish.json';

/** Adds `--storage <url>` and `--lock-wait <seconds>` to a command. */
export function storageOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--storage <url>', 'where the published tree goes: a folder, file:// or s3://bucket/prefix?endpoint=&region=&pathStyle=&checksums= (default <repo>/public)'))
    .addOption(
      new Option('--lock-wait <seconds>', "wait this long for another lxl process to release the repo's lock (and, on S3, the bucket lock) (default 0: fail at once)").argParser((v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) throw new ConfigError(`cannot use --lock-wait ${JSON.stringify(v)}: expected seconds ≥ 0`);
        return n;
      }),
    );
}

/** --lock-wait in milliseconds (0 when not given). */
export function lockWaitMs(flags: StorageFlags): number {
  return (flags.lockWait ?? 0) * 1000;
}

/** A repo's published storage, and how to run a change on it. */
export interface RepoStorage {
  storage: PublishedStorage;
  /** True for the default `<repo>/public` folder. */
  local: boolean;
  /** Runs `fn` under the S3 publish lock when the storage is S3 (LockedError naming the holder when taken); directly otherwise. */
  locked<T>(fn: () => Promise<T>): Promise<T>;
}

// The storage-URL parser and the S3 backend pull in zod and the AWS SDK (~100 ms of module loading):
// loaded only when a command line names --storage, so a local-folder command never pays for them.
let modules:
  | { S3PublishLock: typeof import('../storage/s3-lock.js').S3PublishLock; S3Storage: typeof import('../storage/s3-storage.js').S3Storage } & Pick<typeof import('../storage/storage-config.js'), 'openStorage' | 'storageConfigFromUrl'>
  | undefined;

/** Loads what `openRepoStorage` needs for a `--storage` URL; runCli (cli/program.ts) calls it when the command line has --storage. */
export async function loadStorageModules(): Promise<void> {
  const [lock, s3, config] = await Promise.all([import('../storage/s3-lock.js'), import('../storage/s3-storage.js'), import('../storage/storage-config.js')]);
  modules = { S3PublishLock: lock.S3PublishLock, S3Storage: s3.S3Storage, openStorage: config.openStorage, storageConfigFromUrl: config.storageConfigFromUrl };
}

/** Opens `--storage` (default `<repo>/public`). */
export function openRepoStorage(repo: string, flags: StorageFlags): RepoStorage {
  // One command per process: no link thread (FsStorageOptions.linkThread).
  if (!flags.storage) return { storage: new FsStorage({ root: path.join(path.resolve(repo), 'public'), linkThread: false }), local: true, locked: (fn) => fn() };
  if (!modules) throw new Error('internal: --storage needs loadStorageModules() first (runCli does it)');
  const { S3PublishLock, S3Storage, openStorage, storageConfigFromUrl } = modules;
  const config = storageConfigFromUrl(flags.storage);
  const storage = openStorage(config.kind === 'fs' ? { ...config, linkThread: false } : config);
  if (!(storage instanceof S3Storage)) return { storage, local: false, locked: (fn) => fn() };
  // Owner host:pid:random, shown to the loser.
  const lock = new S3PublishLock({ store: storage, key: S3_LOCK_KEY });
  return {
    storage,
    local: false,
    locked: (fn) => lock.withLock(() => fn(), { waitMs: lockWaitMs(flags) }),
  };
}

/** Writes `<root>/project/trace/<host>`: call it as the last write of a completed publish. */
export async function traceCompleted(storage: PublishedStorage, root: string, started: Date): Promise<void> {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'localhost';
  await writeTrace(storage, root, { host, started, finished: new Date(), creator: 'lxl' });
}
