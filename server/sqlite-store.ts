// The embedded MetadataStore on SQLite (sqlite-driver.ts: better-sqlite3, or
// node:sqlite on Node 24+): WAL journal, full fsync on commit (an accepted
// upload survives SIGKILL and power loss), every mutating call in one
// IMMEDIATE transaction together with its audit entry. The drivers are
// synchronous; the async interface exists for PostgreSQL.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ConflictError, LockedError, NotFoundError, StorageError } from '../repo-layout/errors.js';
import { newId } from './ids.js';
import { loadMigrations, SCHEMA_VERSION_DDL } from './migrations.js';
import { openSqlite, type SqliteDb } from './sqlite-driver.js';
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

export interface SqliteStoreOptions {
  /** Database file (`:memory:` for throwaway stores). */
  file: string;
  /** Clock in ms since the epoch (tests move it to expire leases). */
  now?: () => number;
  /** Open without writing (for `lxl tokens list`). */
  readonly?: boolean;
}

/** The SQLite MetadataStore (the embedded default). */
export class SqliteStore implements MetadataStore {
  readonly file: string;
  private readonly db: SqliteDb;
  private readonly now: () => number;

  constructor(opts: SqliteStoreOptions) {
    this.file = opts.file;
    this.now = opts.now ?? Date.now;
    try {
      if (opts.file !== ':memory:' && !opts.readonly) mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
      this.db = openSqlite(opts.file, { readonly: opts.readonly });
      if (!opts.readonly) this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL');
      this.db.exec('PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000');
    } catch (err) {
      throw new StorageError(`cannot open metadata database ${opts.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs `fn` in one IMMEDIATE transaction (takes the write lock up front, so read-then-write never races). */
  private tx<T>(fn: () => T): T {
    return this.db.immediate(fn);
  }

  private get(sql: string, ...args: unknown[]): Row | undefined {
    return this.db.get(sql, ...args) as Row | undefined;
  }

  private all(sql: string, ...args: unknown[]): Row[] {
    return this.db.all(sql, ...args) as Row[];
  }

  private run(sql: string, ...args: unknown[]): number {
    return this.db.run(sql, ...args);
  }

  private auditNow(actor: Actor, action: string, target: string, detail?: Record<string, unknown>): void {
    this.run('INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)', newId('aud'), this.now(), actor, action, target, detail ? json(detail) : null);
  }

  async migrate(): Promise<number> {
    this.db.exec(SCHEMA_VERSION_DDL);
    const done = new Set(this.all('SELECT version FROM schema_version').map((r) => Number(r.version)));
    for (const m of loadMigrations()) {
      if (done.has(m.version)) continue;
      this.tx(() => {
        this.db.exec(m.sql);
        this.run('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)', m.version, m.name, this.now());
      });
    }
    return Number(this.get('SELECT MAX(version) AS v FROM schema_version')?.v ?? 0);
  }

  async ping(): Promise<void> {
    this.get('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    this.db.close();
  }

  // ---- tokens

  async createToken(rec: Omit<TokenRecord, 'createdAt' | 'revokedAt' | 'lastUsedAt'>, actor: Actor): Promise<TokenRecord> {
    return this.tx(() => {
      const at = this.now();
      this.run('INSERT INTO tokens (id, name, scopes, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)', rec.id, rec.name, json(rec.scopes), rec.hash, at, rec.expiresAt ?? null);
      this.auditNow(actor, 'token.create', `token:${rec.id}`, { name: rec.name, scopes: rec.scopes });
      return toToken(this.get('SELECT * FROM tokens WHERE id = ?', rec.id)!);
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const r = this.get('SELECT * FROM tokens WHERE id = ?', id);
    return r ? toToken(r) : undefined;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.all('SELECT * FROM tokens ORDER BY created_at DESC, id DESC').map(toToken);
  }

  async revokeToken(id: string, actor: Actor): Promise<TokenRecord> {
    return this.tx(() => {
      const r = this.get('SELECT * FROM tokens WHERE id = ?', id);
      if (!r) throw new NotFoundError(`cannot revoke token ${id}: no such token (see \`lxl tokens list\`)`);
      if (r.revoked_at === null) {
        this.run('UPDATE tokens SET revoked_at = ? WHERE id = ?', this.now(), id);
        this.auditNow(actor, 'token.revoke', `token:${id}`, { name: r.name });
      }
      return toToken(this.get('SELECT * FROM tokens WHERE id = ?', id)!);
    });
  }

