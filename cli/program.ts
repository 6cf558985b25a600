// The lxl program: a commander program with the command groups it is given,
// run over one command line, with failures reported as one clear line.
// cli/main.ts runs it (bin/lxl.mjs), and so does the start-up snapshot
// (cli/snapshot.ts, run by bin/lxl for the repo commands).

import v8 from 'node:v8';
import { Command, CommanderError } from 'commander';
import { LxlError } from '../repo-layout/errors.js';

/** Command groups by top-level name, in the order `lxl --help` lists them: each module exports register(program). */
export type CommandGroups = Record<string, () => Promise<{ register(p: Command): void }>>;

/**
 * Runs one command line (`args`: what follows `lxl`). Only the named group is loaded; `lxl --help` and unknown
 * commands load them all. Failures set process.exitCode (the message on stderr); nothing is thrown.
 */
export async function runCli(args: readonly string[], groups: CommandGroups): Promise<void> {
  const program = new Command()
    .name('lxl')
    .description('linux-xen-legacy: build, sign and publish legacy-named Xen kernels as APT, YUM and tarball repos')
    .showHelpAfterError()
    .exitOverride();
  if (!v8.startupSnapshot.isBuildingSnapshot()) process.stdout.on('error', ignoreClosedPipe);
  try {
    const wanted = args[0];
    const load = wanted !== undefined && Object.hasOwn(groups, wanted) ? [groups[wanted]] : Object.values(groups);
    for (const mod of await Promise.all(load.map((l) => l()))) mod.register(program);
    // URL storage (zod, the AWS SDK) is loaded only for a command line that names it.
    if (args.some((a) => a === '--storage' || a.startsWith('--storage='))) await (await import('./storage-option.js')).loadStorageModules();
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    reportFailure(err);
  }
}

/**
 * A reader that stops early (`lxl apt list … | head`) closes the pipe: the command still runs to its end (an add or a
 * publish is not cut short) and only its output stops, instead of an EPIPE stack trace.
 */
function ignoreClosedPipe(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
}

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
