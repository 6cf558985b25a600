// The builder side of the server's job API (server/routes/jobs.ts, builds.ts,
// uploads.ts): lease, heartbeat, log append, complete/fail, create a build and
// stream an upload. Uploads stream the file as multipart/form-data with its
// sha256 and size and never hold the file in memory.

import { createReadStream } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import { LockedError, LxlError, NotFoundError, StorageError } from '../repo-layout/errors.js';

/** A leased job as the server hands it out. */
export interface LeasedJob {
  id: string;
  repo: string;
  kind: string;
  params: Record<string, unknown>;
  attempts: number;
  leaseId: string;
}

/** A file to upload with the digest and size the server checks. */
export interface UploadItem {
  file: string;
  filename: string;
  sha256: string;
  size: number;
}

/** Connection settings; the token is sent as a bearer token and never logged. */
export interface JobClientOptions {
  server: string;
  token: string;
  /** Name this worker gives as lease owner. */
  owner: string;
}

interface Reply {
  status: number;
  text: string;
  json: any;
}

/** The job API seen from a builder. Every method throws an LxlError naming what failed. */
export class JobClient {
  private readonly base: string;

  constructor(private readonly opts: JobClientOptions) {
    this.base = opts.server.replace(/\/+$/, '');
  }

  /** Leases the next job, or returns undefined when the queue is empty (204). */
  async lease(ttlSeconds: number): Promise<LeasedJob | undefined> {
    const r = await this.call('POST', '/api/v1/jobs/lease', { owner: this.opts.owner, kinds: ['build'], ttlSeconds }, 'lease a job');
    if (r.status === 204) return undefined;
    const j = r.json.job;
    return { id: j.id, repo: j.repo, kind: j.kind, params: j.params ?? {}, attempts: j.attempts, leaseId: r.json.leaseId };
  }

  /** Extends the lease; LockedError when the lease is gone (expired or handed to another worker). */
  async heartbeat(job: LeasedJob, ttlSeconds: number): Promise<void> {
    await this.call('POST', `/api/v1/jobs/${enc(job.id)}/heartbeat`, { leaseId: job.leaseId, ttlSeconds }, `heartbeat job ${job.id}`);
  }

  /** Appends text to the job's build log. */
  async appendLog(job: LeasedJob, text: string): Promise<void> {
    await this.call('POST', `/api/v1/jobs/${enc(job.id)}/log`, text, `append to the log of job ${job.id}`, { 'x-lxl-lease': job.leaseId, 'content-type': 'text/plain; charset=utf-8' });
  }

  /** Marks the job done with a result document. */
  async complete(job: LeasedJob, result: Record<string, unknown>): Promise<void> {
    await this.call('POST', `/api/v1/jobs/${enc(job.id)}/complete`, { leaseId: job.leaseId, result }, `complete job ${job.id}`);
  }

  /** Fails the attempt; with retry the server requeues it until maxAttempts. */
  async fail(job: LeasedJob, error: string, retry: boolean): Promise<void> {
    await this.call('POST', `/api/v1/jobs/${enc(job.id)}/fail`, { leaseId: job.leaseId, error: error.slice(0, 10_000), retry }, `fail job ${job.id}`);
  }

  /** The repo's settings (profile, compression, lines). */
  async repoSettings(repo: string): Promise<{ profile?: 'modern' | 'el5'; compression?: 'gzip' | 'xz'; lines?: string[] }> {
    const r = await this.call('GET', `/api/v1/repos/${enc(repo)}`, undefined, `read repo ${repo}`);
    return r.json.repo?.settings ?? {};
  }

  /** Creates the build record the uploads attach to; returns its id. */
  async createBuild(repo: string, body: { line: string; version: string; flavour: string; arch: string; jobId: string }): Promise<string> {
    const r = await this.call('POST', `/api/v1/repos/${enc(repo)}/builds`, body, `create a build in ${repo}`);
    return String(r.json.build.id);
  }

  /** Streams one file to the repo's uploads; resolves with the server's package record. */
  async upload(repo: string, build: string, item: UploadItem, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const boundary = `lxl${randomBytes(12).toString('hex')}`;
    const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    // Fields first: the server reads them before the file part arrives.
    const head = Buffer.from(
      field('sha256', item.sha256) +
        field('size', String(item.size)) +
        field('build', build) +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${item.filename.replace(/["\r\n]/g, '_')}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const what = `upload ${item.filename}`;
    const res = await new Promise<Reply>((resolve, reject) => {
      const req = this.request('POST', `/api/v1/repos/${enc(repo)}/uploads`, {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + item.size + tail.length),
      }, signal);
      req.on('response', (m) => collect(m).then(resolve, reject));
      req.on('error', (err) => reject(new StorageError(`cannot ${what}: ${err.message}`, { cause: err })));
      req.write(head);
      const file = createReadStream(item.file);
      file.on('error', (err) => req.destroy(err));
      file.on('end', () => req.end(tail));
      file.pipe(req, { end: false });
    });
    check(res, what);
    return res.json?.package ?? {};
  }

  private request(method: string, p: string, headers: Record<string, string>, signal?: AbortSignal) {
    const url = new URL(this.base + p);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return send(url, { method, headers: { ...headers, authorization: `Bearer ${this.opts.token}` }, signal });
  }

  private async call(method: string, p: string, body: unknown, what: string, headers: Record<string, string> = {}): Promise<Reply> {
    const data = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    const h: Record<string, string> = { ...headers };
    if (data) {
      h['content-type'] ??= 'application/json';
      h['content-length'] = String(data.length);
    }
    const res = await new Promise<Reply>((resolve, reject) => {
      const req = this.request(method, p, h);
      req.on('response', (m) => collect(m).then(resolve, reject));
      req.on('error', (err) => reject(new StorageError(`cannot ${what}: ${this.base} is unreachable (${err.message})`, { cause: err })));
      req.end(data);
    });
    check(res, what);
    return res;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

async function collect(m: IncomingMessage): Promise<Reply> {
  const chunks: Buffer[] = [];
  for await (const c of m) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: m.statusCode ?? 0, text, json };
}

/** An HTTP failure from the server; `status` tells retryable (5xx, network) from final (4xx). */
export class JobApiError extends LxlError {
  constructor(readonly status: number, message: string) {
    super('E_STORAGE', message);
  }
}

function check(r: Reply, what: string): void {
  if (r.status < 400) return;
  const msg = r.json?.error?.message ?? r.json?.message ?? r.text.slice(0, 500);
  const hint = r.json?.error?.hint ? ` (${r.json.error.hint})` : '';
  if (r.json?.error?.code === 'E_LOCKED') throw new LockedError(`cannot ${what}: ${msg}${hint}`);
  if (r.status === 404) throw new NotFoundError(`cannot ${what}: ${msg}${hint}`);
  throw new JobApiError(r.status, `cannot ${what}: HTTP ${r.status}: ${msg}${hint}`);
}
