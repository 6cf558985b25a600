// One build job, with or without a server: build the kernel with the kernel
// library (or take a prebuilt staged tree), then write every package. The
// worker and `lxl build` both call runBuildJob, so they build the same bytes.

import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { LxlError, SpecError } from '../repo-layout/errors.js';
import { cachedBuild } from './build-cache.js';
import { JobApiError } from './job-client.js';
import { buildKernel } from './kernel-build.js';
import { KernelBuildError, type KernelBuildPhase } from './kernel-errors.js';
import { loadKernelLine, type KernelLine } from './kernel-line.js';
import { stagedKrel, writeKernelPackages, type BuiltArtifact } from './kernel-packages.js';

/** Every phase a job goes through, in order (the kernel library's, then packaging and upload). */
export type JobPhase = KernelBuildPhase | 'package' | 'upload' | 'complete';

/** The job parameters (`params` of a queued job). */
export const buildJobParams = z.object({
  line: z.string().regex(/^\d+\.\d+$/, 'must be a kernel line such as "6.1"'),
  /** Package version (Debian syntax, `+`/`~` allowed); default `<kernel version>-<revision>`. */
  version: z.string().min(1).optional(),
  /**
   * Build revision of this kernel version: 1 for the first build, n for the n-th build of changed inputs (patches,
   * config, source). Above 1 it goes into the kernel release too (`6.1.192-2-xen-legacy`), so the new packages never
   * reuse a published name with other bytes, and rpm installs them beside the old ones (installonly) without file
   * conflicts.
   */
  revision: z.number().int().min(1).max(9999).default(1),
  flavour: z.string().min(1).default('minimal'),
  arch: z.enum(['x86_64', 'i386']),
});
export type BuildJobParams = z.output<typeof buildJobParams>;

/** Where and how to run a job. */
export interface BuildJobOptions {
  /** Scratch folder for this job (wiped first). */
  workDir: string;
  /** Shared download cache for kernel sources. */
  cacheDir: string;
  /** Folder the packages go to (deb/, rpm/, rpm-el5/, tarballs/). */
  outDir: string;
  /** Where kernel line definitions live (`<dir>/<line>/line.json`); default the shipped kernel/. */
  linesDir?: string;
  /** make -j. */
  jobs?: number;
  /** Compile through ccache (builders/kernel-build.ts; default false). */
  ccache?: boolean;
  /** Skip the kernel build and package this staged tree (tests reuse a cached build this way). */
  stageFrom?: string;
  /** Build cache root (builders/build-cache.ts): reuse the kernel built from the same inputs, or build into it. */
  buildCache?: string;
  /** Fixed clock when stageFrom is used (the build library picks its own otherwise). */
  sourceDateEpoch?: number;
  debCompression?: 'gzip' | 'xz';
  signal?: AbortSignal;
  onPhase?: (phase: JobPhase, detail?: string) => void;
  onLine?: (line: string) => void;
}

/** What a job produced. */
export interface BuildJobResult {
  krel: string;
  version: string;
  kernelVersion?: string;
  sourceDateEpoch: number;
  artifacts: BuiltArtifact[];
}

/** A job failed in `phase`; the message reads "<phase>: <reason>". `retry` says whether another attempt could help. */
export class JobError extends LxlError {
  constructor(readonly phase: JobPhase, message: string, readonly retry: boolean, options?: { cause?: unknown }) {
    super('E_BUILD', message.startsWith(`${phase}: `) ? message : `${phase}: ${message}`, options);
  }
}

