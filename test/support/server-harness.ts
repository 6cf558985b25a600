// Helpers for the server tests: start a server in-process or as a separate
// `lxl server` process, make tokens and a repo, stream multipart uploads
// without buffering them, and list what the artifact store holds.
// LXL_TEST_STORE=postgres (test/run.mjs's second pass) gives every server
// folder its own PostgreSQL database instead of `<var>/lxl.db`.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import { request } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseServerConfig, type ServerConfigInput } from '../../server/config.js';
import type { Publisher } from '../../server/publisher.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { SqliteStore } from '../../server/sqlite-store.js';
import { PgStore } from '../../server/pg-store.js';
import type { MetadataStore } from '../../server/metadata-store.js';
import { createToken } from '../../server/tokens.js';
import { createTestDatabase, testStoreKind } from './postgres.js';
import { testKey } from './test-key.js';

export interface TestServer {
  url: string;
  varDir: string;
  admin: string;
  builder: string;
  running: RunningServer;
  close(): Promise<void>;
}

const databases = new Map<string, Promise<string>>();

/** The `database` setting of a test server on `varDir`: undefined (SQLite in the folder), or its own PostgreSQL database under LXL_TEST_STORE=postgres. */
export async function testDatabase(varDir: string): Promise<string | undefined> {
  if (testStoreKind() === 'sqlite') return undefined;
  const key = path.resolve(varDir);
  if (!databases.has(key)) databases.set(key, createTestDatabase(key));
  return databases.get(key)!;
}

/** Mints an admin and a builder token straight in the server's store (as `lxl tokens create` does). */
export async function mintTokens(varDir: string): Promise<{ admin: string; builder: string }> {
  const url = await testDatabase(varDir);
  const store: MetadataStore = url ? new PgStore({ url }) : new SqliteStore({ file: path.join(varDir, 'lxl.db') });
  try {
    await store.migrate();
    const admin = (await createToken(store, { name: 'test-admin', scopes: ['admin'] }, 'test')).token;
    const builder = (await createToken(store, { name: 'test-builder', scopes: ['builder'] }, 'test')).token;
    return { admin, builder };
  } finally {
    await store.close();
  }
}

/** Starts a server in this process on a free port with repo `main` (line 6.1), plus admin and builder tokens. */
export async function startTestServer(opts: { config?: Partial<ServerConfigInput>; publisher?: Publisher; varDir?: string } = {}): Promise<TestServer> {
  // Not tempDir(): its after() would fire at the end of a before() hook. close() removes the folder.
  const varDir = opts.varDir ?? (await mkdtemp(path.join(os.tmpdir(), 'lxl-server-')));
  const tokens = await mintTokens(varDir);
  const database = await testDatabase(varDir);
  const config = parseServerConfig({ var: varDir, listen: '127.0.0.1:0', logLevel: 'silent', repos: [{ name: 'main', settings: { lines: ['6.1'] } }], database, ...opts.config });
  const running = await startServer(config, { publisher: opts.publisher });
  const close = async (): Promise<void> => {
    await running.close();
    if (!opts.varDir) await rm(varDir, { recursive: true, force: true });
  };
  return { url: running.url, varDir, ...tokens, running, close };
}

