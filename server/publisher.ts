// The publish seam and the runner around it. A Publisher turns one repo's
// catalogue into its signed published tree (the APT/YUM/tarball publishers
// plug in here). The PublishRunner takes the repo's lock in the metadata
// store (a second publish gets LockedError → 409), renews it while the
// publisher runs, records the outcome, and aborts cleanly on shutdown.

import type { Logger } from 'pino';
import { LockedError } from '../repo-layout/errors.js';
import { newId } from './ids.js';
import type { Actor, MetadataStore, PublishRecord, RepoRecord } from './metadata-store.js';

/** What a publish did, as JSON for the publish record. */
export type PublishReport = Record<string, unknown>;

/** Writes a repo's published tree from the catalogue. */
export interface Publisher {
  /** Publishes `repo`'s current catalogue in the safe order (DESIGN.md §5); stops with an error when `signal` aborts. */
  publish(repo: RepoRecord, signal: AbortSignal): Promise<PublishReport>;
}

/** A publisher for servers that have none configured yet: every publish fails with this reason. */
export class UnconfiguredPublisher implements Publisher {
  async publish(repo: RepoRecord): Promise<PublishReport> {
    throw new Error(`cannot publish repo ${repo.name}: the server has no signing key (start it with --signing-key or LXL_SIGNING_KEY)`);
  }
}

export interface PublishRunnerOptions {
  store: MetadataStore;
  publisher: Publisher;
  /** This server instance (lock owner). */
  owner: string;
  lockTtlMs: number;
  log: Logger;
  /** Called with the result of each finished publish (metrics). */
  onFinish?: (state: 'succeeded' | 'failed') => void;
}

interface Running {
  abort: AbortController;
  done: Promise<void>;
}

/** Starts publishes in the background, one per repo at a time across every instance sharing the store. */
export class PublishRunner {
  private readonly running = new Map<string, Running>();

  constructor(private readonly opts: PublishRunnerOptions) {}

  /** Takes the repo's lock and starts publishing; resolves as soon as it runs. LockedError when a publish of this repo is running. */
  async start(repo: RepoRecord, actor: Actor): Promise<PublishRecord> {
    const { store, owner, lockTtlMs } = this.opts;
    const id = newId('pub');
    const rec = await store.beginPublish({ id, repo: repo.name, owner, ttlMs: lockTtlMs }, actor);
    const abort = new AbortController();
    const done = this.run(repo, rec, abort, actor).finally(() => this.running.delete(id));
    this.running.set(id, { abort, done });
    return rec;
  }

  private async run(repo: RepoRecord, rec: PublishRecord, abort: AbortController, actor: Actor): Promise<void> {
    const { store, publisher, lockTtlMs, log } = this.opts;
    const renew = setInterval(() => {
      store.renewPublishLock(rec.id, lockTtlMs).then(
        (held) => {
          if (!held) abort.abort(new LockedError(`cannot finish publish ${rec.id}: its lock on ${repo.name} was lost`));
        },
        (err: unknown) => log.warn({ err, publish: rec.id }, 'cannot renew the publish lock'),
      );
    }, Math.max(250, Math.floor(lockTtlMs / 3)));
    let state: 'succeeded' | 'failed' = 'failed';
    try {
      const report = await publisher.publish(repo, abort.signal);
      abort.signal.throwIfAborted();
      state = 'succeeded';
      await store.finishPublish(rec.id, { state, report }, actor);
      log.info({ publish: rec.id, repo: repo.name }, 'publish succeeded');
    } catch (err) {
      const reason = abort.signal.aborted ? `aborted: ${String((abort.signal.reason as Error)?.message ?? abort.signal.reason)}` : (err as Error)?.message ?? String(err);
      log.error({ err, publish: rec.id, repo: repo.name }, 'publish failed');
      await store.finishPublish(rec.id, { state: 'failed', error: reason }, actor).catch((e: unknown) => log.error({ err: e, publish: rec.id }, 'cannot record the failed publish'));
    } finally {
      clearInterval(renew);
      this.opts.onFinish?.(state);
    }
  }

  /** Number of publishes running in this instance. */
  get active(): number {
    return this.running.size;
  }

  /** Resolves when every running publish has finished. */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Aborts every running publish (shutdown) and waits until each has recorded its outcome and released its lock. */
  async abortAll(reason: string): Promise<void> {
    for (const r of this.running.values()) r.abort.abort(new Error(reason));
    await this.idle();
  }
}

