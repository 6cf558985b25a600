// Prometheus metrics (prom-client) on a registry owned by one server, so
// several servers in one process (tests) never share counters.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestHandler } from 'express';
import { JOB_STATES, type MetadataStore } from './metadata-store.js';

/** The server's metrics. */
export interface ServerMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  uploadBytes: Counter;
  uploads: Counter<'result'>;
  uploadsInFlight: Gauge;
  publishes: Counter<'result'>;
}

/** Creates the metrics; `store` feeds the job-queue gauge at scrape time. */
export function createMetrics(store: MetadataStore): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lxl_' });
  const m: ServerMetrics = {
    registry,
    httpRequests: new Counter({ name: 'lxl_http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    httpDuration: new Histogram({ name: 'lxl_http_request_duration_seconds', help: 'Time to answer HTTP requests', labelNames: ['method', 'route'], registers: [registry], buckets: [0.005, 0.02, 0.1, 0.5, 2, 10, 60] }),
    uploadBytes: new Counter({ name: 'lxl_upload_bytes_total', help: 'Bytes received in package uploads', registers: [registry] }),
    uploads: new Counter({ name: 'lxl_uploads_total', help: 'Package uploads by result (stored, duplicate, rejected)', labelNames: ['result'], registers: [registry] }),
    uploadsInFlight: new Gauge({ name: 'lxl_uploads_in_flight', help: 'Uploads being received now', registers: [registry] }),
    publishes: new Counter({ name: 'lxl_publishes_total', help: 'Publishes by result', labelNames: ['result'], registers: [registry] }),
  };
  new Gauge({
    name: 'lxl_jobs',
    help: 'Jobs by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const jobs = await store.listJobs();
      for (const s of JOB_STATES) this.set({ state: s }, jobs.filter((j) => j.state === s).length);
    },
  });
  return m;
}

/** A low-cardinality label for a request path: ids and repo names become :id and :repo, served files become `static`. */
export function routeLabel(pathname: string, unmatched: boolean): string {
  if (unmatched) return 'unmatched';
  if (!pathname.startsWith('/api/')) return ['/healthz', '/readyz', '/metrics'].includes(pathname) ? pathname : 'static';
  const segs = pathname.split('/');
  return segs
    .map((s, i) => (i === 4 && segs[3] === 'repos' ? ':repo' : /^[a-z]+_[0-9a-f]{24}$/.test(s) ? ':id' : s))
    .join('/')
    .replace(/\/$/, '');
}

/** Middleware counting requests by route pattern (not raw path, which would explode label cardinality). */
export function requestMetrics(m: ServerMetrics): RequestHandler {
  return (req, res, next) => {
    const end = m.httpDuration.startTimer();
    const pathname = req.path;
    res.on('finish', () => {
      const route = routeLabel(pathname, res.locals.unmatched === true);
      m.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      end({ method: req.method, route });
    });
    next();
  };
}
