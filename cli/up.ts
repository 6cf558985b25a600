// `lxl up`: the main job on the embedded defaults. Creates the repo signing
// key on the first run, starts the server (SQLite + ./var, the published tree
// served over HTTP), makes sure the default repo exists, and prints how
// guests use it. Building kernels is done by `lxl worker` (or `lxl build`).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { loadServerConfig } from '../server/config.js';
import { startServer } from '../server/server.js';
import { generateKey } from '../repo-layout/signing/keys.js';
import { keyFileNames, writeKeyFiles } from '../repo-layout/signing/key-files.js';
import { loadSigner } from '../repo-layout/signing/openpgp-signer.js';

interface UpFlags {
  var: string;
  listen: string;
  repo: string;
  email: string;
}

const KEY_NAME = 'linux-xen-legacy';

/** Registers `lxl up`. */
export function register(program: Command): void {
  program
    .command('up')
    .description('run the main job on the embedded defaults: signing key on first run, server on SQLite + ./var, published tree over HTTP')
    .option('--var <dir>', 'state folder (env LXL_VAR)', process.env.LXL_VAR ?? 'var')
    .option('--listen <host:port>', 'address to serve on (env LXL_LISTEN)', process.env.LXL_LISTEN ?? '127.0.0.1:8080')
    .option('--repo <name>', 'the repo to create and publish', 'linux-xen-legacy')
    .option('--email <email>', 'email on a newly generated signing key', 'linux-xen-legacy@localhost')
    .action(async (flags: UpFlags) => {
      const keyDir = path.resolve(flags.var, 'keys');
      const keyFile = path.join(keyDir, keyFileNames(KEY_NAME).secret);
      if (!existsSync(keyFile)) {
        process.stderr.write(`lxl up: first run: generating the repo signing key (RSA-4096) in ${keyDir} ...\n`);
        const key = await generateKey({ name: 'linux-xen-legacy repository', email: flags.email });
        await writeKeyFiles(keyDir, KEY_NAME, key);
      }
      const signer = await loadSigner({ keyFile });
      const config = await loadServerConfig({
        overrides: { var: flags.var, listen: flags.listen, signing: { keyFile }, repos: [{ name: flags.repo, settings: { lines: ['6.1'] } }] },
      });
      const running = await startServer(config);
      const url = running.url.replace(/\/$/, '');
      process.stdout.write(
        [
          `lxl server listening on ${running.url}`,
          '',
          `Signing key ${signer.fingerprints[0]} (${keyDir})`,
          '',
          'Guests, once kernels are built and published:',
          `  apt:  curl -o /etc/apt/keyrings/${KEY_NAME}.gpg ${url}/keys/${KEY_NAME}.gpg`,
          `        echo "deb [signed-by=/etc/apt/keyrings/${KEY_NAME}.gpg] ${url}/apt/${flags.repo} stable main" > /etc/apt/sources.list.d/${KEY_NAME}.list`,
          `        apt-get update && apt-get install linux-xen-legacy`,
          `  yum:  see ${url}/yum/ for the .repo file (gpgcheck=1, repo_gpgcheck=1), then yum install kernel-xen-legacy`,
          `  tarballs: ${url}/tarballs/${flags.repo}/`,
          '',
          'Build and publish kernels:',
          `  npx lxl tokens create --var ${flags.var} --name worker --scope builder`,
          `  npx lxl worker --server ${url} --token <token>`,
          '',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          running.close().then(resolve, () => {
            process.exitCode = 1;
            resolve();
          });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });
}
