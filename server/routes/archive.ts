// GET / in embedded mode: the archive page (server/archive-page.ts), built
// from the metadata store: builds with their packages, jobs that have not made
// a build yet, and the last publish. Package links point into the published tree.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Router, type Request, type Response } from 'express';
import { readKey } from 'openpgp';
import { poolPath } from '../../repo-layout/apt/apt-pool.js';
import { packageHref } from '../../repo-layout/yum/yum-repo.js';
import { tarballVersionDir } from '../../repo-layout/tarball/tarball-index.js';
import { renderArchivePage, type ArchiveKernel, type ArchivePackage, type ArchiveRepo } from '../archive-page.js';
import type { ServerContext } from '../context.js';
import type { BuildRecord, JobRecord, PackageRecord, RepoRecord } from '../metadata-store.js';

const KEY_NAME = 'linux-xen-legacy';

/** The route serving `/` (and `/index.html`). */
export function archiveRoutes(ctx: ServerContext, opts: { publicDir: string; version: string }): Router {
  const r = Router();
  const fingerprint = keyFingerprint(path.join(opts.publicDir, 'keys', `${KEY_NAME}.asc`));
  const page = async (req: Request, res: Response) => {
    const repos = await Promise.all((await ctx.store.listRepos()).map((repo) => repoData(ctx, repo)));
    const html = renderArchivePage({ baseUrl: baseUrl(ctx, req), keyName: KEY_NAME, fingerprint: await fingerprint(), generated: new Date(), repos, version: opts.version });
    res.set({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'" });
    res.send(html);
  };
  r.get('/', page);
  r.get('/index.html', page);
  return r;
}

function baseUrl(ctx: ServerContext, req: Request): string {
  if (ctx.config.publicUrl) return ctx.config.publicUrl.replace(/\/+$/, '');
  // The Host header is the client's; the page escapes it like any other value.
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

async function repoData(ctx: ServerContext, repo: RepoRecord): Promise<ArchiveRepo> {
  const [builds, pkgs, jobs, publishes] = await Promise.all([
    ctx.store.listBuilds(repo.name),
    ctx.store.listPackages({ repo: repo.name }),
    ctx.store.listJobs({ repo: repo.name }),
    ctx.store.listPublishes(repo.name, 20),
  ]);
  const lastOk = publishes.find((p) => p.state === 'succeeded');
  const last = publishes.find((p) => p.state !== 'running');
  const byBuild = new Map<string, PackageRecord[]>();
  for (const p of pkgs) if (p.buildId) byBuild.set(p.buildId, [...(byBuild.get(p.buildId) ?? []), p]);
  const kernels: ArchiveKernel[] = builds.map((b) => buildKernel(repo, b, byBuild.get(b.id) ?? [], lastOk?.startedAt));
  const built = new Set(builds.map((b) => b.jobId).filter(Boolean));
  for (const j of jobs) {
    if (j.kind !== 'build' || built.has(j.id) || j.state === 'succeeded') continue;
    kernels.push(jobKernel(j));
  }
  return { name: repo.name, kernels, lastPublish: last ? { state: last.state, at: last.finishedAt ?? last.startedAt } : undefined };
}

function buildKernel(repo: RepoRecord, b: BuildRecord, pkgs: PackageRecord[], publishedAt: number | undefined): ArchiveKernel {
  const changed = Math.max(b.createdAt, b.promotedAt ?? 0, ...pkgs.map((p) => p.createdAt));
  const tar = pkgs.find((p) => p.kind === 'tarball');
  const krel = typeof tar?.meta.krel === 'string' ? tar.meta.krel : undefined;
  const packages = pkgs
    .map((p) => ({ kind: p.kind, name: p.name, filename: p.filename, href: hrefOf(repo, p), sha256: p.sha256, size: p.size }) satisfies ArchivePackage)
    .sort((a, c) => a.kind.localeCompare(c.kind) || a.filename.localeCompare(c.filename));
  return {
    version: b.version,
    krel,
    arch: b.arch,
    flavour: b.flavour,
    line: b.line,
    status: publishedAt !== undefined && publishedAt >= changed ? 'published' : 'built',
    detail: publishedAt !== undefined && publishedAt >= changed ? undefined : 'waiting for the next publish',
    channel: b.channel,
    date: b.createdAt,
    packages,
    sha256sums: krel ? `${tarballVersionDir(repo.name, krel)}/SHA256SUMS` : undefined,
  };
}

function jobKernel(j: JobRecord): ArchiveKernel {
  const p = j.params as { line?: string; version?: string; flavour?: string; arch?: string };
  const status = j.state === 'leased' ? 'building' : j.state === 'failed' ? 'failed' : 'queued';
  const detail = j.state === 'failed' ? `${(j.error ?? '').split('\n')[0].slice(0, 300)} (log: /api/v1/jobs/${j.id}/log)` : j.state === 'leased' ? `attempt ${j.attempts} on ${j.leaseOwner ?? '?'}` : undefined;
  return { version: p.version ?? `${p.line ?? '?'} (next)`, arch: p.arch ?? '?', flavour: p.flavour, line: p.line ?? '?', status, detail, date: j.updatedAt, packages: [] };
}

/** Where a package lives in the published tree. */
function hrefOf(repo: RepoRecord, p: PackageRecord): string {
  if (p.kind === 'deb') {
    const control = typeof p.meta.control === 'string' ? p.meta.control : '';
    const source = /^Source:\s*(\S+)/m.exec(control)?.[1] ?? p.name;
    return `apt/${repo.name}/${poolPath({ component: 'main', source, name: p.name, version: p.version, arch: p.arch })}`;
  }
  if (p.kind === 'rpm') {
    const m = p.meta as { version?: string; release?: string };
    const yumName = p.channel === 'stable' ? repo.name : `${repo.name}-testing`;
    return `yum/${yumName}/${packageHref({ name: p.name, version: String(m.version), release: String(m.release), arch: p.arch })}`;
  }
  const krel = typeof p.meta.krel === 'string' ? p.meta.krel : p.version;
  return `${tarballVersionDir(repo.name, krel)}/${p.filename}`;
}

/** The published key's fingerprint, re-read when the file changes. */
function keyFingerprint(file: string): () => Promise<string | undefined> {
  let cached: { mtimeMs: number; fpr: string } | undefined;
  return async () => {
    const s = await stat(file).catch(() => undefined);
    if (!s) return undefined;
    if (cached?.mtimeMs !== s.mtimeMs) {
      const key = await readKey({ armoredKey: await readFile(file, 'utf8') }).catch(() => undefined);
      if (!key) return undefined;
      cached = { mtimeMs: s.mtimeMs, fpr: key.getFingerprint().toUpperCase() };
    }
    return cached.fpr;
  };
}
