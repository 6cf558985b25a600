// Row mappers shared by the SQL MetadataStores: a database row (snake_case
// columns, JSON kept as TEXT, BIGINT milliseconds that the pg driver hands
// back as strings) to the interface's records.

import type {
  AuditEntry,
  BuildRecord,
  Channel,
  JobRecord,
  JobState,
  PackageRecord,
  PublishRecord,
  RepoRecord,
  RepoSettings,
  TokenRecord,
  TokenScope,
} from './metadata-store.js';

export type Row = Record<string, unknown>;

export const json = (v: unknown): string => JSON.stringify(v);
const parse = <T>(v: unknown): T => JSON.parse(String(v)) as T;
const opt = <T>(v: unknown): T | undefined => (v === null || v === undefined ? undefined : (v as T));
/** A nullable BIGINT column (pg returns BIGINT as a string) as a number or undefined. */
const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));

export function toToken(r: Row): TokenRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    scopes: parse<TokenScope[]>(r.scopes),
    hash: String(r.hash),
    createdAt: Number(r.created_at),
    expiresAt: optNum(r.expires_at),
    revokedAt: optNum(r.revoked_at),
    lastUsedAt: optNum(r.last_used_at),
  };
}

export function toRepo(r: Row): RepoRecord {
  return { name: String(r.name), settings: parse<RepoSettings>(r.settings), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}

export function toPackage(r: Row): PackageRecord {
  return {
    id: String(r.id),
    repo: String(r.repo),
    kind: r.kind as PackageRecord['kind'],
    name: String(r.name),
    version: String(r.version),
    arch: String(r.arch),
    line: String(r.line),
    filename: String(r.filename),
    sha256: String(r.sha256),
    size: Number(r.size),
    buildId: opt<string>(r.build_id),
    channel: r.channel as Channel,
    meta: parse<Record<string, unknown>>(r.meta),
    uploadedBy: String(r.uploaded_by),
    createdAt: Number(r.created_at),
  };
}

export function toBuild(r: Row): BuildRecord {
  return {
    id: String(r.id),
    repo: String(r.repo),
    line: String(r.line),
    version: String(r.version),
    flavour: String(r.flavour),
    arch: String(r.arch),
    channel: r.channel as Channel,
    jobId: opt<string>(r.job_id),
    createdAt: Number(r.created_at),
    promotedAt: optNum(r.promoted_at),
  };
}

export function toJob(r: Row): JobRecord {
  return {
    id: String(r.id),
    repo: String(r.repo),
    kind: String(r.kind),
    params: parse<Record<string, unknown>>(r.params),
    state: r.state as JobState,
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    leaseId: opt<string>(r.lease_id),
    leaseOwner: opt<string>(r.lease_owner),
    leaseExpiresAt: optNum(r.lease_expires_at),
    heartbeatAt: optNum(r.heartbeat_at),
    error: opt<string>(r.error),
    result: r.result === null || r.result === undefined ? undefined : parse<Record<string, unknown>>(r.result),
    logSize: Number(r.log_size),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function toPublish(r: Row): PublishRecord {
  return {
    id: String(r.id),
    repo: String(r.repo),
    state: r.state as PublishRecord['state'],
    requestedBy: String(r.requested_by),
    owner: String(r.owner),
    startedAt: Number(r.started_at),
    finishedAt: optNum(r.finished_at),
    error: opt<string>(r.error),
    report: r.report === null || r.report === undefined ? undefined : parse<Record<string, unknown>>(r.report),
  };
}

export function toAudit(r: Row): AuditEntry {
  return {
    id: String(r.id),
    at: Number(r.at),
    actor: String(r.actor),
    action: String(r.action),
    target: String(r.target),
    detail: r.detail === null || r.detail === undefined ? undefined : parse<Record<string, unknown>>(r.detail),
  };
}
