// S3 storage: published files as objects in a bucket (under an optional key
// prefix), through the AWS SDK v3. Single PUTs are atomic on S3, so readers
// see the old object or the new one; big streams go up as multipart uploads,
// which S3 also makes visible only on completion.

import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NotFoundError, StorageError } from '../repo-layout/errors.js';
import { assertKey, type ObjectInfo, type PublishedStorage, type PutItem, type PutOptions } from './storage.js';
import { asBuffer } from '../repo-layout/bytes.js';
import { extraCaAgentOptions } from './extra-ca.js';

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix inside the bucket, for example `lxl/` (a trailing slash is added when missing). */
  prefix?: string;
  /** Endpoint of an S3-compatible server, for example `http://127.0.0.1:4568`; unset means AWS. */
  endpoint?: string;
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by most S3-compatible servers. */
  forcePathStyle?: boolean;
  /** WHEN_REQUIRED for S3-compatible servers that reject the SDK's default CRC32 checksums. */
  requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** Multipart part size in bytes (S3 minimum 5 MiB). */
  partSize?: number;
  /** Parts uploaded at once per multipart upload. */
  queueSize?: number;
  /** Attempts per request with the SDK's standard retry strategy (default 3). */
  maxAttempts?: number;
  /** A request fails (and is retried) when its socket is idle this long, ms (default 60 000). */
  idleTimeoutMs?: number;
  /** A connection attempt fails (and is retried) after this long, ms (default 10 000). */
  connectTimeoutMs?: number;
  /** Explicit credentials; unset means the SDK's standard provider chain (env, profile, IMDS, ...). */
  credentials?: S3ClientConfig['credentials'];
}

