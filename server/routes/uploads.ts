// Package uploads: `POST /api/v1/repos/:repo/uploads`, multipart/form-data
// with one file part `file` and the fields `sha256`, `size` (or the headers
// X-Lxl-Sha256 / X-Lxl-Size), `line` and/or `build`. The body streams to a
// temp file while it is hashed; the upload is then checked (stated digest
// and size, package contents, repo rules) and only then stored by content
// address and catalogued. Any refusal leaves nothing behind.

import { rm } from 'node:fs/promises';
import { Router, type NextFunction, type Request, type Response } from 'express';
import multer from 'multer';
import { NotFoundError } from '../../repo-layout/errors.js';
import { actorOf, requireScope } from '../auth.js';
import type { ServerContext } from '../context.js';
import { ApiError } from '../http-errors.js';
import type { BuildRecord, RepoRecord } from '../metadata-store.js';
import { checkPackageRules, inspectPackage, kindOf } from '../package-inspect.js';
import { parseRequest, uploadFields } from '../request-schemas.js';
import { HashingTempStorage, type StreamedFile } from '../upload-engine.js';
import { repoParam } from './repos.js';

type UploadedFile = Express.Multer.File & StreamedFile;

/** The stated digest and size: form fields win over headers. */
function statedFields(req: Request): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const sha = req.get('x-lxl-sha256');
  const size = req.get('x-lxl-size');
  if (sha !== undefined) out.sha256 = sha;
  if (size !== undefined) out.size = size;
  return { ...out, ...(req.body as Record<string, unknown> | undefined) };
}

/** Routes under /api/v1/repos/:repo/uploads. */
export function uploadRoutes(ctx: ServerContext): Router {
  const r = Router({ mergeParams: true });
  const engine = new HashingTempStorage({ store: ctx.artifacts, onBytes: (n) => ctx.metrics.uploadBytes.inc(n) });
  const receive = multer({
    storage: engine,
    limits: { fileSize: ctx.config.limits.maxUploadBytes, files: 1, fields: 8, fieldSize: 1024, fieldNameSize: 64, parts: 10, headerPairs: 16 },
    // Refuse a file name lxl does not publish before receiving its bytes.
    fileFilter: (_req, file, cb) => {
      try {
        kindOf(file.originalname);
        cb(null, true);
      } catch (err) {
        cb(err as Error);
      }
    },
  }).single('file');
  // A refused upload is answered only once its temp file is gone (multer may report a broken part first).
  const receiveSettled = (req: Request, res: Response, next: NextFunction): void => {
    receive(req, res, (err?: unknown) => {
      if (!err) return next();
      engine.settled(req).then(
        () => next(err),
        () => next(err),
      );
    });
  };

  const prepare = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (ctx.draining()) throw new ApiError(503, 'E_UNAVAILABLE', 'cannot accept uploads: the server is shutting down', { hint: 'retry against a running instance' });
    res.locals.repo = await repoParam(ctx, req);
    ctx.metrics.uploadsInFlight.inc();
    res.on('close', () => ctx.metrics.uploadsInFlight.dec());
    next();
  };

  r.post('/', requireScope(ctx.store, 'builder'), prepare, receiveSettled, async (req, res) => {
    const file = req.file as UploadedFile | undefined;
    try {
      const result = await accept(ctx, res.locals.repo as RepoRecord, req, file);
      ctx.metrics.uploads.inc({ result: result.created ? 'stored' : 'duplicate' });
      res.status(result.created ? 201 : 200).json(result);
    } catch (err) {
      ctx.metrics.uploads.inc({ result: 'rejected' });
      throw err;
    } finally {
      // Committed files were moved away already; anything left here was refused.
      if (file?.path) await rm(file.path, { force: true });
    }
  });
  return r;
}

async function accept(ctx: ServerContext, repo: RepoRecord, req: Request, file: UploadedFile | undefined) {
  if (!file) {
    throw new ApiError(400, 'E_BAD_REQUEST', 'no file in the upload', { hint: 'send multipart/form-data with the package in a file part named "file", plus sha256 and size fields' });
  }
  const fields = parseRequest(uploadFields, statedFields(req), 'upload fields');
  kindOf(file.originalname);
  if (fields.size !== file.size) {
    throw new ApiError(422, 'E_SIZE_MISMATCH', `upload refused: ${fields.size} bytes were stated but ${file.size} arrived`, { hint: 'the transfer was cut or the stated size is wrong; upload again' });
  }
  if (fields.sha256 !== file.sha256) {
    throw new ApiError(422, 'E_DIGEST_MISMATCH', `upload refused: sha256 ${fields.sha256} was stated but the bytes hash to ${file.sha256}`, { hint: 'the file changed or was corrupted on the way; upload again' });
  }
  let build: BuildRecord | undefined;
  if (fields.build) {
    build = await ctx.store.getBuild(fields.build);
    if (!build || build.repo !== repo.name) throw new NotFoundError(`upload refused: no such build in ${repo.name}: ${fields.build}`);
    if (fields.line && fields.line !== build.line) throw new ApiError(400, 'E_BAD_REQUEST', `upload refused: line ${fields.line} differs from build ${build.id}'s line ${build.line}`);
  }
  const line = fields.line ?? build?.line;
  if (!line) throw new ApiError(400, 'E_BAD_REQUEST', 'upload refused: say which kernel line it belongs to', { hint: 'add a "line" field (e.g. 6.1) or a "build" id' });
  if (repo.settings.lines.length > 0 && !repo.settings.lines.includes(line)) {
    throw new ApiError(422, 'E_PACKAGE_REFUSED', `upload refused: repo ${repo.name} carries kernel lines ${repo.settings.lines.join(', ')}, not ${line}`, { hint: 'upload to a repo that carries this line, or add the line to the repo settings' });
  }

  const pkg = await inspectPackage(file.path, file.originalname, ctx.config.limits);
  checkPackageRules(pkg, line);
  const identity = { repo: repo.name, kind: pkg.kind, name: pkg.name, version: pkg.version, arch: pkg.arch };
  const existing = await ctx.store.findPackage(identity);
  if (existing && existing.sha256 === file.sha256 && (await ctx.artifacts.has(file.sha256))) return { package: existing, created: false };
  // addPackage repeats this check in its transaction; checking first keeps a conflicting file out of the store.
  if (existing && existing.sha256 !== file.sha256) {
    throw new ApiError(409, 'E_CONFLICT', `upload refused: ${pkg.kind} ${pkg.name} ${pkg.version} (${pkg.arch}) is already in ${repo.name} with other bytes (sha256 ${existing.sha256})`, {
      hint: 'published packages are immutable: bump the version',
    });
  }
  await ctx.artifacts.commit(file.path, file.sha256);
  const added = await ctx.store.addPackage(
    { ...identity, line, filename: file.originalname, sha256: file.sha256, size: file.size, buildId: build?.id, meta: pkg.meta },
    actorOf(req),
  );
  ctx.log.info({ repo: repo.name, package: added.record.id, name: pkg.name, version: pkg.version, arch: pkg.arch, sha256: file.sha256, size: file.size }, 'package stored');
  return { package: added.record, created: added.created };
}
