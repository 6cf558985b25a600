// `lxl server` (alias `serve`): run the API server, and in embedded mode
// serve the published tree. Config: --config file, then LXL_* env, then flags.

import { Command, Option } from 'commander';
import { loadServerConfig } from '../server/config.js';
import { startServer } from '../server/server.js';

interface ServerFlags {
  config?: string;
  var?: string;
  listen?: string;
  database?: string;
  publicDir?: string;
  static?: boolean;
  maxUploadBytes?: number;
  logLevel?: string;
  signingKey?: string;
  passphraseEnv?: string;
}

/** Registers `lxl server`. */
export function register(program: Command): void {
  program
    .command('server')
    .alias('serve')
    .description('run the lxl server: uploads, catalogue, job queue, publishing; in embedded mode it also serves the published tree')
    .option('--config <file>', 'JSON config file (env LXL_* and flags override it)')
    .option('--var <dir>', 'state folder: lxl.db, artifacts/, public/ (env LXL_VAR)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8080; env LXL_LISTEN)')
    .option('--database <url>', 'metadata store: sqlite:<file> (default sqlite:<var>/lxl.db) or postgres://user:pass@host/db (env LXL_DATABASE)')
    .option('--public-dir <dir>', 'published tree (default <var>/public)')
    .option('--no-static', 'API only: do not serve the published tree')
    .option('--signing-key <secret.asc>', 'armored secret key that signs the published repos (env LXL_SIGNING_KEY)')
    .option('--passphrase-env <VAR>', 'environment variable holding the signing key passphrase')
    .addOption(new Option('--max-upload-bytes <n>', 'largest accepted upload').argParser((v) => Number(v)))
    .addOption(new Option('--log-level <level>').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .action(async (flags: ServerFlags) => {
      const overrides: Record<string, unknown> = { var: flags.var, listen: flags.listen, database: flags.database, publicDir: flags.publicDir, logLevel: flags.logLevel };
      if (flags.static === false) overrides.serveStatic = false;
      if (flags.signingKey) overrides.signing = { keyFile: flags.signingKey, passphraseEnv: flags.passphraseEnv };
      const config = await loadServerConfig({ file: flags.config, overrides });
      if (flags.maxUploadBytes !== undefined) config.limits.maxUploadBytes = flags.maxUploadBytes;
      const running = await startServer(config);
      // Machine-readable first line on stdout, so scripts and tests can find the port.
      process.stdout.write(`lxl server listening on ${running.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (sig: NodeJS.Signals): void => {
          running.ctx.log.info({ signal: sig }, 'shutting down');
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          running.close().then(resolve, (err: unknown) => {
            running.ctx.log.error({ err }, 'unclean shutdown');
            process.exitCode = 1;
            resolve();
          });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });
}