/** Validates raw job params; JobError in phase `line` naming every bad field. */
export function parseJobParams(raw: unknown): BuildJobParams {
  const r = buildJobParams.safeParse(raw);
  if (!r.success) throw new JobError('line', `cannot run the job: invalid params: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, false);
  return r.data;
}

/** Runs the job's build and packaging; throws JobError naming the phase. */
export async function runBuildJob(params: BuildJobParams, opts: BuildJobOptions): Promise<BuildJobResult> {
  let phase: JobPhase = 'line';
  const enter = (p: JobPhase, detail?: string) => {
    phase = p;
    opts.onPhase?.(p, detail);
  };
  try {
    await rm(opts.workDir, { recursive: true, force: true });
    await mkdir(opts.workDir, { recursive: true });
    let stageDir: string;
    let krel: string;
    let kernelVersion: string | undefined;
    let epoch: number;
    // How a build runs here (a cached one or not), its phases reported as the job's.
    const buildRun = () => ({ cacheDir: opts.cacheDir, ccache: opts.ccache, jobs: opts.jobs, signal: opts.signal, onLine: opts.onLine, onPhase: (p: JobPhase) => enter(p) });
    // The job's line, as built for its revision.
    const loadLine = async () => withRevision(await loadKernelLine(opts.linesDir ? path.join(opts.linesDir, params.line) : params.line), params.revision);
    if (opts.stageFrom) {
      stageDir = opts.stageFrom;
      krel = await stagedKrel(stageDir);
      if (params.revision > 1 && !new RegExp(`-${params.revision}-[^-]`).test(krel))
        throw new JobError('line', `cannot package revision ${params.revision} from ${stageDir}: its kernel ${krel} was not built for it (expected -${params.revision}- before the line's LOCALVERSION)`, false);
      epoch = opts.sourceDateEpoch ?? envEpoch() ?? 0;
      opts.onLine?.(`using the prebuilt staged tree ${stageDir} (kernel ${krel})`);
    } else if (opts.buildCache) {
      const line = await loadLine();
      const r = await cachedBuild(opts.buildCache, { line, arch: params.arch, flavour: params.flavour }, buildRun());
      opts.onLine?.(`${r.built ? 'built' : 'reusing the cached build'} ${r.dir} (kernel ${r.krel})`);
      stageDir = r.stageDir;
      krel = r.krel;
      kernelVersion = r.version;
      epoch = r.sourceDateEpoch;
    } else {
      const line = await loadLine();
      const r = await buildKernel({
        line,
        arch: params.arch,
        flavour: params.flavour,
        workDir: path.join(opts.workDir, 'build'),
        stageDir: path.join(opts.workDir, 'stage'),
        ...buildRun(),
      });
      stageDir = r.stageDir;
      krel = r.krel;
      kernelVersion = r.version;
      epoch = r.sourceDateEpoch;
    }
    const version = params.version ?? `${kernelVersion ?? krel.replace(/-.*$/, '')}-${params.revision}`;
    enter('package');
    const artifacts = await writeKernelPackages(
      { stageDir, krel, arch: params.arch, version, sourceDateEpoch: epoch },
      opts.outDir,
      { debCompression: opts.debCompression, signal: opts.signal, onPackage: (f, i, n) => opts.onPhase?.('package', `${i + 1}/${n} ${f}`) },
    );
    for (const a of artifacts) opts.onLine?.(`wrote ${a.filename} (${a.size} bytes, sha256 ${a.sha256})`);
    return { krel, version, kernelVersion, sourceDateEpoch: epoch, artifacts };
  } catch (err) {
    throw asJobError(err, phase);
  }
}

/** The line as built for `revision`: above 1 the revision goes before the line's LOCALVERSION (`-2-xen-legacy`). */
export function withRevision(line: KernelLine, revision: number): KernelLine {
  return revision > 1 ? { ...line, localversion: `-${revision}${line.localversion}` } : line;
}

/** Wraps any failure as a JobError of `phase`; kernel errors keep their own phase. Bad inputs are final, tool and I/O trouble may be retried. */
export function asJobError(err: unknown, phase: JobPhase): JobError {
  if (err instanceof JobError) return err;
  if (err instanceof KernelBuildError) {
    const final = ['line', 'patch', 'config'].includes(err.phase);
    const tail = err.logTail ? `\n${err.logTail.split('\n').slice(-40).join('\n')}` : '';
    return new JobError(err.phase, `${err.message}${final ? '' : tail}`, !final, { cause: err });
  }
  if (err instanceof SpecError) return new JobError(phase, err.message, false, { cause: err });
  // The server refused the request (4xx): another attempt would send the same bytes.
  if (err instanceof JobApiError) return new JobError(phase, err.message, err.status >= 500, { cause: err });
  return new JobError(phase, (err as Error)?.message ?? String(err), true, { cause: err });
}

function envEpoch(): number | undefined {
  const v = process.env.SOURCE_DATE_EPOCH;
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}
