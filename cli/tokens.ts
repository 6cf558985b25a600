// `lxl tokens create|list|revoke`: manage API tokens directly in the
// server's database, the SQLite file or PostgreSQL (bootstrap the first admin token, or work offline).
// A created token is printed once on stdout; only its hash is stored.

import { userInfo } from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError } from '../repo-layout/errors.js';
import { SqliteStore } from '../server/sqlite-store.js';
import { PgStore } from '../server/pg-store.js';
import { isPostgresUrl } from '../server/config.js';
import { createToken } from '../server/tokens.js';
import { TOKEN_SCOPES, type MetadataStore, type TokenScope } from '../server/metadata-store.js';
import { tokenView } from '../server/views.js';

interface DbFlags {
  db?: string;
  var?: string;
}

function dbFile(flags: DbFlags): string {
  if (flags.db) return path.resolve(flags.db.replace(/^sqlite:/, ''));
  const v = flags.var ?? process.env.LXL_VAR;
  if (v) return path.join(path.resolve(v), 'lxl.db');
  throw new ConfigError('cannot find the server database: pass --db <file> or --var <dir> (or set LXL_VAR)');
}

async function withStore<T>(flags: DbFlags, fn: (s: MetadataStore) => Promise<T>): Promise<T> {
  // Flags win; without them a PostgreSQL LXL_DATABASE (several instances) comes before LXL_VAR.
  const url = flags.db ?? (flags.var ? undefined : process.env.LXL_DATABASE);
  const store = url && isPostgresUrl(url) ? new PgStore({ url }) : new SqliteStore({ file: dbFile(flags) });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

const actor = (): string => `cli:${userInfo().username}`;
const when = (ms?: number): string => (ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

function dbOptions(cmd: Command): Command {
  return cmd.option('--db <file|url>', 'the server database: sqlite file, or postgres:// URL (env LXL_DATABASE)').option('--var <dir>', 'the server state folder (uses <dir>/lxl.db; env LXL_VAR)');
}

/** Registers `lxl tokens`. */
export function register(program: Command): void {
  const tokens = program.command('tokens').description('create, list and revoke API tokens (scopes: builder, admin)');

  dbOptions(tokens.command('create'))
    .description('create a token and print it once')
    .requiredOption('--name <name>', 'what the token is for, e.g. the worker host')
    .addOption(new Option('--scope <scope...>', 'builder (upload, lease jobs) and/or admin (everything)').choices([...TOKEN_SCOPES]).makeOptionMandatory())
    .addOption(new Option('--expires-days <n>', 'expire after n days').argParser((v) => Number(v)))
    .action(async (flags: DbFlags & { name: string; scope: TokenScope[]; expiresDays?: number }) => {
      if (flags.expiresDays !== undefined && !(flags.expiresDays > 0)) throw new ConfigError('cannot create the token: --expires-days must be a positive number');
      const expiresAt = flags.expiresDays ? Date.now() + flags.expiresDays * 86_400_000 : undefined;
      const { token, record } = await withStore(flags, (s) => createToken(s, { name: flags.name, scopes: flags.scope, expiresAt }, actor()));
      process.stderr.write(`created token ${record.id} (${record.scopes.join(', ')}); it is shown only now:\n`);
      process.stdout.write(`${token}\n`);
    });

  dbOptions(tokens.command('list'))
    .description('list tokens (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (flags: DbFlags & { json?: boolean }) => {
      const list = await withStore(flags, (s) => s.listTokens());
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(list.map(tokenView), null, 2)}\n`);
        return;
      }
      for (const t of list.map(tokenView)) {
        const status = t.revokedAt !== undefined ? 'revoked' : t.active ? 'active' : 'expired';
        process.stdout.write(`${t.id}\t${status}\t${t.scopes.join(',')}\t${t.name}\tcreated ${when(t.createdAt)}\tlast used ${when(t.lastUsedAt)}\n`);
      }
    });

  dbOptions(tokens.command('revoke'))
    .description('revoke a token by id')
    .argument('<id>', 'token id (tok_…), from `lxl tokens list`')
    .action(async (id: string, flags: DbFlags) => {
      const t = await withStore(flags, (s) => s.revokeToken(id, actor()));
      process.stdout.write(`revoked ${t.id} (${t.name})\n`);
    });
}
