// Server configuration: a JSON file, then LXL_* environment variables, then
// command-line flags, each overriding the one before; validated with zod so
// a wrong setting stops the server at start with the field named.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../repo-layout/errors.js';
import { LINE_RE } from './kernel-names.js';

/** Repo names: they become URL segments and folder names. */
export const REPO_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const repoSettingsSchema = z.object({
  lines: z.array(z.string().regex(LINE_RE, 'must be a kernel line such as "6.1"')).default([]),
  compression: z.enum(['gzip', 'xz']).default('gzip'),
  profile: z.enum(['modern', 'el5']).default('modern'),
  retention: z.number().int().min(0).default(0),
  formats: z.array(z.enum(['apt', 'yum', 'tarballs'])).min(1).default(['apt', 'yum', 'tarballs']),
});

export const serverConfigSchema = z.object({
  /** State folder: `lxl.db`, `artifacts/`, and (embedded mode) `public/`. */
  var: z.string({ error: 'is required (--var, LXL_VAR or "var" in the config file)' }).min(1),
  /** host:port to listen on (port 0 picks a free one). */
  listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8080').default('127.0.0.1:8080'),
  /** Metadata store: `sqlite:<file>` (default `sqlite:<var>/lxl.db`), or `postgres://user:pass@host/db` for several instances (README "Scaling out"). */
  database: z.string().optional(),
  /** The published tree (default `<var>/public`). */
  publicDir: z.string().optional(),
  /** Where publishes write: a folder, file:// or s3://bucket/prefix?endpoint=… (default: publicDir). On S3 a publish also holds the bucket's lock object. */
  storage: z.string().min(1).optional(),
  /** Embedded mode: also serve the published tree read-only. */
  serveStatic: z.boolean().default(true),
  /** The repo signing key; without it publishes fail (or a Publisher is injected, as in tests). */
  signing: z
    .object({
      keyFile: z.string().min(1),
      /** Environment variable holding the key's passphrase (never put the passphrase itself in the file). */
      passphraseEnv: z.string().optional(),
      passphraseFile: z.string().optional(),
    })
    .optional(),
  /** The URL clients use to reach the published tree (for .sources/.repo files); default http://<listen>/. */
  publicUrl: z.string().url().optional(),
  limits: z
    .object({
      maxUploadBytes: z.number().int().positive().default(2 * 1024 ** 3),
      maxJsonBytes: z.number().int().positive().default(1024 * 1024),
      maxLogBytes: z.number().int().positive().default(64 * 1024 ** 2),
      maxLogChunkBytes: z.number().int().positive().default(1024 * 1024),
      /**
       * How many times its own size an uploaded package's payload (a .deb's data.tar, a tarball's tar) may unpack to
       * while it is checked; more is refused as a decompression bomb. Kernel packages unpack to 4-10 times their size.
       */
      maxUnpackRatio: z.number().positive().default(100),
      /** Unpacking up to this many bytes is never refused, whatever the ratio (a small upload may compress well). */
      unpackFloorBytes: z.number().int().nonnegative().default(1024 ** 3),
    })
    .prefault({}),
  jobs: z
    .object({
      leaseTtlSeconds: z.number().positive().default(300),
      maxAttempts: z.number().int().positive().default(3),
      sweepSeconds: z.number().positive().default(15),
    })
    .prefault({}),
  publish: z.object({ lockTtlSeconds: z.number().positive().default(60) }).prefault({}),
  /** How long shutdown waits for uploads and publishes before aborting them. */
  shutdownGraceSeconds: z.number().min(0).default(30),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Repos created at start when missing (settings of existing repos are left alone). */
  repos: z.array(z.object({ name: z.string().regex(REPO_NAME_RE, 'must be lowercase letters, digits, . _ -'), settings: repoSettingsSchema.prefault({}) })).default([]),
});

export type ServerConfig = z.output<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