  async touchToken(id: string): Promise<void> {
    this.run('UPDATE tokens SET last_used_at = ? WHERE id = ?', this.now(), id);
  }

  // ---- repos

  async createRepo(name: string, settings: RepoSettings, actor: Actor): Promise<RepoRecord> {
    return this.tx(() => {
      if (this.get('SELECT name FROM repos WHERE name = ?', name)) throw new ConflictError(`cannot create repo ${name}: it already exists`);
      const at = this.now();
      this.run('INSERT INTO repos (name, settings, created_at, updated_at) VALUES (?, ?, ?, ?)', name, json(settings), at, at);
      this.auditNow(actor, 'repo.create', `repo:${name}`, { settings });
      return toRepo(this.get('SELECT * FROM repos WHERE name = ?', name)!);
    });
  }

  async updateRepo(name: string, settings: RepoSettings, actor: Actor): Promise<RepoRecord> {
    return this.tx(() => {
      if (this.run('UPDATE repos SET settings = ?, updated_at = ? WHERE name = ?', json(settings), this.now(), name) === 0) {
        throw new NotFoundError(`cannot update repo ${name}: no such repo`);
      }
      this.auditNow(actor, 'repo.update', `repo:${name}`, { settings });
      return toRepo(this.get('SELECT * FROM repos WHERE name = ?', name)!);
    });
  }

  async getRepo(name: string): Promise<RepoRecord | undefined> {
    const r = this.get('SELECT * FROM repos WHERE name = ?', name);
    return r ? toRepo(r) : undefined;
  }

  async listRepos(): Promise<RepoRecord[]> {
    return this.all('SELECT * FROM repos ORDER BY name').map(toRepo);
  }

  // ---- packages and artifacts

  async addPackage(pkg: NewPackage, actor: Actor): Promise<AddPackageResult> {
    return this.tx(() => {
      if (!this.get('SELECT name FROM repos WHERE name = ?', pkg.repo)) throw new NotFoundError(`cannot add a package to repo ${pkg.repo}: no such repo`);
      const existing = this.get('SELECT * FROM packages WHERE repo = ? AND kind = ? AND name = ? AND version = ? AND arch = ?', pkg.repo, pkg.kind, pkg.name, pkg.version, pkg.arch);
      if (existing) {
        if (existing.sha256 === pkg.sha256) return { record: toPackage(existing), created: false };
        throw new ConflictError(
          `cannot add ${pkg.kind} ${pkg.name} ${pkg.version} (${pkg.arch}) to ${pkg.repo}: a different file (sha256 ${String(existing.sha256)}) is already catalogued under that name, version and arch; published packages are immutable, so bump the version`,
        );
      }
      let channel: Channel = 'testing';
      if (pkg.buildId) {
        const b = this.get('SELECT * FROM builds WHERE id = ?', pkg.buildId);
        if (!b || b.repo !== pkg.repo) throw new NotFoundError(`cannot attach the upload to build ${pkg.buildId}: no such build in repo ${pkg.repo}`);
        channel = b.channel as Channel;
      }
      const at = this.now();
      this.run('INSERT INTO artifacts (sha256, size, created_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING', pkg.sha256, pkg.size, at);
      const id = newId('pkg');
      this.run(
        'INSERT INTO packages (id, repo, kind, name, version, arch, line, filename, sha256, size, build_id, channel, meta, uploaded_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        id, pkg.repo, pkg.kind, pkg.name, pkg.version, pkg.arch, pkg.line, pkg.filename, pkg.sha256, pkg.size, pkg.buildId ?? null, channel, json(pkg.meta), actor, at,
      );
      this.auditNow(actor, 'package.add', `repo:${pkg.repo}`, { id, kind: pkg.kind, name: pkg.name, version: pkg.version, arch: pkg.arch, sha256: pkg.sha256 });
      return { record: toPackage(this.get('SELECT * FROM packages WHERE id = ?', id)!), created: true };
    });
  }

