// `lxl apt add|remove|publish`: manage a local APT repo folder.
// `<repo>/public/` (or `--storage`, e.g. an S3 bucket) is the published tree
// (apt/dists, apt/pool, keys/), written only through PublishedStorage;
// `<repo>/state/` holds the catalogue, the saved publish settings and the
// lock, and is never served.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import type { PublishedStorage } from '../storage/storage.js';
import { lockWaitMs, openRepoStorage, storageOptions, traceCompleted, type StorageFlags } from './storage-option.js';
import { publishOptions } from './publish-flags.js';
import { writeLines } from './output.js';
import { ConfigError, NotFoundError } from '../repo-layout/errors.js';
import { JsonAptCatalog, lockRepoState, writeStateFile } from '../repo-layout/apt/apt-catalog.js';
import { addDebs, parseRemoveSpec, removePackages } from '../repo-layout/apt/apt-changes.js';
import { publishApt, type AptPublishOptions } from '../repo-layout/apt/apt-publish.js';
import { FsXzBlockCache } from '../repo-layout/apt/packages-xz.js';
import { comparePackages } from '../repo-layout/apt/apt-packages.js';
import type { Signer } from '../repo-layout/signing/signer.js';
import { commandRelay } from '../repo-layout/command-relay.js';
import { reuseServedStanzas } from '../repo-layout/apt/served-stanzas.js';

// OpenPGP (~150 ms to load) only for commands that sign; cli/main.ts starts loading it early when --key is given.
const loadSigner: typeof import('../repo-layout/signing/openpgp-signer.js').loadSigner = async (o) => (await import('../repo-layout/signing/openpgp-signer.js')).loadSigner(o);

/** Publish settings saved in `<repo>/state/apt/settings.json`; flags override and update them. */
interface AptSettings {
  origin: string;
  label: string;
  name: string;
  validDays: number;
  retention: number;
  graceHours: number;
  baseUrl?: string;
  defaultSuite?: string;
  xzLevel: number;
}

const DEFAULTS: AptSettings = { origin: 'linux-xen-legacy', label: 'linux-xen-legacy', name: 'linux-xen-legacy', validDays: 0, retention: 0, graceHours: 24, xzLevel: 6 };

interface PublishFlags extends StorageFlags {
  key?: string;
  passphraseEnv?: string;
  passphraseFile?: string;
  origin?: string;
  label?: string;
  name?: string;
  suites?: string;
  validDays?: number;
  retention?: number;
  graceHours?: number;
  baseUrl?: string;
  defaultSuite?: string;
  xzLevel?: number;
}

function repoPaths(repo: string): { stateDir: string } {
  return { stateDir: path.join(path.resolve(repo), 'state') };
}

function intArg(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`cannot use ${what} ${JSON.stringify(v)}: expected a number ≥ 0`);
    return n;
  };
}

/** The signing and Release options of publish (and of add/remove, which publish with --key): storage, key, saved settings. */
function aptPublishOptions(cmd: Command, keyRequired: boolean): Command {
  const settings = [
    new Option('--origin <text>', `Release Origin (saved; default ${DEFAULTS.origin})`),
    new Option('--label <text>', `Release Label (saved; default ${DEFAULTS.label})`),
    new Option('--name <name>', `repo name for keys/<name>.asc|.gpg and apt/<name>.sources|.list (saved; default ${DEFAULTS.name})`),
    new Option('--suites <list>', 'publish only these comma-separated suites (default: all)'),
    new Option('--valid-days <n>', 'add Valid-Until = Date + n days (saved; 0 = none)').argParser(intArg('--valid-days')),
    new Option('--retention <n>', 'keep the n newest versions of each package name (saved; 0 = keep all)').argParser(intArg('--retention')),
    new Option('--grace-hours <h>', `delete unreferenced by-hash and pool files after h hours (saved; default ${DEFAULTS.graceHours})`).argParser(intArg('--grace-hours')),
    new Option('--base-url <url>', 'URL that serves <repo>/public, for the .sources/.list files (saved)'),
    new Option('--default-suite <suite>', 'suite named in the .sources/.list files (saved; default stable)'),
    new Option('--xz-level <0-9>', `xz preset for Packages.xz (saved; default ${DEFAULTS.xzLevel}; 1 publishes large suites several times faster)`).argParser(intArg('--xz-level')),
  ];
  return publishOptions(storageOptions(cmd), { keyRequired, settings, publish: 'lxl apt publish' });
}

