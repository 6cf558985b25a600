// `lxl build --line 6.1 --flavour minimal --arch x86_64 --out <dir>`: runs one
// build job locally, with no server, and writes the packages to a folder. It
// calls the same job runner as `lxl worker`, so the bytes are the same.

import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { parseJobParams, runBuildJob } from '../builders/job-runner.js';
import { createProgress } from '../builders/progress.js';

interface BuildFlags {
  line: string;
  flavour: string;
  arch: string;
  version?: string;
  revision: string;
  out: string;
  workDir: string;
  cacheDir: string;
  ccache?: boolean;
  jobs?: string;
  linesDir?: string;
  stageFrom?: string;
  debCompression: 'gzip' | 'xz';
}

/** Registers `lxl build`. */
export function register(program: Command): void {
  program
    .command('build')
    .description('build one kernel job locally (no server) and write its packages to --out')
    .requiredOption('--line <line>', 'kernel line, e.g. 6.1')
    .option('--flavour <name>', 'flavour of the line', 'minimal')
    .addOption(new Option('--arch <arch>', 'kernel arch').choices(['x86_64', 'i386']).default('x86_64'))
    .option('--version <version>', 'package version (default <kernel version>-<revision>, revision 1)')
    .option('--revision <n>', 'build revision of this kernel version: above 1 it goes into the kernel release (6.1.192-2-xen-legacy) and the version', '1')
    .requiredOption('--out <dir>', 'folder for the packages (deb/, rpm/, rpm-el5/, tarballs/)')
    .option('--work-dir <dir>', 'scratch folder', path.join(os.tmpdir(), 'lxl-build'))
    .option('--cache-dir <dir>', 'cache for kernel sources (and, with --ccache, compiled objects: <dir>/ccache)', path.join(os.homedir(), '.cache', 'lxl'))
    .option('--ccache', 'compile through ccache (installed separately), its cache in <cache-dir>/ccache: a rebuild of the same or a slightly changed tree compiles only what changed')
    .option('--jobs <n>', 'make -j (default: all CPUs)')
    .option('--lines-dir <dir>', 'kernel line definitions (<dir>/<line>/line.json)')
    .option('--stage-from <dir>', 'package this prebuilt staged tree instead of building')
    .addOption(new Option('--deb-compression <kind>', 'deb payload compression').choices(['gzip', 'xz']).default('gzip'))
    .action(async (flags: BuildFlags) => {
      const params = parseJobParams({ line: flags.line, flavour: flags.flavour, arch: flags.arch, version: flags.version, revision: Number(flags.revision) });
      const progress = createProgress();
      const abort = new AbortController();
      const stop = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', stop);
      try {
        const r = await runBuildJob(params, {
          workDir: path.resolve(flags.workDir),
          cacheDir: path.resolve(flags.cacheDir),
          ccache: flags.ccache,
          outDir: path.resolve(flags.out),
          linesDir: flags.linesDir && path.resolve(flags.linesDir),
          jobs: flags.jobs ? Number(flags.jobs) : undefined,
          stageFrom: flags.stageFrom && path.resolve(flags.stageFrom),
          debCompression: flags.debCompression,
          signal: abort.signal,
          onPhase: (p, d) => progress.phase(p, d),
        });
        progress.phase('complete');
        if (process.stderr.isTTY) process.stderr.write('\n');
        for (const a of r.artifacts) process.stdout.write(`${a.sha256}  ${a.file}\n`);
      } finally {
        process.off('SIGINT', stop);
      }
    });
}
