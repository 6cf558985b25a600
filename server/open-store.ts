// Picks the MetadataStore for a `database` setting: `postgres://…` (or
// `postgresql://…`) opens PostgreSQL, anything else the SQLite file (the
// embedded default, `<var>/lxl.db`). The one place that knows both engines.

import { isPostgresUrl } from './config.js';
import type { MetadataStore } from './metadata-store.js';
import { PgStore } from './pg-store.js';
import { SqliteStore } from './sqlite-store.js';

export interface OpenStoreOptions {
  /** The `database` setting; undefined means SQLite at `defaultFile`. */
  database?: string;
  /** The SQLite file when `database` names none (`<var>/lxl.db`). */
  defaultFile: string;
  /** Told about errors of idle PostgreSQL connections (logged by the server). */
  onIdleError?: (err: Error) => void;
}

/** True when `database` selects the shared PostgreSQL store (several server instances). */
export function isSharedStore(database: string | undefined): boolean {
  return database !== undefined && isPostgresUrl(database);
}

/** Opens (does not migrate) the store `database` names. */
export function openMetadataStore(opts: OpenStoreOptions): MetadataStore {
  if (opts.database && isPostgresUrl(opts.database)) return new PgStore({ url: opts.database, onIdleError: opts.onIdleError });
  const file = opts.database?.startsWith('sqlite:') ? opts.database.slice('sqlite:'.length) : opts.defaultFile;
  return new SqliteStore({ file });
}
