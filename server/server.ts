// Assembles and runs one server: opens the metadata store (migrating it),
// recovers from an unclean stop (temp uploads swept, interrupted publishes
// failed and unlocked, then published again), ensures configured repos, listens, sweeps expired
// job leases, and shuts down gracefully: stop accepting, let uploads and
// publishes finish within the grace period, then abort them and release locks.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hasCode, LockedError } from '../repo-layout/errors.js';
import { pino, type Logger } from 'pino';
import { createApp } from './app.js';
import { FsArtifactStore, UNREFERENCED_GRACE_MS } from './artifact-store.js';
import { parseListen, serverPaths, type ServerConfig } from './config.js';
import type { ServerContext } from './context.js';
import { newId } from './ids.js';
import { defaultRepoSettings, type MetadataStore, type RepoRecord } from './metadata-store.js';
import { createMetrics } from './metrics.js';
import { PublishRunner, UnconfiguredPublisher, type Publisher } from './publisher.js';
import { SqliteStore } from './sqlite-store.js';
import { isSharedStore, openMetadataStore } from './open-store.js';
import { registerInstance } from './instance-registry.js';
import { RepoPublisher } from './repo-publisher.js';
import { loadSigner } from '../repo-layout/signing/openpgp-signer.js';
import path from 'node:path';
import { commandRelay, sweepRelayDirs } from '../repo-layout/command-relay.js';
import { processAlive } from '../storage/process-alive.js';

export interface StartOptions {
  /** How to publish (the APT/YUM publisher); default: publishes fail with "no publisher configured". */
  publisher?: Publisher | ((ctx: { store: MetadataStore; artifacts: FsArtifactStore; publicDir: string; log: Logger }) => Publisher);
  /** Logger; default pino to stderr at config.logLevel. */
  log?: Logger;
  /** Metadata store; default the configured one (SQLite file or PostgreSQL URL). */
  store?: MetadataStore;
}

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  ctx: ServerContext;
  /** Graceful stop; resolves when every connection, publish and the store are closed. */
  close(): Promise<void>;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Makes sure one embedded server at a time uses a state folder (SQLite and the startup recovery assume it); returns the release. */
async function claimVarDir(varDir: string): Promise<() => Promise<void>> {
  const file = path.join(varDir, 'server.pid');
  await mkdir(varDir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (pid !== process.pid && processAlive(pid)) throw new LockedError(`cannot start the server on ${varDir}: another lxl server (pid ${pid}) uses it; stop it first`);
      await rm(file, { force: true });
    }
  }
  throw new LockedError(`cannot start the server on ${varDir}: ${file} is contended`);
}

