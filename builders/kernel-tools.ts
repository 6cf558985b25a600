// Runs the external tools of a kernel build (tar, patch, make) with their
// output split into lines for the caller's log, and turns a failure into a
// KernelBuildError that names the phase and carries the output's tail.

import { spawn } from 'node:child_process';
import { KernelBuildError, type KernelBuildPhase } from './kernel-errors.js';

/** Options for one tool run. */
export interface ToolRunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Receives each output line (stdout and stderr) as it arrives. */
  onLine?: (line: string) => void;
  /** Resolve with the exit code instead of throwing when the tool fails. */
  allowFail?: boolean;
  /** What the run does, for the error message ("cannot <what>"). */
  what?: string;
}

/** The result of a tool run: exit code and the combined output (kept whole up to a limit, then its tail). */
export interface ToolRunResult {
  code: number;
  output: string;
}

const KEEP = 256 * 1024;

/** Runs `cmd args` in its own process group (killed on abort); throws KernelBuildError(phase) on failure. */
export function runTool(phase: KernelBuildPhase, cmd: string, args: string[], opts: ToolRunOptions = {}): Promise<ToolRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    let partial = '';
    const take = (b: Buffer) => {
      const text = b.toString();
      output = (output + text).slice(-KEEP);
      if (!opts.onLine) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) opts.onLine(l);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const abort = () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    opts.signal?.addEventListener('abort', abort, { once: true });
    child.on('error', (err) => {
      opts.signal?.removeEventListener('abort', abort);
      reject(new KernelBuildError(phase, `cannot run ${cmd}: ${err.message}; is it installed?`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', abort);
      if (partial && opts.onLine) opts.onLine(partial);
      const rc = code ?? 128;
      if (opts.signal?.aborted) return reject(new KernelBuildError(phase, `cannot finish ${cmd}: the build was cancelled`, { logTail: tail(output) }));
      if (rc !== 0 && !opts.allowFail) {
        const what = opts.what ?? `run ${cmd} ${args.slice(0, 4).join(' ')}`;
        return reject(new KernelBuildError(phase, `cannot ${what}: exited ${rc}${sig ? ` (${sig})` : ''}\n${tail(output, 30)}`, { logTail: tail(output) }));
      }
      resolve({ code: rc, output });
    });
  });
}

/** The last `n` lines of `text`. */
export function tail(text: string, n = 60): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
