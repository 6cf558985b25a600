// Embedded mode: serve the published tree (apt/, yum/, tarballs/, keys/)
// read-only. serve-static (express.static) gives Range requests, ETag and
// Last-Modified conditional GETs; this file adds the content types apt, dnf
// and browsers expect and the cache policy of DESIGN.md §5.

import path from 'node:path';
import express, { Router } from 'express';
import type { ServerResponse } from 'node:http';
import { CACHE_IMMUTABLE, CACHE_INDEX } from '../storage/storage.js';

/** Top-level folders of the published tree that are served. */
export const SERVED_TREES = ['apt', 'yum', 'tarballs', 'keys'] as const;

/** Cache-Control for a published key: immutable for pool, by-hash, digest-named repodata and package files; no-cache for indices. */
export function cacheControlFor(key: string): string {
  const base = path.posix.basename(key);
  if (/(^|\/)(pool|by-hash)\//.test(key)) return CACHE_IMMUTABLE;
  if (/\/repodata\/[0-9a-f]{40,128}-/.test(key)) return CACHE_IMMUTABLE;
  if (/\.(deb|rpm)$/.test(base)) return CACHE_IMMUTABLE;
  if (key.startsWith('tarballs/') && /\.tar(\.xz|\.gz)?$/.test(base)) return CACHE_IMMUTABLE;
  return CACHE_INDEX;
}

/** Content-Type for a published key. */
export function contentTypeFor(key: string): string {
  const base = path.posix.basename(key);
  if (base.endsWith('.deb')) return 'application/vnd.debian.binary-package';
  if (base.endsWith('.rpm')) return 'application/x-rpm';
  if (base.endsWith('.xz')) return 'application/x-xz';
  if (base.endsWith('.gz')) return 'application/gzip';
  if (base.endsWith('.zst')) return 'application/zstd';
  if (key.startsWith('keys/') || base === 'repomd.xml.key') return base.endsWith('.asc') || base.endsWith('.key') ? 'application/pgp-keys' : 'application/octet-stream';
  if (base.endsWith('.asc')) return 'application/pgp-signature';
  if (base === 'Release.gpg' || base.endsWith('.sig')) return 'application/pgp-signature';
  if (base.endsWith('.xml')) return 'application/xml';
  if (base.endsWith('.json')) return 'application/json';
  return 'text/plain; charset=utf-8';
}

/** A router serving `publicDir`'s trees under /apt, /yum, /tarballs and /keys. */
export function staticRoutes(publicDir: string): Router {
  const r = Router();
  const root = path.resolve(publicDir);
  const setHeaders = (res: ServerResponse, file: string): void => {
    const key = path.relative(root, file).split(path.sep).join('/');
    res.setHeader('Content-Type', contentTypeFor(key));
    res.setHeader('Cache-Control', cacheControlFor(key));
    res.setHeader('X-Content-Type-Options', 'nosniff');
  };
  for (const tree of SERVED_TREES) {
    r.use(
      `/${tree}`,
      express.static(path.join(root, tree), { index: false, redirect: false, dotfiles: 'ignore', cacheControl: false, fallthrough: true, setHeaders }),
    );
  }
  return r;
}
