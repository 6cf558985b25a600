// `lxl yum add|remove|publish`: manage a YUM repo inside a local repo folder.
// `<repo>/public/yum/<name>/` is the published tree (Packages/, repodata/),
// written only through PublishedStorage; `<repo>/state/yum/<name>/` holds the
// catalogue, the saved settings and the lock, and is never served.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { ConfigError, NotFoundError } from '../repo-layout/errors.js';
import { JsonYumCatalogue } from '../repo-layout/yum/yum-catalogue.js';
import { sortPackages, updateYum, type PublishYumOptions, type YumRepoContext, type YumUpdate } from '../repo-layout/yum/yum-repo.js';
import type { PublishedStorage } from '../storage/storage.js';
import { BULK_SYNC_MIN } from '../storage/fs-storage.js';
import { commandRelay } from '../repo-layout/command-relay.js';
import { lockWaitMs, openRepoStorage, storageOptions, traceCompleted, type StorageFlags } from './storage-option.js';
import { writeLines } from './output.js';
import { publishOptions } from './publish-flags.js';

// OpenPGP (~150 ms to load) only for commands that sign; cli/main.ts starts loading it early when --key is given.
const loadSigner: typeof import('../repo-layout/signing/openpgp-signer.js').loadSigner = async (o) => (await import('../repo-layout/signing/openpgp-signer.js')).loadSigner(o);

const DEFAULT_NAME = 'stable';

/** Where the repo `name` keeps its catalogue, settings and lock. */
const stateDir = (repo: string, name: string): string => path.join(path.resolve(repo), 'state', 'yum', name);

function context(repo: string, name: string, storage: PublishedStorage, flags: StorageFlags): YumRepoContext {
  return { storage, catalogue: new JsonYumCatalogue({ dir: stateDir(repo, name), lockWaitMs: lockWaitMs(flags) }), name };
}

function intArg(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`cannot use ${what} ${JSON.stringify(v)}: expected a whole number ≥ 0`);
    return n;
  };
}

const nameOption = (): Option => new Option('--name <name>', 'YUM repo name: files go to public/yum/<name>/').default(DEFAULT_NAME);

interface PublishFlags extends StorageFlags {
  key?: string;
  passphraseEnv?: string;
  passphraseFile?: string;
  profile?: 'modern' | 'el5';
  retention?: number;
  graceHours?: number;
  baseUrl?: string;
  name: string;
}

/** The signing and repo-setting options of publish (and of add/remove, which publish with --key): storage, key, saved settings. */
function yumPublishOptions(cmd: Command, keyRequired: boolean): Command {
  const settings = [
    new Option('--profile <profile>', 'modern (sha256 repodata) or el5 (sha1 repodata, EL5 rpms only) (saved; default modern)').choices(['modern', 'el5']),
    new Option('--retention <n>', 'keep the n newest versions per package name and arch (saved; 0 = all; default 3)').argParser(intArg('--retention')),
    new Option('--grace-hours <h>', 'delete unreferenced files after h hours (saved; default 24)').argParser(intArg('--grace-hours')),
    new Option('--base-url <url>', 'URL that serves <repo>/public, for the .repo file (saved; default file://<repo>/public)'),
  ];
  return publishOptions(storageOptions(cmd), { keyRequired, settings, publish: 'lxl yum publish' });
}

/** The publish `--key` asks for (the signer is loaded first: a bad key fails before anything changes). */
async function publishRequest(repo: string, o: PublishFlags, local: boolean): Promise<PublishYumOptions | undefined> {
  if (!o.key) return undefined;
  return {
    signer: await loadSigner({ keyFile: o.key, passphraseEnv: o.passphraseEnv, passphraseFile: o.passphraseFile }),
    settings: { profile: o.profile, retention: o.retention, graceHours: o.graceHours, baseUrl: o.baseUrl },
    defaultBaseUrl: local ? pathToFileURL(path.join(path.resolve(repo), 'public')).href : undefined,
  };
}

