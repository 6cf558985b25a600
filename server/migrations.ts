// Numbered schema migrations shared by every MetadataStore: plain SQL files
// `migrations/NNNN-name.sql`, applied in order, each recorded in the
// `schema_version` table. The SQL is kept portable: the same file runs on
// SQLite (sqlite-store.ts) and PostgreSQL (pg-store.ts); there are no
// per-engine files. PostgreSQL applies them under an advisory lock.

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ConfigError } from '../repo-layout/errors.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
const FILE_RE = /^(\d{4})-([a-z0-9-]+)\.sql$/;

/** The table that records applied migrations (same SQL on every engine). */
export const SCHEMA_VERSION_DDL = 'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)';

/** Every migration file, in version order; throws on gaps or duplicate numbers. */
export function loadMigrations(dir = DIR): Migration[] {
  const list = readdirSync(dir)
    .map((f) => FILE_RE.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: Number(m[1]), name: m[2], sql: readFileSync(path.join(dir, m[0]), 'utf8') }))
    .sort((a, b) => a.version - b.version);
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new ConfigError(`cannot load migrations from ${dir}: expected version ${i + 1}, found ${m.version} (${m.name})`);
  });
  return list;
}
