// The metadata-store seam: everything the server remembers (repos, packages
// and their artifacts, builds, jobs, publishes with their per-repo lock,
// tokens, the audit log) behind one async interface. SQLite is the embedded
// default (sqlite-store.ts); PostgreSQL implements the same interface for
// several server instances (issue 10). Every mutating call is one transaction
// and writes its own audit entry, so "every change is audited" holds by design.

/** What a token may do. `admin` includes everything `builder` may do. */
export type TokenScope = 'builder' | 'admin';
export const TOKEN_SCOPES: readonly TokenScope[] = ['builder', 'admin'];

/** Who made a change, for the audit log: a token id, or `cli:<user>` for local admin commands. */
export type Actor = string;

export interface TokenRecord {
  id: string;
  name: string;
  scopes: TokenScope[];
  /** Hex SHA-256 of the whole token; the token itself is never stored. */
  hash: string;
  createdAt: number;
  expiresAt?: number;
  revokedAt?: number;
  lastUsedAt?: number;
}

/** Per-repo publishing settings (stored as JSON so new settings need no migration). */
export interface RepoSettings {
  /** Kernel lines this repo carries, e.g. ["6.1"]; uploads for other lines are refused. Empty: any line. */
  lines: string[];
  /** Payload compression of the packages the builders make for this repo. */
  compression: 'gzip' | 'xz';
  /** rpm compatibility profile. */
  profile: 'modern' | 'el5';
  /** Keep this many newest kernel versions per package name (0 = all). */
  retention: number;
  /** Which published trees this repo has. */
  formats: Array<'apt' | 'yum' | 'tarballs'>;
}

export interface RepoRecord {
  name: string;
  settings: RepoSettings;
  createdAt: number;
  updatedAt: number;
}

export type PackageKind = 'deb' | 'rpm' | 'tarball';
/** testing receives every upload; promotion moves a build's packages to stable. */
export type Channel = 'testing' | 'stable';
export const CHANNELS: readonly Channel[] = ['testing', 'stable'];

/** A content-addressed blob in the artifact store. */
export interface ArtifactRecord {
  sha256: string;
  size: number;
  createdAt: number;
}

/** One uploaded package file, as the catalogue knows it. */
export interface PackageRecord {
  id: string;
  repo: string;
  kind: PackageKind;
  name: string;
  version: string;
  /** The format's own arch name (amd64, x86_64, i686, all, ...). */
  arch: string;
  /** Kernel line the package belongs to, e.g. "6.1". */
  line: string;
  filename: string;
  sha256: string;
  size: number;
  buildId?: string;
  channel: Channel;
  /** Format facts the publisher needs without re-reading the file (deb control text, rpm header fields, tar listing size). */
  meta: Record<string, unknown>;
  uploadedBy: Actor;
  createdAt: number;
}

export interface BuildRecord {
  id: string;
  repo: string;
  line: string;
  version: string;
  flavour: string;
  arch: string;
  channel: Channel;
  jobId?: string;
  createdAt: number;
  promotedAt?: number;
}

export type JobState = 'queued' | 'leased' | 'succeeded' | 'failed';
export const JOB_STATES: readonly JobState[] = ['queued', 'leased', 'succeeded', 'failed'];

export interface JobRecord {
  id: string;
  repo: string;
  /** What to do; `build` is the only kind today. */
  kind: string;
  /** Kind-specific parameters (line, version, flavour, arch, ...). */
  params: Record<string, unknown>;
  state: JobState;
  /** Leases handed out so far (the current one included). */
  attempts: number;
  maxAttempts: number;
  leaseId?: string;
  leaseOwner?: string;
  leaseExpiresAt?: number;
  heartbeatAt?: number;
  /** Why the last attempt failed or expired. */
  error?: string;
  result?: Record<string, unknown>;
  /** Bytes of build log stored so far. */
  logSize: number;
  createdAt: number;
  updatedAt: number;
}

export type PublishState = 'running' | 'succeeded' | 'failed';