/** The conditional operations the S3 publish lock needs, with ETags. */
export interface ConditionalObjectStore {
  /** Reads `key` with its ETag, or undefined when it is missing. */
  readWithEtag(key: string): Promise<{ body: Buffer; etag: string } | undefined>;
  /** Creates `key` only if it does not exist; resolves the new ETag, or undefined when it exists. */
  createExclusive(key: string, body: string, opts?: PutOptions): Promise<string | undefined>;
  /** Replaces `key` only if its ETag is still `etag`; resolves the new ETag, or undefined when it changed. */
  replaceIfMatch(key: string, body: string, etag: string, opts?: PutOptions): Promise<string | undefined>;
  /** Deletes `key` only if its ETag is still `etag`; resolves false when it changed or is gone. */
  deleteIfMatch(key: string, etag: string): Promise<boolean>;
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

// The pinned SDK (package.json) runs on Node 20; its notice that later SDK releases will need Node 22 is not
// for lxl's users, and would be printed on every CLI run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** A PublishedStorage on an S3 bucket (AWS or an S3-compatible server). */
export class S3Storage implements PublishedStorage, ConditionalObjectStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(opts: S3StorageOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ? opts.prefix.replace(/\/*$/, '/') : '';
    this.partSize = Math.max(opts.partSize ?? DEFAULT_PART_SIZE, 5 * 1024 * 1024);
    this.queueSize = opts.queueSize ?? 4;
    const extraCa = extraCaAgentOptions();
    this.client = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region ?? 'us-east-1',
      forcePathStyle: opts.forcePathStyle ?? Boolean(opts.endpoint),
      requestChecksumCalculation: opts.requestChecksumCalculation ?? 'WHEN_SUPPORTED',
      responseChecksumValidation: opts.requestChecksumCalculation ?? 'WHEN_SUPPORTED',
      maxAttempts: opts.maxAttempts ?? 3,
      retryMode: 'standard',
      credentials: opts.credentials,
      requestHandler: {
        requestTimeout: opts.idleTimeoutMs ?? 60_000,
        connectionTimeout: opts.connectTimeoutMs ?? 10_000,
        // NODE_EXTRA_CA_CERTS as bin/lxl hands it over (extra-ca.ts); the SDK's agent keeps its own keep-alive settings.
        ...(extraCa ? { httpsAgent: extraCa } : {}),
      },
    });
  }

  /** The bucket key of a storage key. */
  private full(key: string): string {
    assertKey(key);
    return this.prefix + key;
  }

  /** `s3://bucket/prefix/key`, for messages. */
  url(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  async put(key: string, body: Readable | Uint8Array | string, opts: PutOptions = {}): Promise<void> {
    const Key = this.full(key);
    const meta = { ContentType: opts.contentType ?? 'application/octet-stream', CacheControl: opts.cacheControl };
    try {
      if (!(body instanceof Readable)) {
        const bytes = asBuffer(body);
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: bytes, ContentLength: bytes.length, ...meta }), {
          abortSignal: opts.signal,
        });
        return;
      }
      // Upload sends one PutObject when the stream fits in a part, else a multipart upload.
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key, Body: body, ...meta },
        partSize: this.partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
      });
      const onAbort = (): void => void upload.abort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await upload.done();
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
      }
    } catch (err) {
      throw this.error('write', key, err);
    }
  }

  async putMany(items: PutItem[]): Promise<void> {
    // Each PUT is atomic on its own; the batch only runs them in parallel (S3 has no fsync to share).
    const queue = items.map((it) => it);
    const worker = async (): Promise<void> => {
      for (let it = queue.shift(); it; it = queue.shift()) await this.put(it.key, it.body, it.opts);
    };
    await Promise.all(Array.from({ length: Math.min(items.length, this.queueSize * 2) }, worker));
  }

  async putIfAbsent(key: string, body: Uint8Array | string, opts: PutOptions = {}): Promise<boolean> {
    // The HEAD skips re-uploading a file that is there; If-None-Match makes the create atomic on servers that honour it.
    if (await this.head(key)) return false;
    return (await this.createExclusive(key, body, opts)) !== undefined;
  }

  async get(key: string): Promise<Readable> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return res.Body as Readable;
    } catch (err) {
      throw this.error('read', key, err);
    }
  }

  async getBytes(key: string): Promise<Buffer> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      throw this.error('read', key, err);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return { key, size: res.ContentLength ?? 0, mtimeMs: res.LastModified?.getTime() ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.error('stat', key, err);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let ContinuationToken: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken }),
        );
      } catch (err) {
        throw this.error('list', prefix, err);
      }
      for (const o of res.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(this.prefix.length), size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() ?? 0 };
      }
      ContinuationToken = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
    } catch (err) {
      if (!isNotFound(err)) throw this.error('delete', key, err);
    }
  }

  async readWithEtag(key: string): Promise<{ body: Buffer; etag: string } | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return { body: Buffer.from(await res.Body!.transformToByteArray()), etag: res.ETag ?? '' };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.error('read', key, err);
    }
  }

  async createExclusive(key: string, body: Uint8Array | string, opts: PutOptions = {}): Promise<string | undefined> {
    return this.conditionalPut(key, body, { IfNoneMatch: '*' }, opts);
  }

  async replaceIfMatch(key: string, body: string, etag: string, opts: PutOptions = {}): Promise<string | undefined> {
    return this.conditionalPut(key, body, { IfMatch: etag }, opts);
  }

  async deleteIfMatch(key: string, etag: string): Promise<boolean> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key), IfMatch: etag }));
      return true;
    } catch (err) {
      if (isPreconditionFailed(err) || isNotFound(err)) return false;
      throw this.error('delete', key, err);
    }
  }

  private async conditionalPut(
    key: string,
    body: Uint8Array | string,
    cond: { IfNoneMatch?: string; IfMatch?: string },
    opts: PutOptions,
  ): Promise<string | undefined> {
    const bytes = asBuffer(body);
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.full(key),
          Body: bytes,
          ContentLength: bytes.length,
          ContentType: opts.contentType ?? 'application/octet-stream',
          CacheControl: opts.cacheControl,
          ...cond,
        }),
        { abortSignal: opts.signal },
      );
      return res.ETag ?? '';
    } catch (err) {
      // 412: the condition failed. 409 (ConditionalRequestConflict): a concurrent write to the key won.
      if (isPreconditionFailed(err) || httpStatus(err) === 409 || (cond.IfMatch && isNotFound(err))) return undefined;
      throw this.error('write', key, err);
    }
  }

  private error(verb: string, key: string, err: unknown): Error {
    if (verb === 'read' && isNotFound(err)) return new NotFoundError(`cannot read ${this.url(key)}: no such object`, { cause: err });
    const e = err as { name?: string; message?: string };
    const status = httpStatus(err);
    const why = `${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
    return new StorageError(`cannot ${verb} ${this.url(key)}: ${why}`, { cause: err });
  }
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name !== 'NoSuchBucket' && (name === 'NoSuchKey' || name === 'NotFound' || httpStatus(err) === 404);
}

function isPreconditionFailed(err: unknown): boolean {
  return (err as { name?: string })?.name === 'PreconditionFailed' || httpStatus(err) === 412;
}

S3Storage satisfies new (opts: S3StorageOptions) => PublishedStorage & ConditionalObjectStore;
