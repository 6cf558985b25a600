// The SQLite connection under the embedded metadata store: the few calls
// SqliteStore makes (prepared get/all/run, exec, IMMEDIATE transactions), on
// one of two drivers with the same SQLite semantics.
//
// - better-sqlite3 12 on Node 20 and 22 (13 needs Node 22 and crashes on 20).
// - node:sqlite (DatabaseSync) on Node 24 and later. better-sqlite3 12's
//   statements are node::ObjectWrap objects, and since Node 24.19 the
//   ObjectWrap destructor removes an environment cleanup hook, which aborts
//   the process (`Assertion failed: (env) != nullptr` in
//   RemoveEnvironmentCleanupHook) when a garbage collection run from a
//   platform task (no JavaScript context entered) frees a statement. The
//   store prepares a statement per query, so there always are some: the
//   server died within a second of the upload fuzz test on Node 24.21.
//   node:sqlite is Node's own binding, and on Node 24 it no longer prints an
//   experimental warning.
//
// Both bind a JavaScript number as REAL (INTEGER columns store it as an
// integer) and read INTEGER as number; rows come back as plain objects.

import Database from 'better-sqlite3';

export type SqliteDriverName = 'better-sqlite3' | 'node:sqlite';

/** One open database. Every call is synchronous. */
export interface SqliteDb {
  readonly driver: SqliteDriverName;
  get(sql: string, ...args: unknown[]): Record<string, unknown> | undefined;
  all(sql: string, ...args: unknown[]): Array<Record<string, unknown>>;
  /** Runs a statement; returns how many rows it changed. */
  run(sql: string, ...args: unknown[]): number;
  /** Runs SQL text of one or more statements without parameters (DDL, PRAGMA). */
  exec(sql: string): void;
  /** Runs `fn` in a BEGIN IMMEDIATE transaction: committed when it returns, rolled back when it throws; a nested call is a savepoint. */
  immediate<T>(fn: () => T): T;
  /** Closes the database (again: no-op). */
  close(): void;
}

export interface OpenSqliteOptions {
  /** Open without writing; the file must exist. */
  readonly?: boolean;
}

/** Node's major version from which the store runs on node:sqlite. */
const NODE_SQLITE_FROM_MAJOR = 24;

/** What the store uses of node:sqlite (@types/node 20 does not describe it). */
interface NodeSqlite {
  DatabaseSync: new (file: string, opts: { readOnly?: boolean }) => {
    readonly isOpen: boolean;
    prepare(sql: string): {
      get(...args: SqlArgs): object | undefined;
      all(...args: SqlArgs): object[];
      run(...args: SqlArgs): { changes: number | bigint };
    };
    exec(sql: string): void;
    close(): void;
  };
}

/** The driver this Node uses: node:sqlite from Node 24 (where Node has it), better-sqlite3 before. */
export function sqliteDriverName(): SqliteDriverName {
  return Number(process.versions.node.split('.')[0]) >= NODE_SQLITE_FROM_MAJOR && nodeSqlite() ? 'node:sqlite' : 'better-sqlite3';
}

function nodeSqlite(): NodeSqlite | undefined {
  // getBuiltinModule (Node 20.16+, 22.3+) loads a builtin synchronously, and gives undefined where there is none.
  return (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.('node:sqlite') as NodeSqlite | undefined;
}

/** Opens `file` (`:memory:` for a throwaway database) with this Node's driver. */
export function openSqlite(file: string, opts: OpenSqliteOptions = {}): SqliteDb {
  const readonly = opts.readonly ?? false;
  const driver = sqliteDriverName();
  if (driver === 'node:sqlite') {
    const db = new (nodeSqlite()!.DatabaseSync)(file, { readOnly: readonly });
    return withTransactions(driver, {
      get: (sql, args) => plain(db.prepare(sql).get(...(args as SqlArgs))),
      all: (sql, args) => db.prepare(sql).all(...(args as SqlArgs)).map((r) => plain(r)!),
      run: (sql, args) => Number(db.prepare(sql).run(...(args as SqlArgs)).changes),
      exec: (sql) => db.exec(sql),
      close: () => {
        if (db.isOpen) db.close();
      },
    });
  }
  const db = new Database(file, { readonly, fileMustExist: readonly });
  return withTransactions(driver, {
    get: (sql, args) => db.prepare(sql).get(...args) as Record<string, unknown> | undefined,
    all: (sql, args) => db.prepare(sql).all(...args) as Array<Record<string, unknown>>,
    run: (sql, args) => db.prepare(sql).run(...args).changes,
    exec: (sql) => void db.exec(sql),
    close: () => {
      if (db.open) db.close();
    },
  });
}

type SqlArgs = Array<null | number | bigint | string | NodeJS.ArrayBufferView>;

/** A node:sqlite row (a null-prototype object) as a plain one, as better-sqlite3 gives. */
function plain(row: object | undefined): Record<string, unknown> | undefined {
  return row === undefined ? undefined : { ...row };
}

interface Calls {
  get(sql: string, args: unknown[]): Record<string, unknown> | undefined;
  all(sql: string, args: unknown[]): Array<Record<string, unknown>>;
  run(sql: string, args: unknown[]): number;
  exec(sql: string): void;
  close(): void;
}

/** The SqliteDb of a driver's calls, with transactions as SQL (BEGIN IMMEDIATE, SAVEPOINT), the same on both. */
function withTransactions(driver: SqliteDriverName, c: Calls): SqliteDb {
  let depth = 0;
  return {
    driver,
    get: (sql, ...args) => c.get(sql, args),
    all: (sql, ...args) => c.all(sql, args),
    run: (sql, ...args) => c.run(sql, args),
    exec: (sql) => c.exec(sql),
    close: () => c.close(),
    immediate<T>(fn: () => T): T {
      const sp = `lxl_sp${depth}`;
      const outer = depth === 0;
      c.exec(outer ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${sp}`);
      depth++;
      let out: T;
      try {
        out = fn();
        c.exec(outer ? 'COMMIT' : `RELEASE ${sp}`);
      } catch (err) {
        // SQLite may have ended the transaction itself (some errors roll it back): then there is nothing to undo.
        try {
          c.exec(outer ? 'ROLLBACK' : `ROLLBACK TO ${sp}; RELEASE ${sp}`);
        } catch {}
        throw err;
      } finally {
        depth--;
      }
      return out;
    },
  };
}
