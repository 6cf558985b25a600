// `lxl worker --server <url> --token <builder token>`: leases build jobs from
// an lxl server, builds and packages them, uploads the packages and repeats.
// The token may come from --token-file or $LXL_TOKEN instead (it never shows in logs).

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { ConfigError } from '../repo-layout/errors.js';
import { runWorker } from '../builders/worker.js';
import { checkLineSources, ensurePrereqs, prereqsFor } from '../builders/prereqs.js';
import { KERNEL_LINES_DIR, kernelLineNames, loadKernelLine, type KernelLine } from '../builders/kernel-line.js';

interface WorkerFlags {
  server: string;
  token?: string;
  tokenFile?: string;
  once?: boolean;
  workDir: string;
  cacheDir: string;
  ccache?: boolean;
  installPrereqs?: boolean;
  jobs?: string;
  linesDir?: string;
  stageFrom?: string;
  buildCache?: string;
  leaseTtl: string;
  poll: string;
}

/** Registers `lxl worker`. */
export function register(program: Command): void {
  program
    .command('worker')
    .description('lease build jobs from an lxl server, build and package the kernel, upload the packages, repeat')
    .requiredOption('--server <url>', 'lxl server base URL, e.g. http://127.0.0.1:8080')
    .option('--token <token>', 'builder token (or --token-file, or $LXL_TOKEN)')
    .option('--token-file <file>', 'file holding the builder token')
    .option('--once', 'run at most one job, then exit (exit at once when the queue is empty)')
    .option('--work-dir <dir>', 'scratch folder for builds', path.join(os.tmpdir(), 'lxl-worker'))
    .option('--cache-dir <dir>', 'shared cache for kernel sources (and, with --ccache, compiled objects: <dir>/ccache)', path.join(os.homedir(), '.cache', 'lxl'))
    .option('--ccache', 'compile through ccache (installed separately), its cache in <cache-dir>/ccache: a rebuild of the same or a slightly changed tree compiles only what changed')
    .option('--install-prereqs', 'apt-get install missing build prerequisites (root) before leasing any job')
    .option('--jobs <n>', 'make -j (default: all CPUs)')
    .option('--lines-dir <dir>', 'kernel line definitions (<dir>/<line>/line.json; default: the shipped kernel/)')
    .option('--stage-from <dir>', 'package this prebuilt staged tree instead of building (tests, rebuilds)')
    .option('--build-cache <dir>', 'reuse kernels built from the same inputs from this folder, and keep new builds there (env LXL_BUILD_CACHE)', process.env.LXL_BUILD_CACHE)
    .option('--lease-ttl <seconds>', 'lease length; heartbeats come every third of it', '300')
    .option('--poll <seconds>', 'wait between polls of an empty queue', '10')
    .action(async (flags: WorkerFlags) => {
      const token = await readToken(flags);
      // A worker that cannot build would lease jobs only to fail them: the toolchain (and ccache, with --ccache) is
      // checked before the first lease. Packaging a staged tree (--stage-from) compiles nothing.
      if (!flags.stageFrom) {
        const say = (msg: string) => process.stderr.write(`lxl worker: ${msg}\n`);
        await ensurePrereqs(prereqsFor([], { ccache: flags.ccache }), { install: flags.installPrereqs, say });
        // The lines' sources too (linux-source-6.1), but as warnings: the server may never queue a line.
        const warn = (msg: string) => say(`warning: ${msg}`);
        await checkLineSources(await knownLines(flags.linesDir ? path.resolve(flags.linesDir) : KERNEL_LINES_DIR, warn), { install: flags.installPrereqs, say, warn });
      }
      const abort = new AbortController();
      const stop = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const r = await runWorker({
          server: flags.server,
          token,
          once: flags.once,
          workDir: path.resolve(flags.workDir),
          cacheDir: path.resolve(flags.cacheDir),
          ccache: flags.ccache,
          jobs: positive(flags.jobs, '--jobs'),
          linesDir: flags.linesDir && path.resolve(flags.linesDir),
          stageFrom: flags.stageFrom && path.resolve(flags.stageFrom),
          buildCache: flags.buildCache && path.resolve(flags.buildCache),
          leaseTtlSeconds: positive(flags.leaseTtl, '--lease-ttl'),
          pollSeconds: positive(flags.poll, '--poll'),
          signal: abort.signal,
        });
        if (flags.once && r.failed > 0) process.exitCode = 1;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}

/** The lines defined in `dir` that load (a broken definition is a warning: only that line's jobs fail). */
async function knownLines(dir: string, warn: (msg: string) => void): Promise<KernelLine[]> {
  const lines: KernelLine[] = [];
  for (const name of await kernelLineNames(dir)) {
    try {
      lines.push(await loadKernelLine(path.join(dir, name)));
    } catch (err) {
      warn(`jobs of kernel line ${name} will fail here: ${(err as Error).message.replace(/^line: /, '')}`);
    }
  }
  return lines;
}

async function readToken(flags: WorkerFlags): Promise<string> {
  if (flags.token) return flags.token;
  if (flags.tokenFile) return (await readFile(flags.tokenFile, 'utf8')).trim();
  if (process.env.LXL_TOKEN) return process.env.LXL_TOKEN;
  throw new ConfigError('cannot start the worker: no builder token (give --token, --token-file or $LXL_TOKEN)');
}

function positive(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0)) throw new ConfigError(`cannot start the worker: ${flag} must be a positive number (got ${JSON.stringify(v)})`);
  return n;
}
