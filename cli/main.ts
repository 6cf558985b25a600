// The `lxl` command line. Each command group lives in its own file and is
// registered here explicitly, in the order `lxl --help` lists them.

import { Command, CommanderError } from 'commander';
import { LxlError } from '../repo-layout/errors.js';

const program = new Command()
  .name('lxl')
  .description('linux-xen-legacy: build, sign and publish legacy-named Xen kernels as APT, YUM and tarball repos')
  .showHelpAfterError()
  .exitOverride();

// Command groups: each module exports register(program).
const groups: Array<() => Promise<{ register(p: Command): void }>> = [
  // (command modules are added here, one line each)
  async () => import('./keys.js'),
  async () => import('./apt.js'),
  async () => import('./pack.js'),
  async () => import('./yum.js'),
  async () => import('./server.js'),
  async () => import('./tokens.js'),
];

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

try {
  for (const load of groups) (await load()).register(program);
  await program.parseAsync(process.argv);
} catch (err) {
  reportFailure(err);
}