export interface SpawnedServer {
  url: string;
  child: ChildProcess;
  pid: number;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `lxl server` as its own process (for RSS measurements and SIGKILL) and waits until it listens. */
export async function spawnServer(varDir: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<SpawnedServer> {
  const bin = new URL('../../bin/lxl.mjs', import.meta.url).pathname;
  const database = await testDatabase(varDir);
  const child = spawn(process.execPath, [bin, 'server', '--var', varDir, '--listen', '127.0.0.1:0', '--log-level', 'warn', ...extraArgs], {
    env: { ...process.env, ...(database ? { LXL_DATABASE: database } : {}), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`lxl server exited ${code} before listening:\n${err}`)));
    setTimeout(() => reject(new Error(`lxl server did not start in 60 s:\n${err}`)), 60_000).unref();
  });
  return {
    url,
    child,
    pid: child.pid!,
    stderr: () => err,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A spawned `lxl server` that signs with the cached test key, with repo `main` (line 6.1) and both tokens. */
export interface RepoServer {
  server: SpawnedServer;
  admin: string;
  builder: string;
  /** Not a tempDir(): its cleanup fires when the calling test ends, and the published repo outlives that test. */
  varDir: string;
  /** SIGKILLs the server and removes its folder. */
  dispose(): Promise<void>;
}

/** Spawns a server for the worker tests (see RepoServer); dispose() it in after(). */
export async function spawnRepoServer(prefix = 'lxl-repo-server-'): Promise<RepoServer> {
  const varDir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const key = await testKey();
  const { admin, builder } = await mintTokens(varDir);
  const server = await spawnServer(varDir, [], { LXL_SIGNING_KEY: path.join(key.dir, 'lxl-test-rsa4096.secret.asc') });
  const dispose = async () => {
    await server.stop('SIGKILL');
    await rm(varDir, { recursive: true, force: true });
  };
  const r = await api(server.url, 'POST', '/api/v1/repos', { token: admin, body: { name: 'main', settings: { lines: ['6.1'] } } });
  if (r.status !== 201) {
    await dispose();
    throw new Error(`cannot create repo main: ${r.status} ${r.text}`);
  }
  return { server, admin, builder, varDir, dispose };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** Sends one request; the body may be a stream. Resolves with the answer (any status). */
export function httpRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string | Readable } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

/** JSON API call with an optional bearer token. */
export function api(base: string, method: string, p: string, opts: { token?: string; body?: unknown; rawBody?: string; contentType?: string } = {}): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  return httpRequest(`${base}${p}`, { method, headers, body });
}

export interface UploadOptions {
  token?: string;
  /** File name in the multipart part (default: the file's base name). */
  filename?: string;
  /** Stated sha256/size (default: the true values). */
  sha256?: string;
  size?: number;
  line?: string;
  build?: string;
}

/** Streams `file` as a multipart upload to /api/v1/repos/<repo>/uploads (never buffers the file). */
export async function uploadFile(base: string, repo: string, file: string, opts: UploadOptions = {}): Promise<HttpResult> {
  const size = (await stat(file)).size;
  const sha256 = opts.sha256 ?? (await sha256File(file));
  return uploadStream(base, repo, () => createReadStream(file), { ...opts, filename: opts.filename ?? path.basename(file), sha256, size: opts.size ?? size });
}

/** Streams bytes from `open()` as a multipart upload; the stated fields follow the file part. */
export function uploadStream(base: string, repo: string, open: () => Readable, opts: UploadOptions & { filename: string; sha256: string; size: number }): Promise<HttpResult> {
  const boundary = `lxltest${createHash('sha1').update(String(Math.random())).digest('hex')}`;
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const fields = [field('sha256', opts.sha256), field('size', String(opts.size)), opts.line ? field('line', opts.line) : '', opts.build ? field('build', opts.build) : ''].join('');
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${opts.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const tail = `\r\n${fields}--${boundary}--\r\n`;
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(head);
      for await (const chunk of open()) yield chunk as Buffer;
      yield Buffer.from(tail);
    })(),
  );
  const headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  return httpRequest(`${base}/api/v1/repos/${repo}/uploads`, { method: 'POST', headers, body });
}

/** Hex sha256 of a file. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Every file under `<var>/artifacts` (stored and temp), relative, sorted. */
export async function artifactFiles(varDir: string): Promise<string[]> {
  const root = path.join(varDir, 'artifacts');
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(root, p));
    }
  };
  await walk(root);
  return out.sort();
}

/** Peak resident set (VmHWM) of a process in KiB, from /proc/<pid>/status. */
export async function peakRssKiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]);
}
