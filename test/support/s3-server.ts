// Starts s3rver (a real S3-API server) as a separate process on 127.0.0.1 with
// a temp data dir and one bucket, and stops it when the test file ends. It
// runs through s3rver-atomic.cjs, which makes s3rver's PUTs atomic as S3's
// are (stock s3rver overwrites objects in place, so a concurrent GET could
// see a truncated file).

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { tempDir } from './tmp.js';

export interface S3Server {
  /** `http://127.0.0.1:<port>`: the S3 endpoint, and the plain HTTP endpoint that serves objects at `/<bucket>/<key>`. */
  endpoint: string;
  bucket: string;
  /** s3rver's data directory. */
  dataDir: string;
  /** Env with the credentials s3rver accepts (S3RVER/S3RVER), for the SDK and rclone. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Credentials s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Why S3 tests must skip, or undefined when s3rver can be started. */
export function s3Unavailable(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('s3rver/package.json');
    return undefined;
  } catch {
    return 's3rver is not installed (npm ci installs it as a devDependency)';
  }
}

function s3rverMain(): string {
  return fileURLToPath(new URL('./s3rver-atomic.cjs', import.meta.url));
}

/** Starts s3rver with bucket `bucket` on a free loopback port; with `tls` (PEM files) it serves https. */
export async function startS3Server(bucket = 'lxl-test', opts: { tls?: { key: string; cert: string } } = {}): Promise<S3Server> {
  const dataDir = await tempDir('lxl-s3rver-');
  const port = await freePort();
  const tlsArgs = opts.tls ? ['--key', opts.tls.key, '--cert', opts.tls.cert] : [];
  const child = spawn(process.execPath, [s3rverMain(), '-d', dataDir, '-a', '127.0.0.1', '-p', String(port), '-s', '--configure-bucket', bucket, ...tlsArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const endpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  await waitReady(port, child, () => stderr);
  const stop = (): Promise<void> => stopChild(child);
  after(stop);
  return {
    endpoint,
    bucket,
    dataDir,
    env: { ...process.env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' },
    stop,
  };
}

/** Waits until s3rver accepts connections (it configures its buckets before it listens), for http and https alike. */
async function waitReady(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`s3rver exited ${child.exitCode}: ${stderr()}`);
    try {
      await tcpConnect(port);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`s3rver did not start within 20 s: ${stderr()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function tcpConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => {
      sock.destroy();
      resolve();
    });
    sock.once('error', reject);
    sock.setTimeout(1000, () => sock.destroy(new Error('connect timeout')));
  });
}
