// An HTTP proxy on 127.0.0.1 in front of an S3 server (s3rver) that injects
// faults into a share of requests, chosen by a seeded RNG so a failing run can
// be replayed: HTTP 500, HTTP 503 SlowDown, a dropped connection before the
// request reaches the server, or one dropped after the server acted on it.
//
// With `enforceConditional` it also enforces If-None-Match: * and If-Match on
// PUT and DELETE (which s3rver ignores), serialising those requests, so the
// S3 publish lock can be tested over real HTTP with the real SDK.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';

export type Fault = '500' | '503' | 'drop' | 'drop-after';

export interface FaultProxyOptions {
  /** The S3 server, for example `http://127.0.0.1:4568`. */
  upstream: string;
  /** RNG seed: the same seed and request sequence inject the same faults. */
  seed?: number;
  /** Share of requests (0..1) that get a fault. */
  failRate?: number;
  /** Faults to pick from (default all but drop-after). */
  faults?: Fault[];
  /** Enforce If-None-Match / If-Match on PUT and DELETE. */
  enforceConditional?: boolean;
}

export interface FaultProxy {
  endpoint: string;
  /** Requests seen, and faults injected by kind. */
  stats: { requests: number; injected: Record<Fault, number>; preconditionFailed: number };
  /** Changes the share of failing requests (0 turns faults off). */
  setFailRate(rate: number): void;
  close(): Promise<void>;
}

/** A deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Starts a fault-injecting proxy to `opts.upstream`; it closes when the test file ends. */
export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const up = new URL(opts.upstream);
  const rand = seededRandom(opts.seed ?? 1);
  const faults = opts.faults ?? ['500', '503', 'drop'];
  let failRate = opts.failRate ?? 0;
  const stats: FaultProxy['stats'] = { requests: 0, injected: { '500': 0, '503': 0, drop: 0, 'drop-after': 0 }, preconditionFailed: 0 };
  let conditionalChain: Promise<void> = Promise.resolve();

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, dropAfter: boolean): Promise<void> =>
    new Promise((resolve) => {
      const upReq = http.request(
        { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers },
        (upRes) => {
          if (dropAfter) {
            upRes.resume();
            upRes.on('end', () => {
              req.socket.destroy();
              resolve();
            });
            return;
          }
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          upRes.on('end', resolve);
          upRes.on('error', () => resolve());
        },
      );
      upReq.on('error', () => {
        req.socket.destroy();
        resolve();
      });
      req.pipe(upReq);
    });

  const s3Error = (res: http.ServerResponse, status: number, code: string, message: string): void => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const conditional = async (req: http.IncomingMessage, res: http.ServerResponse, dropAfter: boolean): Promise<void> => {
    const ifNoneMatch = req.headers['if-none-match'];
    const ifMatch = req.headers['if-match'];
    const current = await new Promise<{ status: number; etag?: string }>((resolve, reject) => {
      const path = (req.url ?? '/').split('?')[0];
      const h = http.request({ host: up.hostname, port: up.port, method: 'HEAD', path }, (r) => {
        r.resume();
        resolve({ status: r.statusCode ?? 0, etag: r.headers.etag });
      });
      h.on('error', reject);
      h.end();
    });
    const exists = current.status === 200;
    if (ifNoneMatch === '*' && exists) {
      stats.preconditionFailed++;
      req.resume();
      return s3Error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    if (ifMatch !== undefined) {
      if (!exists) {
        req.resume();
        return s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      }
      if (ifMatch !== current.etag) {
        stats.preconditionFailed++;
        req.resume();
        return s3Error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
      }
    }
    await forward(req, res, dropAfter);
  };

  const server = http.createServer((req, res) => {
    stats.requests++;
    let dropAfter = false;
    if (failRate > 0 && rand() < failRate) {
      const fault = faults[Math.floor(rand() * faults.length)]!;
      stats.injected[fault]++;
      if (fault === 'drop') return void req.socket.destroy();
      if (fault === '500' || fault === '503') {
        req.resume();
        req.on('end', () =>
          fault === '500' ? s3Error(res, 500, 'InternalError', 'injected fault') : s3Error(res, 503, 'SlowDown', 'injected fault'),
        );
        return;
      }
      dropAfter = true;
    }
    const isConditional =
      opts.enforceConditional && (req.method === 'PUT' || req.method === 'DELETE') && (req.headers['if-none-match'] || req.headers['if-match']);
    if (!isConditional) return void forward(req, res, dropAfter);
    // One conditional request at a time, so check-then-write cannot interleave.
    const run = conditionalChain.then(() => conditional(req, res, dropAfter)).catch(() => void req.socket.destroy());
    conditionalChain = run;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  after(close);
  return { endpoint: `http://127.0.0.1:${port}`, stats, setFailRate: (r) => (failRate = r), close };
}