  async getPackage(id: string): Promise<PackageRecord | undefined> {
    const r = this.get('SELECT * FROM packages WHERE id = ?', id);
    return r ? toPackage(r) : undefined;
  }

  async findPackage(k: Pick<PackageRecord, 'repo' | 'kind' | 'name' | 'version' | 'arch'>): Promise<PackageRecord | undefined> {
    const r = this.get('SELECT * FROM packages WHERE repo = ? AND kind = ? AND name = ? AND version = ? AND arch = ?', k.repo, k.kind, k.name, k.version, k.arch);
    return r ? toPackage(r) : undefined;
  }

  async listPackages(f: PackageFilter): Promise<PackageRecord[]> {
    const where = ['repo = ?'];
    const args: unknown[] = [f.repo];
    if (f.channel) where.push('channel = ?'), args.push(f.channel);
    if (f.kind) where.push('kind = ?'), args.push(f.kind);
    if (f.buildId) where.push('build_id = ?'), args.push(f.buildId);
    return this.all(`SELECT * FROM packages WHERE ${where.join(' AND ')} ORDER BY name, version, arch, kind`, ...args).map(toPackage);
  }

  async getArtifact(sha256: string): Promise<ArtifactRecord | undefined> {
    const r = this.get('SELECT * FROM artifacts WHERE sha256 = ?', sha256);
    return r ? { sha256: String(r.sha256), size: Number(r.size), createdAt: Number(r.created_at) } : undefined;
  }

  async listArtifactDigests(): Promise<string[]> {
    return this.all('SELECT sha256 FROM artifacts ORDER BY sha256').map((r) => String(r.sha256));
  }

  // ---- builds

  async createBuild(b: Omit<BuildRecord, 'id' | 'channel' | 'createdAt' | 'promotedAt'>, actor: Actor): Promise<BuildRecord> {
    return this.tx(() => {
      if (!this.get('SELECT name FROM repos WHERE name = ?', b.repo)) throw new NotFoundError(`cannot create a build in repo ${b.repo}: no such repo`);
      const id = newId('bld');
      this.run('INSERT INTO builds (id, repo, line, version, flavour, arch, channel, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', id, b.repo, b.line, b.version, b.flavour, b.arch, 'testing', b.jobId ?? null, this.now());
      this.auditNow(actor, 'build.create', `repo:${b.repo}`, { id, line: b.line, version: b.version, flavour: b.flavour, arch: b.arch });
      return toBuild(this.get('SELECT * FROM builds WHERE id = ?', id)!);
    });
  }

  async getBuild(id: string): Promise<BuildRecord | undefined> {
    const r = this.get('SELECT * FROM builds WHERE id = ?', id);
    return r ? toBuild(r) : undefined;
  }

  async listBuilds(repo: string): Promise<BuildRecord[]> {
    return this.all('SELECT * FROM builds WHERE repo = ? ORDER BY created_at DESC, id DESC', repo).map(toBuild);
  }

  async promoteBuild(id: string, to: Channel, actor: Actor): Promise<BuildRecord> {
    return this.tx(() => {
      const b = this.get('SELECT * FROM builds WHERE id = ?', id);
      if (!b) throw new NotFoundError(`cannot promote build ${id}: no such build`);
      if (b.channel !== to) {
        const at = this.now();
        this.run('UPDATE builds SET channel = ?, promoted_at = ? WHERE id = ?', to, at, id);
        const moved = this.run('UPDATE packages SET channel = ? WHERE build_id = ?', to, id);
        this.auditNow(actor, 'build.promote', `repo:${String(b.repo)}`, { id, from: b.channel, to, packages: moved });
      }
      return toBuild(this.get('SELECT * FROM builds WHERE id = ?', id)!);
    });
  }

