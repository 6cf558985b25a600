// A tiny static HTTP server on 127.0.0.1 for acceptance tests: serves a
// folder, can hide paths (to simulate an old server without InRelease) and
// records what clients asked for.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after } from 'node:test';

export interface StaticServer {
  url: string;
  /** Paths requested so far, in order (for example `/dists/stable/InRelease`). */
  requests: string[];
  /** Paths that answer 404 while this predicate is true. */
  hide: (urlPath: string) => boolean;
  close(): Promise<void>;
}

/** Serves `root` on a random loopback port until the test file ends. */
export async function serveStatic(root: string): Promise<StaticServer> {
  const state: StaticServer = { url: '', requests: [], hide: () => false, close: async () => {} };
  const server = http.createServer(async (req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    state.requests.push(urlPath);
    const file = path.join(root, path.normalize(urlPath).replace(/^(\.\.[/\\])+/, ''));
    try {
      if (state.hide(urlPath)) throw new Error('hidden');
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      res.writeHead(200, { 'Content-Length': st.size, 'Last-Modified': st.mtime.toUTCString() });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise((resolve) => server.close(() => resolve()));
  after(() => state.close());
  return state;
}
