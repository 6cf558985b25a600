// The `lxl` command line. Each command group lives in its own file and is
// registered here explicitly, in the order `lxl --help` lists them.

import { Command, CommanderError } from 'commander';
import { LxlError } from '../repo-layout/errors.js';

const program = new Command()
  .name('lxl')
  .description('linux-xen-legacy: build, sign and publish legacy-named Xen kernels as APT, YUM and tarball repos')
  .showHelpAfterError()
  .exitOverride();

// Command groups by top-level name: each module exports register(program).
// Only the group being run is loaded (start-up time matters for scripted use);
// `lxl --help` and unknown commands load them all.
const groups: Record<string, () => Promise<{ register(p: Command): void }>> = {
  up: async () => import('./up.js'),
  keys: async () => import('./keys.js'),
  pack: async () => import('./pack.js'),
  apt: async () => import('./apt.js'),
  yum: async () => import('./yum.js'),
  server: async () => import('./server.js'),
  tokens: async () => import('./tokens.js'),
  worker: async () => import('./worker.js'),
  build: async () => import('./build.js'),
};

/** Prints one clear line for a failure (the stack only with LXL_DEBUG=1) and sets a non-zero exit code. */
function reportFailure(err: unknown): void {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
    return;
  }
  const code = err instanceof LxlError ? ` [${err.code}]` : '';
  process.stderr.write(`lxl: ${(err as Error)?.message ?? String(err)}${code}\n`);
  if (process.env.LXL_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exitCode = 1;
}

// Signing commands: start loading OpenPGP now, so it overlaps the command's file I/O instead of following it.
if (process.argv.some((a) => a === '--key' || a.startsWith('--key='))) void import('../repo-layout/signing/openpgp-signer.js').catch(() => {});

try {
  const wanted = process.argv[2];
  const load = wanted !== undefined && Object.hasOwn(groups, wanted) ? [groups[wanted]] : Object.values(groups);
  for (const mod of await Promise.all(load.map((l) => l()))) mod.register(program);
  // URL storage (zod, the AWS SDK) is loaded only for a command line that names it.
  if (process.argv.some((a) => a === '--storage' || a.startsWith('--storage='))) await (await import('./storage-option.js')).loadStorageModules();
  await program.parseAsync(process.argv);
} catch (err) {
  reportFailure(err);
}