/** The saved settings over the defaults, and the file's text (undefined when none is saved yet). */
async function loadSettings(stateDir: string): Promise<{ settings: AptSettings; text?: string }> {
  const file = path.join(stateDir, 'apt', 'settings.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { settings: { ...DEFAULTS } };
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return { settings: { ...DEFAULTS, ...(JSON.parse(text) as Partial<AptSettings>) }, text };
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The repo's Packages.xz block cache. */
function xzBlockCache(repo: string): FsXzBlockCache {
  return new FsXzBlockCache(path.join(repoPaths(repo).stateDir, 'apt', 'xz-blocks'));
}

/** A publish checked before the change it follows: the merged and valid settings, the key loading, the xz block cache. */
interface PublishPlan {
  settings: AptSettings;
  /** The saved settings file's text (undefined when none is saved yet). */
  savedText?: string;
  /** Loads while the change runs (the add's Packages.xz blocks compress meanwhile); a bad key fails the publish. */
  signer: Promise<Signer>;
  cache: FsXzBlockCache;
}

/** Merges the flags over the saved settings and checks them, so bad ones fail before anything changes; starts loading the key. */
async function planPublish(repo: string, flags: PublishFlags): Promise<PublishPlan> {
  if (!flags.key) throw new ConfigError('cannot publish: --key <secret.asc> is required');
  const { settings: saved, text: savedText } = await loadSettings(repoPaths(repo).stateDir);
  const s: AptSettings = {
    origin: flags.origin ?? saved.origin,
    label: flags.label ?? saved.label,
    name: flags.name ?? saved.name,
    validDays: flags.validDays ?? saved.validDays,
    retention: flags.retention ?? saved.retention,
    graceHours: flags.graceHours ?? saved.graceHours,
    baseUrl: flags.baseUrl ?? saved.baseUrl,
    defaultSuite: flags.defaultSuite ?? saved.defaultSuite,
    xzLevel: flags.xzLevel ?? saved.xzLevel,
  };
  if (!Number.isInteger(s.xzLevel) || s.xzLevel > 9) throw new ConfigError(`cannot use --xz-level ${s.xzLevel}: expected 0-9`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s.name)) throw new ConfigError(`cannot use --name ${JSON.stringify(s.name)}: use letters, digits, '.', '_' and '-'`);
  const signer = loadSigner({ keyFile: flags.key, passphraseEnv: flags.passphraseEnv, passphraseFile: flags.passphraseFile });
  // Awaited by the publish; a change that fails first leaves it unawaited, which must not end the process.
  signer.catch(() => {});
  return { settings: s, savedText, signer, cache: xzBlockCache(repo) };
}

/**
 * Signs and publishes every suite (or --suites) with the planned settings, and saves them. `opts`: what an add just
 * stored (AptPublishOptions).
 */
async function runPublish(
  repo: string,
  flags: PublishFlags,
  catalog: JsonAptCatalog,
  storage: PublishedStorage,
  plan: PublishPlan,
  opts: Pick<AptPublishOptions, 'poolFilesPresent' | 'poolDurable'> = {},
): Promise<void> {
  const { stateDir } = repoPaths(repo);
  const started = new Date();
  const s = plan.settings;
  const signer = await plan.signer;
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const report = await publishApt({
    storage,
    catalog,
    signer,
    suites: flags.suites ? flags.suites.split(',').map((x) => x.trim()).filter(Boolean) : undefined,
    origin: s.origin,
    label: s.label,
    name: s.name,
    date: epoch && /^[0-9]+$/.test(epoch) ? new Date(Number(epoch) * 1000) : undefined,
    validDays: s.validDays,
    retention: s.retention,
    graceMs: s.graceHours * 3_600_000,
    baseUrl: s.baseUrl,
    defaultSuite: s.defaultSuite,
    xzLevel: s.xzLevel,
    // After an add, the cache instance keeps the blocks it compressed in memory: no reading and checking them again.
    xzBlockCache: plan.cache,
    poolFilesPresent: opts.poolFilesPresent,
    poolDurable: opts.poolDurable,
    // Progress on a terminal only; piped output stays one line per result.
    onStep: process.stderr.isTTY ? (st) => process.stderr.write(st === 'done' ? '\r\x1b[K' : `\r\x1b[Klxl apt publish: ${st}…`) : undefined,
  });
  // Last write of a completed publish, outside the GC's view (apt/project/trace/<host>).
  await traceCompleted(storage, 'apt', started);
  // A durable write only when the settings changed.
  const text = `${JSON.stringify(s, null, 2)}\n`;
  if (text !== plan.savedText) await writeStateFile(path.join(stateDir, 'apt', 'settings.json'), text);
  writeLines(report.pruned, (p) => `pruned ${p.record.name} ${p.record.version} ${p.record.arch} from ${p.suite} (retention ${s.retention})\n`);
  writeLines(report.deleted, (k) => `deleted ${k} (unreferenced for ${s.graceHours} h)\n`);
  writeLines(report.suites, (x) => `published ${x.suite}: ${x.packages} package(s)\n`);
}

/**
 * Runs a change under the bucket's publish lock (S3; taken first, so a loser never touches the catalogue) and the
 * repo's state lock, each waited for up to --lock-wait. The catalogue is written once, at the end (`add --key` adds, prunes and publishes).
 */
async function withRepo(repo: string, flags: StorageFlags & { key?: string }, fn: (catalog: JsonAptCatalog, storage: PublishedStorage) => Promise<void>): Promise<void> {
  const { stateDir } = repoPaths(repo);
  // A publish runs xz (and a big batch syncfs) through the relay's sh: forked now, while the heap is small.
  if (flags.key) commandRelay.start();
  const rs = openRepoStorage(repo, flags);
  await rs.locked(async () => {
    const unlock = await lockRepoState(stateDir, { waitMs: lockWaitMs(flags) });
    try {
      const catalog = new JsonAptCatalog({ stateDir });
      // A publish follows: the stanzas of packages already published come back from the served Packages files (read
      // from the local folder; from a bucket they would cost more than formatting them).
      if (flags.key && rs.local) await reuseServedStanzas({ storage: rs.storage, catalog, suites: await catalog.suites() });
      await catalog.inOneWrite(() => fn(catalog, rs.storage));
    } finally {
      await unlock();
    }
  });
}

/**
 * `lxl apt list`: what the catalogue holds (what a publish makes visible), by suite, then in the Packages files' order
 * (name, Debian version, architecture); a line per package as reprepro's `list` prints it, or JSON. Reads only
 * `<repo>/state`, without the lock (each catalogue write renames a whole new file into place).
 */
async function listPackages(repo: string, o: { suite?: string; json?: boolean }): Promise<void> {
  const catalog = new JsonAptCatalog(repoPaths(repo));
  if (!existsSync(catalog.file)) throw new NotFoundError(`cannot list ${repo}: it has no APT catalogue (${catalog.file}; nothing was added yet)`);
  const suites = await catalog.suites();
  if (o.suite !== undefined && !suites.includes(o.suite)) throw new NotFoundError(`cannot list suite ${o.suite}: ${repo} has ${suites.length ? `only ${suites.join(', ')}` : 'no suite'}`);
  const rows = [];
  for (const suite of o.suite === undefined ? suites : [o.suite]) {
    const recs = (await catalog.list(suite)).sort(comparePackages);
    rows.push(...recs.map((r) => ({ suite, component: 'main', arch: r.arch, name: r.name, version: r.version, source: r.source, filename: r.filename, size: r.size, sha256: r.sha256 })));
  }
  if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else writeLines(rows, (r) => `${r.suite}|${r.component}|${r.arch}: ${r.name} ${r.version}\n`);
}

/** Registers `lxl apt`. */
export function register(program: Command): void {
  const apt = program.command('apt').description('manage a signed APT repository in a local folder (<repo>/public is what HTTP serves, or --storage)');

  aptPublishOptions(
    apt
      .command('add')
      .description('add .deb files to a suite (re-adding an identical file is a no-op; another file with the same name, version and arch is refused)')
      .argument('<repo>', 'repo folder')
      .argument('<debs...>', '.deb files')
      .option('--suite <suite>', 'suite to add to', 'stable')
      .option('--link', 'hard-link the files into the pool instead of copying them (same file system; others are copied): no byte is copied, but the files must never be rewritten in place afterwards, since the published file would change with them'),
    false,
  ).action(async (repo: string, debs: string[], o: PublishFlags & { suite: string; link?: boolean }) => {
    await withRepo(repo, o, async (catalog, storage) => {
      // With --key the publish follows at once: its Packages.xz blocks are compressed while the pool files are stored.
      const plan = o.key ? await planPublish(repo, o) : undefined;
      const xz = plan ? { cache: plan.cache, level: plan.settings.xzLevel } : undefined;
      // With a publish to follow, the pool's flush overlaps the publish's first steps (it awaits the flush before any
      // index that lists the new files changes); an add alone waits for it.
      let poolDurable: Promise<void> | undefined;
      const results = await addDebs({ storage, catalog, suite: o.suite, files: debs, link: o.link, xz, poolDurability: plan ? (d) => (poolDurable = d) : undefined });
      writeLines(results, ({ record: r, outcome }) => `${outcome} ${r.name} ${r.version} ${r.arch} in ${o.suite}\n`);
      if (!plan) return;
      try {
        // Every record's pool file is in place once addDebs returns: the publish does not stat them again.
        await runPublish(repo, o, catalog, storage, plan, { poolFilesPresent: new Set(results.map((x) => x.record.filename)), poolDurable });
      } finally {
        // A publish that failed first: the flush still ends before the catalogue is written and the process exits.
        await poolDurable?.catch(() => {});
      }
    });
  });

  aptPublishOptions(
    apt
      .command('remove')
      .description('remove a package (all versions, or name=version) from a suite; its pool file is deleted after the grace period')
      .argument('<repo>', 'repo folder')
      .argument('<packages...>', 'name or name=version')
      .option('--suite <suite>', 'suite to remove from', 'stable')
      .option('--arch <arch>', 'only this architecture (amd64, i386, all)'),
    false,
  ).action(async (repo: string, pkgs: string[], o: PublishFlags & { suite: string; arch?: string }) => {
    await withRepo(repo, o, async (catalog, storage) => {
      const plan = o.key ? await planPublish(repo, o) : undefined;
      const removed = await removePackages(catalog, o.suite, pkgs.map((p) => parseRemoveSpec(p, o.arch)));
      writeLines(removed, (r) => `removed ${r.name} ${r.version} ${r.arch} from ${o.suite}\n`);
      if (plan) await runPublish(repo, o, catalog, storage, plan);
    });
  });

  apt
    .command('list')
    .description('list the packages the catalogue holds (what a publish makes visible): suite|main|arch: name version')
    .argument('<repo>', 'repo folder')
    .option('--suite <suite>', 'only this suite')
    .option('--json', 'a JSON array instead: suite, component, arch, name, version, source, filename (pool path), size, sha256')
    .action((repo: string, o: { suite?: string; json?: boolean }) => listPackages(repo, o));

  aptPublishOptions(
    apt
      .command('publish')
      .description('write Packages, Release, InRelease and Release.gpg for every suite, by-hash copies, keys and sources files; settings given here are saved for next time')
      .argument('<repo>', 'repo folder'),
    true,
  ).action(async (repo: string, o: PublishFlags) => {
    await withRepo(repo, o, async (catalog, storage) => runPublish(repo, o, catalog, storage, await planPublish(repo, o)));
  });
}