export interface PublishRecord {
  id: string;
  repo: string;
  state: PublishState;
  requestedBy: Actor;
  /** The server instance that runs it (its lock owner). */
  owner: string;
  startedAt: number;
  finishedAt?: number;
  error?: string;
  report?: Record<string, unknown>;
}

export interface AuditEntry {
  id: string;
  at: number;
  actor: Actor;
  action: string;
  target: string;
  detail?: Record<string, unknown>;
}

/** A package to add: the record without what the store assigns (id, channel, uploader, time). */
export type NewPackage = Omit<PackageRecord, 'id' | 'channel' | 'uploadedBy' | 'createdAt'>;

export interface NewJob {
  repo: string;
  kind: string;
  params: Record<string, unknown>;
  maxAttempts?: number;
}

export interface LeaseRequest {
  /** Free-form worker identity (host, pid), for the read API. */
  owner: string;
  ttlMs: number;
  /** Only these kinds (default: any). */
  kinds?: string[];
}

export interface PackageFilter {
  repo: string;
  channel?: Channel;
  kind?: PackageKind;
  buildId?: string;
}

/** What addPackage did: `created` false means the same bytes were already catalogued under this identity. */
export interface AddPackageResult {
  record: PackageRecord;
  created: boolean;
}

/** One slice of a job's build log. `next` is the offset to ask for next. */
export interface LogSlice {
  offset: number;
  next: number;
  text: string;
}

/** Where the server keeps its catalogue. Implementations make each call atomic (one transaction). */
export interface MetadataStore {
  /** Applies pending migrations; resolves to the schema version now in force. */
  migrate(): Promise<number>;
  /** Cheap round trip for /readyz; rejects when the store is unusable. */
  ping(): Promise<void>;
  /** Releases connections; the store is unusable afterwards. */
  close(): Promise<void>;

  /** Stores a new token (already hashed). */
  createToken(rec: Omit<TokenRecord, 'createdAt' | 'revokedAt' | 'lastUsedAt'>, actor: Actor): Promise<TokenRecord>;
  /** The token with this id (revoked ones too), or undefined. */
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** Every token, newest first. */
  listTokens(): Promise<TokenRecord[]>;
  /** Marks a token revoked; NotFoundError for an unknown id. Revoking twice is a no-op. */
  revokeToken(id: string, actor: Actor): Promise<TokenRecord>;
  /** Records that the token was just used (not audited: it is not a change). */
  touchToken(id: string): Promise<void>;

  /** Creates a repo; ConflictError if the name is taken. */
  createRepo(name: string, settings: RepoSettings, actor: Actor): Promise<RepoRecord>;
  /** Replaces a repo's settings; NotFoundError when missing. */
  updateRepo(name: string, settings: RepoSettings, actor: Actor): Promise<RepoRecord>;
  /** The repo, or undefined. */
  getRepo(name: string): Promise<RepoRecord | undefined>;
  /** Every repo by name. */
  listRepos(): Promise<RepoRecord[]>;

  /** Catalogues an uploaded package whose bytes are already in the artifact store. Same identity + same sha256: returns the existing record; other bytes: ConflictError. */
  addPackage(pkg: NewPackage, actor: Actor): Promise<AddPackageResult>;
  /** One package by id, or undefined. */
  getPackage(id: string): Promise<PackageRecord | undefined>;
  /** The package with this identity (repo, kind, name, version, arch), or undefined. */
  findPackage(id: Pick<PackageRecord, 'repo' | 'kind' | 'name' | 'version' | 'arch'>): Promise<PackageRecord | undefined>;
  /** Packages matching the filter, by name, version, arch. */
  listPackages(filter: PackageFilter): Promise<PackageRecord[]>;
  /** The artifact with this sha256, or undefined. */
  getArtifact(sha256: string): Promise<ArtifactRecord | undefined>;
  /** Every catalogued artifact's sha256 (for consistency checks and garbage collection). */
  listArtifactDigests(): Promise<string[]>;

