// The MetadataStore on PostgreSQL (the `pg` driver), for several server
// instances sharing one catalogue. Same migrations as SQLite (the SQL files
// are portable), same semantics; what SQLite gets from its single writer
// lock, PostgreSQL gets from row locks taken inside each transaction:
// - job leasing picks a queued row with FOR UPDATE SKIP LOCKED, so instances
//   leasing at once never hand out one job twice and never wait on each other;
// - lease expiry is data (lease_expires_at), swept by whichever instance runs
//   next (SKIP LOCKED again), so a worker may talk to any instance;
// - the publish lock is the publish_locks row with its expiry, taken while
//   holding the repo row (FOR NO KEY UPDATE), so exactly one instance takes it.
// Times come from this process's clock (as with SQLite): keep the instances'
// clocks in sync (NTP); lock and lease TTLs are seconds, skew is milliseconds.

import pg from 'pg';
import { ConflictError, LockedError, NotFoundError, StorageError } from '../repo-layout/errors.js';
import { newId } from './ids.js';
import { loadMigrations, SCHEMA_VERSION_DDL } from './migrations.js';
import type {
  Actor,
  AddPackageResult,
  ArtifactRecord,
  AuditEntry,
  BuildRecord,
  Channel,
  JobRecord,
  JobState,
  LeaseRequest,
  LogSlice,
  MetadataStore,
  NewJob,
  NewPackage,
  PackageFilter,
  PackageRecord,
  PublishRecord,
  RepoRecord,
  RepoSettings,
  TokenRecord,
} from './metadata-store.js';
import { json, toAudit, toBuild, toJob, toPackage, toPublish, toRepo, toToken, type Row } from './store-rows.js';

export interface PgStoreOptions {
  /** Connection URL, `postgres://user:password@host:port/database`. */
  url: string;
  /** Connections per instance (default 10). */
  maxConnections?: number;
  /** Clock in ms since the epoch (tests move it to expire leases). */
  now?: () => number;
  /** Told about errors of idle pooled connections (the pool drops them and reconnects). */
  onIdleError?: (err: Error) => void;
}

/** Key of the advisory lock that serialises migrations of instances starting together. */
const MIGRATE_LOCK = 0x6c786c; // "lxl"

/** Turns the `?` placeholders the store's SQL is written with into pg's `$1, $2, …` (no `?` appears in literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** A connection URL with its password hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** Query helpers over one client (inside a transaction) or the pool. */
class Q {
  constructor(private readonly c: pg.Pool | pg.PoolClient) {}

  async get(sql: string, ...args: unknown[]): Promise<Row | undefined> {
    return (await this.c.query(numbered(sql), args)).rows[0] as Row | undefined;
  }

  async all(sql: string, ...args: unknown[]): Promise<Row[]> {
    return (await this.c.query(numbered(sql), args)).rows as Row[];
  }

  /** Runs a statement; resolves to the number of rows it changed. */
  async run(sql: string, ...args: unknown[]): Promise<number> {
    return (await this.c.query(numbered(sql), args)).rowCount ?? 0;
  }

  /** Runs a script of several statements (no parameters). */
  async exec(sql: string): Promise<void> {
    await this.c.query(sql);
  }
}

/** The PostgreSQL MetadataStore (several server instances). */
export class PgStore implements MetadataStore {
  readonly url: string;
  private readonly pool: pg.Pool;
  private readonly q: Q;
  private readonly now: () => number;

  constructor(opts: PgStoreOptions) {
    this.url = redactUrl(opts.url);
    this.now = opts.now ?? Date.now;
    this.pool = new pg.Pool({ connectionString: opts.url, max: opts.maxConnections ?? 10 });
    this.pool.on('error', (err) => opts.onIdleError?.(err));
    this.q = new Q(this.pool);
  }