/** Environment variables and the config path each one sets. */
const ENV: Array<[string, string[], 'string' | 'number' | 'boolean']> = [
  ['LXL_VAR', ['var'], 'string'],
  ['LXL_LISTEN', ['listen'], 'string'],
  ['LXL_DATABASE', ['database'], 'string'],
  ['LXL_PUBLIC_DIR', ['publicDir'], 'string'],
  ['LXL_PUBLIC_URL', ['publicUrl'], 'string'],
  ['LXL_STORAGE', ['storage'], 'string'],
  ['LXL_SIGNING_KEY', ['signing', 'keyFile'], 'string'],
  ['LXL_SIGNING_PASSPHRASE_ENV', ['signing', 'passphraseEnv'], 'string'],
  ['LXL_SERVE_STATIC', ['serveStatic'], 'boolean'],
  ['LXL_MAX_UPLOAD_BYTES', ['limits', 'maxUploadBytes'], 'number'],
  ['LXL_MAX_UNPACK_RATIO', ['limits', 'maxUnpackRatio'], 'number'],
  ['LXL_LEASE_TTL_SECONDS', ['jobs', 'leaseTtlSeconds'], 'number'],
  ['LXL_LOCK_TTL_SECONDS', ['publish', 'lockTtlSeconds'], 'number'],
  ['LXL_SHUTDOWN_GRACE_SECONDS', ['shutdownGraceSeconds'], 'number'],
  ['LXL_LOG_LEVEL', ['logLevel'], 'string'],
];

function setPath(obj: Record<string, unknown>, keys: string[], value: unknown): void {
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]] = value;
}

function envValue(name: string, raw: string, type: 'string' | 'number' | 'boolean'): unknown {
  if (type === 'string') return raw;
  if (type === 'number') {
    if (!/^\d+(\.\d+)?$/.test(raw)) throw new ConfigError(`cannot read ${name}: ${JSON.stringify(raw)} is not a number`);
    return Number(raw);
  }
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`cannot read ${name}: ${JSON.stringify(raw)} is not a boolean (true/false)`);
}

/** Loads the config: file (if given), then env, then `overrides` (CLI flags); throws ConfigError naming every bad field. */
export async function loadServerConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ServerConfigInput | Record<string, unknown> } = {}): Promise<ServerConfig> {
  let raw: Record<string, unknown> = {};
  if (opts.file) {
    try {
      raw = JSON.parse(await readFile(opts.file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`cannot read server config ${opts.file}: ${(err as Error).message}`, { cause: err });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`cannot read server config ${opts.file}: it must hold a JSON object`);
    // Relative paths in the file are relative to the file.
    const base = path.dirname(path.resolve(opts.file));
    for (const k of ['var', 'publicDir'] as const) if (typeof raw[k] === 'string') raw[k] = path.resolve(base, raw[k] as string);
    const signing = raw.signing as Record<string, unknown> | undefined;
    if (signing && typeof signing.keyFile === 'string') signing.keyFile = path.resolve(base, signing.keyFile);
  }
  const env = opts.env ?? process.env;
  for (const [name, keys, type] of ENV) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, keys, envValue(name, v, type));
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) if (v !== undefined) raw[k] = v;
  return parseServerConfig(raw);
}

/** Validates config data (already merged) and resolves paths. */
export function parseServerConfig(raw: unknown): ServerConfig {
  const r = serverConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(`invalid server config: ${r.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ')}`);
  const c = r.data;
  c.var = path.resolve(c.var);
  if (c.publicDir) c.publicDir = path.resolve(c.publicDir);
  if (c.database && !c.database.startsWith('sqlite:') && !isPostgresUrl(c.database)) {
    throw new ConfigError(`invalid server config: database: ${JSON.stringify(c.database.replace(/\/\/[^@/]*@/, '//***@'))} is not supported (use sqlite:<file> or postgres://user:password@host/database)`);
  }
  return c;
}

/** True for a PostgreSQL connection URL (`postgres://` or `postgresql://`). */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//.test(database);
}

/** Splits `host:port` (IPv6 in brackets). */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`invalid listen address ${listen}: bad port`);
  return { host, port };
}

/** Resolved locations under the state folder (`dbFile` is the SQLite file; unused with PostgreSQL). */
export function serverPaths(c: ServerConfig): { dbFile: string; artifacts: string; publicDir: string; stateDir: string } {
  return {
    stateDir: path.join(c.var, 'state'),
    dbFile: c.database?.startsWith('sqlite:') ? path.resolve(c.database.slice('sqlite:'.length)) : path.join(c.var, 'lxl.db'),
    artifacts: path.join(c.var, 'artifacts'),
    publicDir: c.publicDir ?? path.join(c.var, 'public'),
  };
}
