// PostgreSQL for the tests: LXL_TEST_PG_URL names a role that may create
// schemas in its database (.ci/run starts Debian's postgresql and exports it).
// Each test server gets a fresh schema, dropped when the test process ends.
// LXL_TEST_STORE=postgres makes the server harness use PostgreSQL instead of
// SQLite (test/run.mjs runs the server tests once per store).

import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';

export type TestStoreKind = 'sqlite' | 'postgres';

/** The admin URL of the test PostgreSQL, or undefined. */
export const PG_URL = process.env.LXL_TEST_PG_URL || undefined;

/** Which store the server tests run against (LXL_TEST_STORE, default sqlite). */
export function testStoreKind(): TestStoreKind {
  const v = process.env.LXL_TEST_STORE ?? 'sqlite';
  if (v !== 'sqlite' && v !== 'postgres') throw new Error(`LXL_TEST_STORE must be sqlite or postgres, not ${JSON.stringify(v)}`);
  return v;
}

let probe: Promise<string | undefined> | undefined;

/** Why PostgreSQL tests must skip (no URL, server unreachable), or undefined when it answers. */
export function pgUnavailable(): Promise<string | undefined> {
  probe ??= (async () => {
    if (!PG_URL) return 'no PostgreSQL: set LXL_TEST_PG_URL=postgres://user:pass@127.0.0.1/db (a role that may create schemas in it; .ci/run sets it up)';
    const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      return undefined;
    } catch (err) {
      return `PostgreSQL at LXL_TEST_PG_URL does not answer: ${(err as Error).message}`;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return probe;
}

const created = new Set<string>();

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  if (!PG_URL) throw new Error('cannot use PostgreSQL in tests: LXL_TEST_PG_URL is not set');
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Creates an empty store (a schema of its own, named after `key` when given, so one var folder maps
 * to one store) and returns the URL that selects it: search_path in the startup options. Schemas,
 * not databases: DROP DATABASE forces a checkpoint, seconds per database on a busy machine.
 */
export async function createTestDatabase(key?: string): Promise<string> {
  const name = `lxl_t_${key ? createHash('sha256').update(key).digest('hex').slice(0, 20) : randomBytes(10).toString('hex')}`;
  if (!created.has(name)) {
    await admin((c) => c.query(`CREATE SCHEMA IF NOT EXISTS ${name}`));
    if (created.size === 0) process.once('beforeExit', () => void dropTestDatabases());
    created.add(name);
  }
  const url = new URL(PG_URL!);
  url.searchParams.set('options', `-c search_path=${name}`);
  return url.toString();
}

/** Drops every store this process created. */
export async function dropTestDatabases(): Promise<void> {
  const names = [...created];
  created.clear();
  if (names.length === 0) return;
  await admin(async (c) => {
    for (const n of names) await c.query(`DROP SCHEMA IF EXISTS ${n} CASCADE`);
  });
}