  /** Runs `fn` in one READ COMMITTED transaction; the row locks it takes make read-then-write safe. */
  private async tx<T>(fn: (q: Q) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await fn(new Q(client));
      await client.query('COMMIT');
      return out;
    } catch (err) {
      // A failed ROLLBACK means the connection is gone: destroy it instead of returning it to the pool.
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async auditNow(q: Q, actor: Actor, action: string, target: string, detail?: Record<string, unknown>): Promise<void> {
    await q.run('INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)', newId('aud'), this.now(), actor, action, target, detail ? json(detail) : null);
  }

  async migrate(): Promise<number> {
    try {
      return await this.tx(async (q) => {
        await q.get('SELECT pg_advisory_xact_lock(?)', MIGRATE_LOCK);
        await q.exec(SCHEMA_VERSION_DDL);
        const done = new Set((await q.all('SELECT version FROM schema_version')).map((r) => Number(r.version)));
        for (const m of loadMigrations()) {
          if (done.has(m.version)) continue;
          await q.exec(m.sql);
          await q.run('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)', m.version, m.name, this.now());
        }
        return Number((await q.get('SELECT MAX(version) AS v FROM schema_version'))?.v ?? 0);
      });
    } catch (err) {
      throw new StorageError(`cannot open the PostgreSQL metadata store ${this.url}: ${(err as Error).message}; check the URL, that the server runs and that the role may create tables`, { cause: err });
    }
  }

  async ping(): Promise<void> {
    await this.q.get('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  // ---- tokens

  async createToken(rec: Omit<TokenRecord, 'createdAt' | 'revokedAt' | 'lastUsedAt'>, actor: Actor): Promise<TokenRecord> {
    return this.tx(async (q) => {
      await q.run('INSERT INTO tokens (id, name, scopes, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)', rec.id, rec.name, json(rec.scopes), rec.hash, this.now(), rec.expiresAt ?? null);
      await this.auditNow(q, actor, 'token.create', `token:${rec.id}`, { name: rec.name, scopes: rec.scopes });
      return toToken((await q.get('SELECT * FROM tokens WHERE id = ?', rec.id))!);
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const r = await this.q.get('SELECT * FROM tokens WHERE id = ?', id);
    return r ? toToken(r) : undefined;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.q.all('SELECT * FROM tokens ORDER BY created_at DESC, id DESC')).map(toToken);
  }

  async revokeToken(id: string, actor: Actor): Promise<TokenRecord> {
    return this.tx(async (q) => {
      const r = await q.get('SELECT * FROM tokens WHERE id = ? FOR UPDATE', id);
      if (!r) throw new NotFoundError(`cannot revoke token ${id}: no such token (see \`lxl tokens list\`)`);
      if (r.revoked_at === null) {
        await q.run('UPDATE tokens SET revoked_at = ? WHERE id = ?', this.now(), id);
        await this.auditNow(q, actor, 'token.revoke', `token:${id}`, { name: r.name });
      }
      return toToken((await q.get('SELECT * FROM tokens WHERE id = ?', id))!);
    });
  }

  async touchToken(id: string): Promise<void> {
    await this.q.run('UPDATE tokens SET last_used_at = ? WHERE id = ?', this.now(), id);
  }

  // ---- repos

  async createRepo(name: string, settings: RepoSettings, actor: Actor): Promise<RepoRecord> {
    return this.tx(async (q) => {
      const at = this.now();
      // ON CONFLICT: two instances creating the same repo at once get one row and one ConflictError, never a raw unique violation.
      if ((await q.run('INSERT INTO repos (name, settings, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING', name, json(settings), at, at)) === 0) {
        throw new ConflictError(`cannot create repo ${name}: it already exists`);
      }
      await this.auditNow(q, actor, 'repo.create', `repo:${name}`, { settings });
      return toRepo((await q.get('SELECT * FROM repos WHERE name = ?', name))!);
    });
  }

  async updateRepo(name: string, settings: RepoSettings, actor: Actor): Promise<RepoRecord> {
    return this.tx(async (q) => {
      if ((await q.run('UPDATE repos SET settings = ?, updated_at = ? WHERE name = ?', json(settings), this.now(), name)) === 0) {
        throw new NotFoundError(`cannot update repo ${name}: no such repo`);
      }
      await this.auditNow(q, actor, 'repo.update', `repo:${name}`, { settings });
      return toRepo((await q.get('SELECT * FROM repos WHERE name = ?', name))!);
    });
  }

  async getRepo(name: string): Promise<RepoRecord | undefined> {
    const r = await this.q.get('SELECT * FROM repos WHERE name = ?', name);
    return r ? toRepo(r) : undefined;
  }

  async listRepos(): Promise<RepoRecord[]> {
    return (await this.q.all('SELECT * FROM repos ORDER BY name')).map(toRepo);
  }

  // ---- packages and artifacts

  async addPackage(pkg: NewPackage, actor: Actor): Promise<AddPackageResult> {
    return this.tx(async (q) => {
      if (!(await q.get('SELECT name FROM repos WHERE name = ?', pkg.repo))) throw new NotFoundError(`cannot add a package to repo ${pkg.repo}: no such repo`);
      let channel: Channel = 'testing';
      if (pkg.buildId) {
        const b = await q.get('SELECT * FROM builds WHERE id = ?', pkg.buildId);
        if (!b || b.repo !== pkg.repo) throw new NotFoundError(`cannot attach the upload to build ${pkg.buildId}: no such build in repo ${pkg.repo}`);
        channel = b.channel as Channel;
      }
      const at = this.now();
      const id = newId('pkg');
      await q.run('INSERT INTO artifacts (sha256, size, created_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING', pkg.sha256, pkg.size, at);
      // Insert-or-nothing, then look: a concurrent upload of the same identity waits on the unique index and sees the winner's row.
      const created = await q.run(
        'INSERT INTO packages (id, repo, kind, name, version, arch, line, filename, sha256, size, build_id, channel, meta, uploaded_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repo, kind, name, version, arch) DO NOTHING',
        id, pkg.repo, pkg.kind, pkg.name, pkg.version, pkg.arch, pkg.line, pkg.filename, pkg.sha256, pkg.size, pkg.buildId ?? null, channel, json(pkg.meta), actor, at,
      );
      if (created === 0) {
        const existing = (await q.get('SELECT * FROM packages WHERE repo = ? AND kind = ? AND name = ? AND version = ? AND arch = ?', pkg.repo, pkg.kind, pkg.name, pkg.version, pkg.arch))!;
        if (existing.sha256 === pkg.sha256) return { record: toPackage(existing), created: false };
        throw new ConflictError(
          `cannot add ${pkg.kind} ${pkg.name} ${pkg.version} (${pkg.arch}) to ${pkg.repo}: a different file (sha256 ${String(existing.sha256)}) is already catalogued under that name, version and arch; published packages are immutable, so bump the version`,
        );
      }
      await this.auditNow(q, actor, 'package.add', `repo:${pkg.repo}`, { id, kind: pkg.kind, name: pkg.name, version: pkg.version, arch: pkg.arch, sha256: pkg.sha256 });
      return { record: toPackage((await q.get('SELECT * FROM packages WHERE id = ?', id))!), created: true };
    });
  }

  async getPackage(id: string): Promise<PackageRecord | undefined> {
    const r = await this.q.get('SELECT * FROM packages WHERE id = ?', id);
    return r ? toPackage(r) : undefined;
  }

  async findPackage(k: Pick<PackageRecord, 'repo' | 'kind' | 'name' | 'version' | 'arch'>): Promise<PackageRecord | undefined> {
    const r = await this.q.get('SELECT * FROM packages WHERE repo = ? AND kind = ? AND name = ? AND version = ? AND arch = ?', k.repo, k.kind, k.name, k.version, k.arch);
    return r ? toPackage(r) : undefined;
  }

  async listPackages(f: PackageFilter): Promise<PackageRecord[]> {
    const where = ['repo = ?'];
    const args: unknown[] = [f.repo];
    if (f.channel) where.push('channel = ?'), args.push(f.channel);
    if (f.kind) where.push('kind = ?'), args.push(f.kind);
    if (f.buildId) where.push('build_id = ?'), args.push(f.buildId);
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
    const rows = await this.q.all(`SELECT * FROM packages WHERE ${where.join(' AND ')} ORDER BY name COLLATE "C", version COLLATE "C", arch COLLATE "C", kind COLLATE "C"`, ...args);
    return rows.map(toPackage);
  }

  async getArtifact(sha256: string): Promise<ArtifactRecord | undefined> {
    const r = await this.q.get('SELECT * FROM artifacts WHERE sha256 = ?', sha256);
    return r ? { sha256: String(r.sha256), size: Number(r.size), createdAt: Number(r.created_at) } : undefined;
  }

  async listArtifactDigests(): Promise<string[]> {
    return (await this.q.all('SELECT sha256 FROM artifacts ORDER BY sha256 COLLATE "C"')).map((r) => String(r.sha256));
  }

  // ---- builds

  async createBuild(b: Omit<BuildRecord, 'id' | 'channel' | 'createdAt' | 'promotedAt'>, actor: Actor): Promise<BuildRecord> {
    return this.tx(async (q) => {
      if (!(await q.get('SELECT name FROM repos WHERE name = ?', b.repo))) throw new NotFoundError(`cannot create a build in repo ${b.repo}: no such repo`);
      const id = newId('bld');
      await q.run('INSERT INTO builds (id, repo, line, version, flavour, arch, channel, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', id, b.repo, b.line, b.version, b.flavour, b.arch, 'testing', b.jobId ?? null, this.now());
      await this.auditNow(q, actor, 'build.create', `repo:${b.repo}`, { id, line: b.line, version: b.version, flavour: b.flavour, arch: b.arch });
      return toBuild((await q.get('SELECT * FROM builds WHERE id = ?', id))!);
    });
  }

  async getBuild(id: string): Promise<BuildRecord | undefined> {
    const r = await this.q.get('SELECT * FROM builds WHERE id = ?', id);
    return r ? toBuild(r) : undefined;
  }

  async listBuilds(repo: string): Promise<BuildRecord[]> {
    return (await this.q.all('SELECT * FROM builds WHERE repo = ? ORDER BY created_at DESC, id COLLATE "C" DESC', repo)).map(toBuild);
  }

  async promoteBuild(id: string, to: Channel, actor: Actor): Promise<BuildRecord> {
    return this.tx(async (q) => {
      const b = await q.get('SELECT * FROM builds WHERE id = ? FOR UPDATE', id);
      if (!b) throw new NotFoundError(`cannot promote build ${id}: no such build`);
      if (b.channel !== to) {
        await q.run('UPDATE builds SET channel = ?, promoted_at = ? WHERE id = ?', to, this.now(), id);
        const moved = await q.run('UPDATE packages SET channel = ? WHERE build_id = ?', to, id);
        await this.auditNow(q, actor, 'build.promote', `repo:${String(b.repo)}`, { id, from: b.channel, to, packages: moved });
      }
      return toBuild((await q.get('SELECT * FROM builds WHERE id = ?', id))!);
    });
  }

  // ---- jobs

  async enqueueJob(job: NewJob, actor: Actor): Promise<JobRecord> {
    return this.tx(async (q) => {
      if (!(await q.get('SELECT name FROM repos WHERE name = ?', job.repo))) throw new NotFoundError(`cannot enqueue a job for repo ${job.repo}: no such repo`);
      const id = newId('job');
      const at = this.now();
      await q.run(
        'INSERT INTO jobs (id, repo, kind, params, state, attempts, max_attempts, log_size, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, 0, ?, ?)',
        id, job.repo, job.kind, json(job.params), 'queued', job.maxAttempts ?? 3, at, at,
      );
      await this.auditNow(q, actor, 'job.enqueue', `job:${id}`, { repo: job.repo, kind: job.kind, params: job.params });
      return toJob((await q.get('SELECT * FROM jobs WHERE id = ?', id))!);
    });
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const r = await this.q.get('SELECT * FROM jobs WHERE id = ?', id);
    return r ? toJob(r) : undefined;
  }

  async listJobs(filter: { state?: JobState; repo?: string } = {}): Promise<JobRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) where.push('state = ?'), args.push(filter.state);
    if (filter.repo) where.push('repo = ?'), args.push(filter.repo);
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    return (await this.q.all(`SELECT * FROM jobs ${w} ORDER BY created_at DESC, id COLLATE "C" DESC`, ...args)).map(toJob);
  }

  /** Returns expired leases to the queue inside the caller's transaction; rows another instance is expiring right now are skipped. */
  private async expireLeasesTx(q: Q): Promise<number> {
    const now = this.now();
    const expired = await q.all("SELECT * FROM jobs WHERE state = 'leased' AND lease_expires_at < ? FOR UPDATE SKIP LOCKED", now);
    for (const r of expired) {
      const outOfTries = Number(r.attempts) >= Number(r.max_attempts);
      const error = `lease of ${String(r.lease_owner)} expired (attempt ${String(r.attempts)} of ${String(r.max_attempts)})`;
      await q.run(
        'UPDATE jobs SET state = ?, lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL, error = ?, updated_at = ? WHERE id = ?',
        outOfTries ? 'failed' : 'queued', error, now, r.id,
      );
      await this.auditNow(q, 'system', outOfTries ? 'job.fail' : 'job.requeue', `job:${String(r.id)}`, { reason: error });
    }
    return expired.length;
  }

  async expireLeases(): Promise<number> {
    return this.tx((q) => this.expireLeasesTx(q));
  }

  async leaseJob(req: LeaseRequest, actor: Actor): Promise<JobRecord | undefined> {
    return this.tx(async (q) => {
      await this.expireLeasesTx(q);
      const kinds = req.kinds?.length ? req.kinds : undefined;
      // SKIP LOCKED: a row another instance is leasing right now is passed over, not waited for and never handed out twice.
      const r = kinds
        ? await q.get("SELECT * FROM jobs WHERE state = 'queued' AND kind = ANY(?::text[]) ORDER BY created_at, id COLLATE \"C\" LIMIT 1 FOR UPDATE SKIP LOCKED", kinds)
        : await q.get("SELECT * FROM jobs WHERE state = 'queued' ORDER BY created_at, id COLLATE \"C\" LIMIT 1 FOR UPDATE SKIP LOCKED");
      if (!r) return undefined;
      const now = this.now();
      const leaseId = newId('lease');
      await q.run(
        "UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_id = ?, lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, updated_at = ? WHERE id = ?",
        leaseId, req.owner, now + req.ttlMs, now, now, r.id,
      );
      await this.auditNow(q, actor, 'job.lease', `job:${String(r.id)}`, { owner: req.owner, attempt: Number(r.attempts) + 1 });
      return toJob((await q.get('SELECT * FROM jobs WHERE id = ?', r.id))!);
    });
  }

  /** The job row, locked, if `leaseId` is its live lease; LockedError otherwise. */
  private async heldLease(q: Q, id: string, leaseId: string, what: string): Promise<Row> {
    const r = await q.get('SELECT * FROM jobs WHERE id = ? FOR UPDATE', id);
    if (!r) throw new NotFoundError(`cannot ${what} job ${id}: no such job`);
    if (r.state !== 'leased' || r.lease_id !== leaseId || Number(r.lease_expires_at) < this.now()) {
      throw new LockedError(`cannot ${what} job ${id}: this lease is no longer valid (it expired or the job was handed to another worker); stop working on it`);
    }
    return r;
  }

  async heartbeatJob(id: string, leaseId: string, ttlMs: number): Promise<JobRecord> {
    return this.tx(async (q) => {
      await this.heldLease(q, id, leaseId, 'heartbeat');
      const now = this.now();
      await q.run('UPDATE jobs SET lease_expires_at = ?, heartbeat_at = ?, updated_at = ? WHERE id = ?', now + ttlMs, now, now, id);
      return toJob((await q.get('SELECT * FROM jobs WHERE id = ?', id))!);
    });
  }

  async completeJob(id: string, leaseId: string, result: Record<string, unknown>, actor: Actor): Promise<JobRecord> {
    return this.tx(async (q) => {
      await this.heldLease(q, id, leaseId, 'complete');
      await q.run("UPDATE jobs SET state = 'succeeded', lease_id = NULL, lease_expires_at = NULL, result = ?, error = NULL, updated_at = ? WHERE id = ?", json(result), this.now(), id);
      await this.auditNow(q, actor, 'job.complete', `job:${id}`, { result });
      return toJob((await q.get('SELECT * FROM jobs WHERE id = ?', id))!);
    });
  }

  async failJob(id: string, leaseId: string, error: string, opts: { retry: boolean }, actor: Actor): Promise<JobRecord> {
    return this.tx(async (q) => {
      const r = await this.heldLease(q, id, leaseId, 'fail');
      const requeue = opts.retry && Number(r.attempts) < Number(r.max_attempts);
      await q.run(
        'UPDATE jobs SET state = ?, lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL, error = ?, updated_at = ? WHERE id = ?',
        requeue ? 'queued' : 'failed', error, this.now(), id,
      );
      await this.auditNow(q, actor, requeue ? 'job.requeue' : 'job.fail', `job:${id}`, { error });
      return toJob((await q.get('SELECT * FROM jobs WHERE id = ?', id))!);
    });
  }

  async appendJobLog(id: string, leaseId: string, text: string, maxBytes: number): Promise<number> {
    return this.tx(async (q) => {
      const r = await this.heldLease(q, id, leaseId, 'append to the log of');
      const offset = Number(r.log_size);
      const len = Buffer.byteLength(text);
      if (offset + len > maxBytes) throw new ConflictError(`cannot append to the log of job ${id}: the log would exceed ${maxBytes} bytes; log less`);
      if (len === 0) return offset;
      await q.run('INSERT INTO job_logs (job_id, byte_offset, byte_length, text, at) VALUES (?, ?, ?, ?, ?)', id, offset, len, text, this.now());
      await q.run('UPDATE jobs SET log_size = ? WHERE id = ?', offset + len, id);
      return offset + len;
    });
  }

  async readJobLog(id: string, offset: number, limit: number): Promise<LogSlice> {
    const job = await this.q.get('SELECT log_size FROM jobs WHERE id = ?', id);
    if (!job) throw new NotFoundError(`cannot read the log of job ${id}: no such job`);
    const rows = await this.q.all(
      'SELECT byte_offset, byte_length, text FROM job_logs WHERE job_id = ? AND byte_offset + byte_length > ? AND byte_offset < ? ORDER BY byte_offset',
      id, offset, offset + limit,
    );
    const parts: Buffer[] = [];
    let next = offset;
    for (const r of rows) {
      const start = Number(r.byte_offset);
      const buf = Buffer.from(String(r.text));
      const s = Math.max(start, offset);
      const e = Math.min(start + buf.length, offset + limit);
      parts.push(buf.subarray(s - start, e - start));
      next = e;
    }
    return { offset, next: Math.max(next, offset), text: Buffer.concat(parts).toString('utf8') };
  }

  // ---- publishes

  async beginPublish(p: { id: string; repo: string; owner: string; ttlMs: number }, actor: Actor): Promise<PublishRecord> {
    return this.tx(async (q) => {
      // The repo row is the mutex for its lock row: beginPublish calls for one repo queue here, on every instance.
      // NO KEY UPDATE does not block uploads, whose foreign keys only take KEY SHARE on the repo.
      if (!(await q.get('SELECT name FROM repos WHERE name = ? FOR NO KEY UPDATE', p.repo))) throw new NotFoundError(`cannot publish repo ${p.repo}: no such repo`);
      const now = this.now();
      const lock = await q.get('SELECT * FROM publish_locks WHERE repo = ?', p.repo);
      if (lock) {
        if (Number(lock.expires_at) >= now) {
          throw new LockedError(`cannot publish repo ${p.repo}: publish ${String(lock.publish_id)} is still running; poll it and retry when it has finished`);
        }
        await this.abandonTx(q, String(lock.publish_id), `lock expired: its publisher (${String(lock.owner)}) stopped without finishing`);
      }
      await q.run('INSERT INTO publish_locks (repo, publish_id, owner, expires_at) VALUES (?, ?, ?, ?)', p.repo, p.id, p.owner, now + p.ttlMs);
      await q.run("INSERT INTO publishes (id, repo, state, requested_by, owner, started_at) VALUES (?, ?, 'running', ?, ?, ?)", p.id, p.repo, actor, p.owner, now);
      await this.auditNow(q, actor, 'publish.start', `repo:${p.repo}`, { id: p.id });
      return toPublish((await q.get('SELECT * FROM publishes WHERE id = ?', p.id))!);
    });
  }

  /** Marks a running publish failed and drops its lock, inside the caller's transaction. */
  private async abandonTx(q: Q, publishId: string, reason: string): Promise<void> {
    const pub = await q.get('SELECT * FROM publishes WHERE id = ? FOR UPDATE', publishId);
    if (pub && pub.state === 'running') {
      await q.run("UPDATE publishes SET state = 'failed', error = ?, finished_at = ? WHERE id = ?", reason, this.now(), publishId);
      await this.auditNow(q, 'system', 'publish.abandon', `repo:${String(pub.repo)}`, { id: publishId, reason });
    }
    await q.run('DELETE FROM publish_locks WHERE publish_id = ?', publishId);
  }

  async renewPublishLock(id: string, ttlMs: number): Promise<boolean> {
    return (await this.q.run('UPDATE publish_locks SET expires_at = ? WHERE publish_id = ?', this.now() + ttlMs, id)) === 1;
  }

  async finishPublish(id: string, outcome: { state: 'succeeded' | 'failed'; error?: string; report?: Record<string, unknown> }, actor: Actor): Promise<PublishRecord> {
    return this.tx(async (q) => {
      const pub = await q.get('SELECT * FROM publishes WHERE id = ? FOR UPDATE', id);
      if (!pub) throw new NotFoundError(`cannot finish publish ${id}: no such publish`);
      await q.run('UPDATE publishes SET state = ?, error = ?, report = ?, finished_at = ? WHERE id = ?', outcome.state, outcome.error ?? null, outcome.report ? json(outcome.report) : null, this.now(), id);
      await q.run('DELETE FROM publish_locks WHERE publish_id = ?', id);
      await this.auditNow(q, actor, outcome.state === 'succeeded' ? 'publish.succeed' : 'publish.fail', `repo:${String(pub.repo)}`, { id, error: outcome.error });
      return toPublish((await q.get('SELECT * FROM publishes WHERE id = ?', id))!);
    });
  }

  async abandonPublishes(opts: { owner?: string; all?: boolean }): Promise<number> {
    return this.tx(async (q) => {
      const rows = opts.all
        ? await q.all("SELECT id FROM publishes WHERE state = 'running'")
        : await q.all(
            "SELECT p.id FROM publishes p LEFT JOIN publish_locks l ON l.publish_id = p.id WHERE p.state = 'running' AND (p.owner = ? OR l.expires_at IS NULL OR l.expires_at < ?)",
            opts.owner ?? '', this.now(),
          );
      for (const r of rows) await this.abandonTx(q, String(r.id), 'interrupted: the server stopped before the publish finished');
      return rows.length;
    });
  }

  async getPublish(id: string): Promise<PublishRecord | undefined> {
    const r = await this.q.get('SELECT * FROM publishes WHERE id = ?', id);
    return r ? toPublish(r) : undefined;
  }

  async listPublishes(repo: string, limit = 50): Promise<PublishRecord[]> {
    return (await this.q.all('SELECT * FROM publishes WHERE repo = ? ORDER BY started_at DESC, id COLLATE "C" DESC LIMIT ?', repo, limit)).map(toPublish);
  }

  // ---- audit

  async audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
    await this.tx((q) => this.auditNow(q, entry.actor, entry.action, entry.target, entry.detail));
  }

  async listAudit(opts: { limit?: number; target?: string } = {}): Promise<AuditEntry[]> {
    const limit = opts.limit ?? 100;
    const rows = opts.target
      ? await this.q.all('SELECT * FROM audit_log WHERE target = ? ORDER BY id COLLATE "C" DESC LIMIT ?', opts.target, limit)
      : await this.q.all('SELECT * FROM audit_log ORDER BY id COLLATE "C" DESC LIMIT ?', limit);
    return rows.map(toAudit);
  }
}

PgStore satisfies new (opts: PgStoreOptions) => MetadataStore;
