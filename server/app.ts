// The Express application: JSON API under /api/v1, health and metrics, the
// OpenAPI document, and (embedded mode) the published tree. Routes live one
// file per resource in routes/; errors are mapped in http-errors.ts only.

import express, { type Express } from 'express';
import type { ServerContext } from './context.js';
import { errorHandler, notFoundHandler } from './http-errors.js';
import { requestMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { archiveRoutes } from './routes/archive.js';
import { buildRoutes } from './routes/builds.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { publishRoutes, repoPublishRoutes } from './routes/publishes.js';
import { repoRoutes } from './routes/repos.js';
import { tokenRoutes } from './routes/tokens.js';
import { uploadRoutes } from './routes/uploads.js';
import { staticRoutes } from './static-serving.js';

export interface AppOptions {
  artifactsDir: string;
  /** Serve this folder's published trees (embedded mode); omitted: API only. */
  publicDir?: string;
  version: string;
}

/** Builds the Express app over an assembled context. */
export function createApp(ctx: ServerContext, opts: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(requestMetrics(ctx.metrics));
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      // Never log headers: Authorization carries the token.
      ctx.log.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6, tokenId: req.token?.id }, 'request');
    });
    next();
  });

  app.use(healthRoutes(ctx, { artifactsDir: opts.artifactsDir }));
  const doc = openApiDocument(opts.version);
  app.get('/api/v1/openapi.json', (_req, res) => {
    res.json(doc);
  });

  const api = express.Router();
  api.use(express.json({ limit: ctx.config.limits.maxJsonBytes, strict: true }));
  api.use('/repos/:repo/uploads', uploadRoutes(ctx));
  api.use('/repos/:repo/builds', buildRoutes(ctx));
  api.use('/repos/:repo', repoPublishRoutes(ctx));
  api.use('/repos', repoRoutes(ctx));
  api.use('/publishes', publishRoutes(ctx));
  api.use('/jobs', jobRoutes(ctx));
  api.use('/', tokenRoutes(ctx));
  app.use('/api/v1', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  }, api);

  if (opts.publicDir) {
    app.use(archiveRoutes(ctx, { publicDir: opts.publicDir, version: opts.version }));
    app.use(staticRoutes(opts.publicDir));
  }

  app.use(notFoundHandler());
  app.use(errorHandler((err, msg) => ctx.log.error({ err }, msg)));
  return app;
}