/** Runs one catalogue update (a change, published in the same update when --key is given) and prints what it did. */
async function runUpdate(repo: string, o: PublishFlags, change: Omit<YumUpdate, 'publish'>): Promise<void> {
  const rs = openRepoStorage(repo, o);
  // A big batch stored into the local folder ends with a syncfs through the relay's sh: forked now, while the heap is
  // small (an in-place add, whose rpms already are the pool files, stores nothing).
  const publicDir = path.resolve(repo, 'public') + path.sep;
  if (rs.local && (change.add?.length ?? 0) >= BULK_SYNC_MIN && change.add!.some((f) => !path.resolve(f).startsWith(publicDir))) commandRelay.start();
  await rs.locked(async () => {
    const started = new Date();
    const publish = await publishRequest(repo, o, rs.local);
    const r = await updateYum(context(repo, o.name, rs.storage, o), { ...change, publish });
    writeLines(r.added, (a) => `${a.status} ${a.href}\n`);
    writeLines(r.removed, (p) => `removed ${p.href}\n`);
    if (!r.published) return;
    // Last write of a completed publish; outside yum/<name>/ so the repo's GC never sees it.
    await traceCompleted(rs.storage, 'yum', started);
    writeLines(r.published.retired, (h) => `retired ${h}\n`);
    writeLines(r.published.deleted, (k) => `deleted ${k}\n`);
    process.stdout.write(`published yum/${o.name}: ${r.published.packages} package(s)\n`);
  });
}

/**
 * `lxl yum list`: what the repo's catalogue holds (what a publish makes visible), in the repodata's order (name, arch,
 * then rpm's version order); a NEVRA per line as `dnf repoquery` prints it, or JSON. Reads only the catalogue, without
 * the lock (each write renames a whole new file into place).
 */
async function listPackages(repo: string, o: { name: string; json?: boolean }): Promise<void> {
  const catalogue = new JsonYumCatalogue({ dir: stateDir(repo, o.name) });
  if (!existsSync(catalogue.file)) throw new NotFoundError(`cannot list ${repo}: it has no YUM repo named ${o.name} (${catalogue.file}; nothing was added yet)`);
  const { packages } = await catalogue.read();
  const rows = sortPackages(packages).map((p) => ({ name: p.name, epoch: p.epoch, version: p.version, release: p.release, arch: p.arch, href: p.href, size: p.packageSize, sha256: p.sha256 }));
  if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else writeLines(rows, (r) => `${r.name}-${r.epoch}:${r.version}-${r.release}.${r.arch}\n`);
}

/** Registers `lxl yum`. */
export function register(program: Command): void {
  const yum = program.command('yum').description('manage a signed YUM repository in a local repo folder (<repo>/public/yum/<name>/)');

  yumPublishOptions(
    yum
      .command('add')
      .description('validate rpms and add them to the repo (publish, or give --key, to make them visible)')
      .argument('<repo>', 'repo folder')
      .argument('<rpms...>', 'rpm files')
      .addOption(nameOption())
      .option('--link', 'hard-link the files into the pool instead of copying them (same file system; others are copied): no byte is copied, but the files must never be rewritten in place afterwards, since the published file would change with them'),
    false,
  ).action((repo: string, rpms: string[], o: PublishFlags & { link?: boolean }) => runUpdate(repo, o, { add: rpms, link: o.link }));

  yumPublishOptions(
    yum
      .command('remove')
      .description('remove packages by name, name-version or name-version-release (files are deleted after the grace period)')
      .argument('<repo>', 'repo folder')
      .argument('<package>', 'name[-version[-release]]')
      .addOption(nameOption()),
    false,
  ).action((repo: string, what: string, o: PublishFlags) => runUpdate(repo, o, { remove: what }));

  yum
    .command('list')
    .description('list the packages the catalogue holds (what a publish makes visible), a name-epoch:version-release.arch per line')
    .argument('<repo>', 'repo folder')
    .addOption(nameOption())
    .option('--json', 'a JSON array instead: name, epoch, version, release, arch, href (under public/yum/<name>/), size, sha256')
    .action((repo: string, o: { name: string; json?: boolean }) => listPackages(repo, o));

  yumPublishOptions(
    yum
      .command('publish')
      .description('write signed repodata (repomd.xml + .asc + .key) and the .repo file')
      .argument('<repo>', 'repo folder')
      .addOption(nameOption()),
    true,
  ).action((repo: string, o: PublishFlags) => runUpdate(repo, o, {}));
}