/** Starts a server for `config`; resolves once it listens. */
export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? pino({ level: config.logLevel, redact: ['req.headers.authorization', '*.token', 'token'] }, pino.destination(2));
  const paths = serverPaths(config);
  const owner = `${hostname()}:${process.pid}:${newId('inst')}`;
  // The publishes' xz and syncfs run through one sh forked now, while the heap is small (repo-layout/command-relay.ts).
  commandRelay.start();

  // SQLite: one server per state folder. PostgreSQL: several instances may share it (README "Scaling out").
  const shared = opts.store ? !(opts.store instanceof SqliteStore) : isSharedStore(config.database);
  const instance = shared ? await registerInstance(config.var, owner) : undefined;
  const releaseVar = instance ? instance.release : opts.store ? async () => {} : await claimVarDir(config.var);
  const store = opts.store ?? openMetadataStore({ database: config.database, defaultFile: paths.dbFile, onIdleError: (err) => log.warn({ err }, 'lost an idle PostgreSQL connection') });
  const version = await store.migrate();
  const artifacts = new FsArtifactStore({ root: paths.artifacts });
  await artifacts.init();
  // Temp files of cut uploads, unless another live instance may be writing one right now.
  const swept = instance && !instance.alone ? 0 : await artifacts.sweepTemp();
  // Artifacts stored but never catalogued (the server died in between); the grace period spares other instances' fresh uploads.
  const unreferenced = await artifacts.sweepUnreferenced(new Set(await store.listArtifactDigests()), { graceMs: UNREFERENCED_GRACE_MS });
  // Command-relay folders of killed processes (this server's last run, a SIGKILLed `lxl apt`), by their dead pids.
  const relayDirs = await sweepRelayDirs();
  // SQLite is one process's store: any publish still marked running was interrupted by our own crash.
  // Shared: only expired ones, and those of instances on this host that died (their pid is gone).
  let abandoned = await store.abandonPublishes(shared ? { owner } : { all: true });
  for (const dead of instance?.deadOwners ?? []) abandoned += await store.abandonPublishes({ owner: dead });
  await store.expireLeases();
  for (const r of config.repos) {
    if (await store.getRepo(r.name)) continue;
    // Another instance starting at the same time may create it first.
    await store.createRepo(r.name, defaultRepoSettings(r.settings), 'config').catch((err: unknown) => {
      if (!hasCode(err, 'E_CONFLICT')) throw err;
    });
  }
  log.info({ schema: version, sweptTempFiles: swept, sweptArtifacts: unreferenced.artifacts.length, sweptRelayDirs: relayDirs.length, abandonedPublishes: abandoned }, 'metadata store ready');

  let repoPublisher: RepoPublisher | undefined;
  let publisher: Publisher;
  if (typeof opts.publisher === 'function') publisher = opts.publisher({ store, artifacts, publicDir: paths.publicDir, log });
  else if (opts.publisher) publisher = opts.publisher;
  else if (config.signing) {
    const signer = await loadSigner({ keyFile: path.resolve(config.signing.keyFile), passphraseEnv: config.signing.passphraseEnv, passphraseFile: config.signing.passphraseFile });
    publisher = repoPublisher = new RepoPublisher({ store, artifacts, publicDir: paths.publicDir, stateDir: paths.stateDir, signer, baseUrl: config.publicUrl, storage: config.storage, log });
  } else publisher = new UnconfiguredPublisher();
  const metrics = createMetrics(store);
  let draining = false;
  const publishes = new PublishRunner({ store, publisher, owner, lockTtlMs: config.publish.lockTtlSeconds * 1000, log, onFinish: (s) => metrics.publishes.inc({ result: s }) });
  const ctx: ServerContext = { config, store, artifacts, publishes, metrics, log, draining: () => draining };
  const app = createApp(ctx, { artifactsDir: paths.artifacts, publicDir: config.serveStatic ? paths.publicDir : undefined, version: packageVersion() });

  const server: Server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 }, app);
  const { host, port } = parseListen(config.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url, var: config.var, serveStatic: config.serveStatic }, 'lxl server listening');
  if (repoPublisher && !config.publicUrl && config.serveStatic) repoPublisher.baseUrl = url;

  // A publish cut short by a crash, a lost lock or a shutdown may have left the served tree between two states (on S3,
  // a repomd.xml whose new .asc was not written yet): publish those repos again now, so clients see one whole state.
  if (repoPublisher) {
    for (const repo of await cutShortRepos(store)) {
      await publishes.start(repo, RECOVERY_ACTOR).then(
        (p) => log.warn({ repo: repo.name, publish: p.id }, 'the last publish of this repo was cut short: publishing it again'),
        (err: unknown) => log.warn({ err, repo: repo.name }, 'cannot start the recovery publish (another instance may be publishing)'),
      );
    }
  }

  const sweeper = setInterval(() => {
    store.expireLeases().catch((err: unknown) => log.warn({ err }, 'cannot expire job leases'));
  }, config.jobs.sweepSeconds * 1000);
  sweeper.unref();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      clearInterval(sweeper);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = config.shutdownGraceSeconds * 1000;
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), grace).unref());
      const finished = await Promise.race([Promise.all([closed, publishes.idle()]).then(() => 'done' as const), timer]);
      if (finished === 'timeout') log.warn('shutdown grace period over: aborting uploads and publishes');
      // Aborted publishes record their failure and release their locks before the store closes.
      await publishes.abortAll('the server is shutting down');
      server.closeAllConnections();
      await closed;
      await store.close();
      await releaseVar();
      log.info('lxl server stopped');
    })();
    return closing;
  };
  return { url, port: addr.port, ctx, close };
}

/** Who the start-up recovery publishes are recorded as. */
export const RECOVERY_ACTOR = 'lxl server (recovery)';

/** Repos whose latest publish was cut short (the server died or stopped in it, or lost its lock) rather than failing on its own. */
async function cutShortRepos(store: MetadataStore): Promise<RepoRecord[]> {
  const out: RepoRecord[] = [];
  for (const repo of await store.listRepos()) {
    const [last] = await store.listPublishes(repo.name, 1);
    if (last?.state === 'failed' && /^(interrupted|lock expired|aborted):/.test(last.error ?? '')) out.push(repo);
  }
  return out;
}
