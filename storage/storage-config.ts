// Chooses the published-storage backend from config: `{ kind: 'fs', ... }`
// or `{ kind: 's3', ... }`, each with its own typed options, through one
// explicit map whose entries are checked against the config union at
// compile time. Configs also come from a URL: a path or `file:///srv/repo`
// for a folder, `s3://bucket/prefix?endpoint=...&region=...` for S3.

import { z } from 'zod';
import { ConfigError } from '../repo-layout/errors.js';
import { FsStorage, type FsStorageOptions } from './fs-storage.js';
import { S3Storage, type S3StorageOptions } from './s3-storage.js';
import type { PublishedStorage } from './storage.js';

export type StorageConfig = ({ kind: 'fs' } & FsStorageOptions) | ({ kind: 's3' } & S3StorageOptions);
export type StorageKind = StorageConfig['kind'];

type Factories = { [K in StorageKind]: (config: Extract<StorageConfig, { kind: K }>) => PublishedStorage };

const factories = {
  fs: ({ kind: _kind, ...opts }) => new FsStorage(opts),
  s3: ({ kind: _kind, ...opts }) => new S3Storage(opts),
} satisfies Factories;

const fsSchema = z.object({ kind: z.literal('fs'), root: z.string().min(1) }).strict();
const s3Schema = z
  .object({
    kind: z.literal('s3'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
    prefix: z.string().optional(),
    endpoint: z.url().optional(),
    region: z.string().min(1).optional(),
    forcePathStyle: z.boolean().optional(),
    requestChecksumCalculation: z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).optional(),
    partSize: z.number().int().min(5 * 1024 * 1024).optional(),
    queueSize: z.number().int().min(1).max(64).optional(),
    maxAttempts: z.number().int().min(1).max(20).optional(),
  })
  .strict();
const configSchema = z.discriminatedUnion('kind', [fsSchema, s3Schema]);

/** Validates an untrusted config object (from a config file); throws ConfigError listing every problem. */
export function parseStorageConfig(input: unknown): StorageConfig {
  const r = configSchema.safeParse(input);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join('.') || 'storage'}: ${i.message}`).join('; ');
    throw new ConfigError(`cannot read storage config: ${why}`);
  }
  return r.data;
}

/** Parses `/path`, `file:///path` or `s3://bucket/prefix?endpoint=&region=&pathStyle=&checksums=&maxAttempts=` into a config. */
export function storageConfigFromUrl(spec: string): StorageConfig {
  if (!spec.includes('://')) return parseStorageConfig({ kind: 'fs', root: spec });
  let url: URL;
  try {
    url = new URL(spec);
  } catch (err) {
    throw new ConfigError(`cannot read storage URL ${JSON.stringify(spec)}: not a URL`, { cause: err });
  }
  if (url.protocol === 'file:') return parseStorageConfig({ kind: 'fs', root: decodeURIComponent(url.pathname) });
  if (url.protocol !== 's3:') throw new ConfigError(`cannot read storage URL ${JSON.stringify(spec)}: use a path, file:// or s3://`);
  const q = url.searchParams;
  const known = new Set(['endpoint', 'region', 'pathStyle', 'checksums', 'maxAttempts', 'partSize', 'queueSize']);
  const unknown = [...q.keys()].filter((k) => !known.has(k));
  if (unknown.length) throw new ConfigError(`cannot read storage URL ${JSON.stringify(spec)}: unknown parameter ${unknown.join(', ')}`);
  const num = (k: string): number | undefined => (q.has(k) ? Number(q.get(k)) : undefined);
  const prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  const given = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return parseStorageConfig(given({
    kind: 's3',
    bucket: url.hostname,
    prefix: prefix || undefined,
    endpoint: q.get('endpoint') ?? undefined,
    region: q.get('region') ?? undefined,
    forcePathStyle: q.has('pathStyle') ? q.get('pathStyle') !== 'false' && q.get('pathStyle') !== '0' : undefined,
    requestChecksumCalculation: q.get('checksums') ?? undefined,
    maxAttempts: num('maxAttempts'),
    partSize: num('partSize'),
    queueSize: num('queueSize'),
  }));
}

/** Opens the backend a config names. */
export function openStorage(config: StorageConfig): PublishedStorage {
  const make = factories[config.kind] as (c: StorageConfig) => PublishedStorage;
  return make(config);
}