  // ---- jobs

  async enqueueJob(job: NewJob, actor: Actor): Promise<JobRecord> {
    return this.tx(() => {
      if (!this.get('SELECT name FROM repos WHERE name = ?', job.repo)) throw new NotFoundError(`cannot enqueue a job for repo ${job.repo}: no such repo`);
      const id = newId('job');
      const at = this.now();
      this.run(
        'INSERT INTO jobs (id, repo, kind, params, state, attempts, max_attempts, log_size, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, 0, ?, ?)',
        id, job.repo, job.kind, json(job.params), 'queued', job.maxAttempts ?? 3, at, at,
      );
      this.auditNow(actor, 'job.enqueue', `job:${id}`, { repo: job.repo, kind: job.kind, params: job.params });
      return toJob(this.get('SELECT * FROM jobs WHERE id = ?', id)!);
    });
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const r = this.get('SELECT * FROM jobs WHERE id = ?', id);
    return r ? toJob(r) : undefined;
  }

  async listJobs(filter: { state?: JobState; repo?: string } = {}): Promise<JobRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) where.push('state = ?'), args.push(filter.state);
    if (filter.repo) where.push('repo = ?'), args.push(filter.repo);
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    return this.all(`SELECT * FROM jobs ${w} ORDER BY created_at DESC, id DESC`, ...args).map(toJob);
  }

  /** Returns expired leases to the queue inside the caller's transaction. */
  private expireLeasesTx(): number {
    const now = this.now();
    const expired = this.all("SELECT * FROM jobs WHERE state = 'leased' AND lease_expires_at < ?", now);
    for (const r of expired) {
      const outOfTries = Number(r.attempts) >= Number(r.max_attempts);
      const error = `lease of ${String(r.lease_owner)} expired (attempt ${String(r.attempts)} of ${String(r.max_attempts)})`;
      this.run(
        'UPDATE jobs SET state = ?, lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL, error = ?, updated_at = ? WHERE id = ?',
        outOfTries ? 'failed' : 'queued', error, now, r.id,
      );
      this.auditNow('system', outOfTries ? 'job.fail' : 'job.requeue', `job:${String(r.id)}`, { reason: error });
    }
    return expired.length;
  }

  async expireLeases(): Promise<number> {
    return this.tx(() => this.expireLeasesTx());
  }

  async leaseJob(req: LeaseRequest, actor: Actor): Promise<JobRecord | undefined> {
    return this.tx(() => {
      this.expireLeasesTx();
      const kinds = req.kinds?.length ? req.kinds : undefined;
      const r = kinds
        ? this.get(`SELECT * FROM jobs WHERE state = 'queued' AND kind IN (${kinds.map(() => '?').join(', ')}) ORDER BY created_at, id LIMIT 1`, ...kinds)
        : this.get("SELECT * FROM jobs WHERE state = 'queued' ORDER BY created_at, id LIMIT 1");
      if (!r) return undefined;
      const now = this.now();
      const leaseId = newId('lease');
      this.run(
        "UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_id = ?, lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, updated_at = ? WHERE id = ?",
        leaseId, req.owner, now + req.ttlMs, now, now, r.id,
      );
      this.auditNow(actor, 'job.lease', `job:${String(r.id)}`, { owner: req.owner, attempt: Number(r.attempts) + 1 });
      return toJob(this.get('SELECT * FROM jobs WHERE id = ?', r.id)!);
    });
  }

  /** The job row if `leaseId` is its live lease; LockedError otherwise. */
  private heldLease(id: string, leaseId: string, what: string): Row {
    const r = this.get('SELECT * FROM jobs WHERE id = ?', id);
    if (!r) throw new NotFoundError(`cannot ${what} job ${id}: no such job`);
    if (r.state !== 'leased' || r.lease_id !== leaseId || Number(r.lease_expires_at) < this.now()) {
      throw new LockedError(`cannot ${what} job ${id}: this lease is no longer valid (it expired or the job was handed to another worker); stop working on it`);
    }
    return r;
  }

  async heartbeatJob(id: string, leaseId: string, ttlMs: number): Promise<JobRecord> {
    return this.tx(() => {
      this.heldLease(id, leaseId, 'heartbeat');
      const now = this.now();
      this.run('UPDATE jobs SET lease_expires_at = ?, heartbeat_at = ?, updated_at = ? WHERE id = ?', now + ttlMs, now, now, id);
      return toJob(this.get('SELECT * FROM jobs WHERE id = ?', id)!);
    });
  }

  async completeJob(id: string, leaseId: string, result: Record<string, unknown>, actor: Actor): Promise<JobRecord> {
    return this.tx(() => {
      this.heldLease(id, leaseId, 'complete');
      this.run("UPDATE jobs SET state = 'succeeded', lease_id = NULL, lease_expires_at = NULL, result = ?, error = NULL, updated_at = ? WHERE id = ?", json(result), this.now(), id);
      this.auditNow(actor, 'job.complete', `job:${id}`, { result });
      return toJob(this.get('SELECT * FROM jobs WHERE id = ?', id)!);
    });
  }

  async failJob(id: string, leaseId: string, error: string, opts: { retry: boolean }, actor: Actor): Promise<JobRecord> {
    return this.tx(() => {
      const r = this.heldLease(id, leaseId, 'fail');
      const requeue = opts.retry && Number(r.attempts) < Number(r.max_attempts);
      this.run(
        'UPDATE jobs SET state = ?, lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL, error = ?, updated_at = ? WHERE id = ?',
        requeue ? 'queued' : 'failed', error, this.now(), id,
      );
      this.auditNow(actor, requeue ? 'job.requeue' : 'job.fail', `job:${id}`, { error });
      return toJob(this.get('SELECT * FROM jobs WHERE id = ?', id)!);
    });
  }

  async appendJobLog(id: string, leaseId: string, text: string, maxBytes: number): Promise<number> {
    return this.tx(() => {
      const r = this.heldLease(id, leaseId, 'append to the log of');
      const offset = Number(r.log_size);
      const len = Buffer.byteLength(text);
      if (offset + len > maxBytes) throw new ConflictError(`cannot append to the log of job ${id}: the log would exceed ${maxBytes} bytes; log less`);
      if (len === 0) return offset;
      this.run('INSERT INTO job_logs (job_id, byte_offset, byte_length, text, at) VALUES (?, ?, ?, ?, ?)', id, offset, len, text, this.now());
      this.run('UPDATE jobs SET log_size = ? WHERE id = ?', offset + len, id);
      return offset + len;
    });
  }

  async readJobLog(id: string, offset: number, limit: number): Promise<LogSlice> {
    const job = this.get('SELECT log_size FROM jobs WHERE id = ?', id);
    if (!job) throw new NotFoundError(`cannot read the log of job ${id}: no such job`);
    const rows = this.all(
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
    return this.tx(() => {
      if (!this.get('SELECT name FROM repos WHERE name = ?', p.repo)) throw new NotFoundError(`cannot publish repo ${p.repo}: no such repo`);
      const now = this.now();
      const lock = this.get('SELECT * FROM publish_locks WHERE repo = ?', p.repo);
      if (lock) {
        if (Number(lock.expires_at) >= now) {
          throw new LockedError(`cannot publish repo ${p.repo}: publish ${String(lock.publish_id)} is still running; poll it and retry when it has finished`);
        }
        this.abandonTx(String(lock.publish_id), `lock expired: its publisher (${String(lock.owner)}) stopped without finishing`);
      }
      this.run('INSERT INTO publish_locks (repo, publish_id, owner, expires_at) VALUES (?, ?, ?, ?)', p.repo, p.id, p.owner, now + p.ttlMs);
      this.run("INSERT INTO publishes (id, repo, state, requested_by, owner, started_at) VALUES (?, ?, 'running', ?, ?, ?)", p.id, p.repo, actor, p.owner, now);
      this.auditNow(actor, 'publish.start', `repo:${p.repo}`, { id: p.id });
      return toPublish(this.get('SELECT * FROM publishes WHERE id = ?', p.id)!);
    });
  }

  /** Marks a running publish failed and drops its lock, inside the caller's transaction. */
  private abandonTx(publishId: string, reason: string): void {
    const pub = this.get('SELECT * FROM publishes WHERE id = ?', publishId);
    if (pub && pub.state === 'running') {
      this.run("UPDATE publishes SET state = 'failed', error = ?, finished_at = ? WHERE id = ?", reason, this.now(), publishId);
      this.auditNow('system', 'publish.abandon', `repo:${String(pub.repo)}`, { id: publishId, reason });
    }
    this.run('DELETE FROM publish_locks WHERE publish_id = ?', publishId);
  }

  async renewPublishLock(id: string, ttlMs: number): Promise<boolean> {
    return this.tx(() => this.run('UPDATE publish_locks SET expires_at = ? WHERE publish_id = ?', this.now() + ttlMs, id) === 1);
  }

  async finishPublish(id: string, outcome: { state: 'succeeded' | 'failed'; error?: string; report?: Record<string, unknown> }, actor: Actor): Promise<PublishRecord> {
    return this.tx(() => {
      const pub = this.get('SELECT * FROM publishes WHERE id = ?', id);
      if (!pub) throw new NotFoundError(`cannot finish publish ${id}: no such publish`);
      this.run('UPDATE publishes SET state = ?, error = ?, report = ?, finished_at = ? WHERE id = ?', outcome.state, outcome.error ?? null, outcome.report ? json(outcome.report) : null, this.now(), id);
      this.run('DELETE FROM publish_locks WHERE publish_id = ?', id);
      this.auditNow(actor, outcome.state === 'succeeded' ? 'publish.succeed' : 'publish.fail', `repo:${String(pub.repo)}`, { id, error: outcome.error });
      return toPublish(this.get('SELECT * FROM publishes WHERE id = ?', id)!);
    });
  }

  async abandonPublishes(opts: { owner?: string; all?: boolean }): Promise<number> {
    return this.tx(() => {
      const rows = opts.all
        ? this.all("SELECT id FROM publishes WHERE state = 'running'")
        : this.all("SELECT p.id FROM publishes p LEFT JOIN publish_locks l ON l.publish_id = p.id WHERE p.state = 'running' AND (p.owner = ? OR l.expires_at IS NULL OR l.expires_at < ?)", opts.owner ?? '', this.now());
      for (const r of rows) this.abandonTx(String(r.id), 'interrupted: the server stopped before the publish finished');
      return rows.length;
    });
  }

  async getPublish(id: string): Promise<PublishRecord | undefined> {
    const r = this.get('SELECT * FROM publishes WHERE id = ?', id);
    return r ? toPublish(r) : undefined;
  }

  async listPublishes(repo: string, limit = 50): Promise<PublishRecord[]> {
    return this.all('SELECT * FROM publishes WHERE repo = ? ORDER BY started_at DESC, id DESC LIMIT ?', repo, limit).map(toPublish);
  }

  // ---- audit

  async audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
    this.tx(() => this.auditNow(entry.actor, entry.action, entry.target, entry.detail));
  }

  async listAudit(opts: { limit?: number; target?: string } = {}): Promise<AuditEntry[]> {
    const limit = opts.limit ?? 100;
    const rows = opts.target
      ? this.all('SELECT * FROM audit_log WHERE target = ? ORDER BY id DESC LIMIT ?', opts.target, limit)
      : this.all('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?', limit);
    return rows.map(toAudit);
  }
}

SqliteStore satisfies new (opts: SqliteStoreOptions) => MetadataStore;