  /** Creates a build in `testing`. */
  createBuild(b: Omit<BuildRecord, 'id' | 'channel' | 'createdAt' | 'promotedAt'>, actor: Actor): Promise<BuildRecord>;
  /** One build, or undefined. */
  getBuild(id: string): Promise<BuildRecord | undefined>;
  /** A repo's builds, newest first. */
  listBuilds(repo: string): Promise<BuildRecord[]>;
  /** Moves a build and all its packages to `to`; NotFoundError when missing. */
  promoteBuild(id: string, to: Channel, actor: Actor): Promise<BuildRecord>;

  /** Queues a job. */
  enqueueJob(job: NewJob, actor: Actor): Promise<JobRecord>;
  /** One job, or undefined. */
  getJob(id: string): Promise<JobRecord | undefined>;
  /** Jobs, newest first, optionally only in one state. */
  listJobs(filter?: { state?: JobState; repo?: string }): Promise<JobRecord[]>;
  /** Hands the oldest queued job to a worker (after returning expired leases to the queue); undefined when none is waiting. */
  leaseJob(req: LeaseRequest, actor: Actor): Promise<JobRecord | undefined>;
  /** Extends a lease; LockedError when the lease is no longer this worker's (expired or re-leased). */
  heartbeatJob(id: string, leaseId: string, ttlMs: number): Promise<JobRecord>;
  /** Finishes a job successfully; LockedError when the lease was lost. */
  completeJob(id: string, leaseId: string, result: Record<string, unknown>, actor: Actor): Promise<JobRecord>;
  /** Fails an attempt: back to the queue when `retry` and attempts remain, else failed. LockedError when the lease was lost. */
  failJob(id: string, leaseId: string, error: string, opts: { retry: boolean }, actor: Actor): Promise<JobRecord>;
  /** Returns expired leases to the queue (or fails jobs out of attempts); resolves to how many jobs changed. */
  expireLeases(): Promise<number>;
  /** Appends build-log text while the lease is held; resolves to the new log size. ConflictError past maxBytes. */
  appendJobLog(id: string, leaseId: string, text: string, maxBytes: number): Promise<number>;
  /** Reads up to `limit` bytes of log from byte `offset`. */
  readJobLog(id: string, offset: number, limit: number): Promise<LogSlice>;

  /** Takes the repo's publish lock and records a running publish; LockedError when another unexpired publish holds it (an expired holder is marked failed). */
  beginPublish(p: { id: string; repo: string; owner: string; ttlMs: number }, actor: Actor): Promise<PublishRecord>;
  /** Extends the lock while the publish runs; false when it was lost (expired and taken). */
  renewPublishLock(id: string, ttlMs: number): Promise<boolean>;
  /** Records the outcome and releases the lock. */
  finishPublish(id: string, outcome: { state: 'succeeded' | 'failed'; error?: string; report?: Record<string, unknown> }, actor: Actor): Promise<PublishRecord>;
  /** Fails every running publish owned by `owner` or whose lock expired, releasing their locks (startup recovery); resolves to how many. */
  abandonPublishes(opts: { owner?: string; all?: boolean }): Promise<number>;
  /** One publish, or undefined. */
  getPublish(id: string): Promise<PublishRecord | undefined>;
  /** A repo's publishes, newest first. */
  listPublishes(repo: string, limit?: number): Promise<PublishRecord[]>;

  /** Records a change not covered by another call (e.g. a rejected upload is NOT a change; a config reload is). */
  audit(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void>;
  /** The newest audit entries first. */
  listAudit(opts?: { limit?: number; target?: string }): Promise<AuditEntry[]>;
}

/** A repo's settings with every default filled in. */
export function defaultRepoSettings(partial: Partial<RepoSettings> = {}): RepoSettings {
  return {
    lines: partial.lines ?? [],
    compression: partial.compression ?? 'gzip',
    profile: partial.profile ?? 'modern',
    retention: partial.retention ?? 0,
    formats: partial.formats ?? ['apt', 'yum', 'tarballs'],
  };
}
