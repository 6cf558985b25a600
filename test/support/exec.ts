// Runs external tools from tests and reports their output when they fail.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Resolve instead of throwing on a non-zero exit. */
  allowFail?: boolean;
  timeoutMs?: number;
}

/** Runs `cmd args`, collecting output; throws with both streams on a non-zero exit unless allowFail. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      const r = { code: code ?? (sig ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (r.code !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${r.code}${sig ? ` (${sig})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`));
      } else resolve(r);
    });
    // A tool that exits without reading stdin (gpgv, sqv) makes the write fail with EPIPE: not a test failure.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(e);
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** True when `cmd` is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why a test that needs these tools must skip, or undefined when all are present. Skips print the reason. */
export function missingTools(...cmds: string[]): string | undefined {
  const missing = cmds.filter((c) => !have(c));
  return missing.length ? `missing tools: ${missing.join(', ')} (install them, as .ci/run does)` : undefined;
}

/** Runs the lxl CLI as users do (bin/lxl: the repo commands from the start-up snapshot when it is current) with the given args. */
export function lxl(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(new URL('../../bin/lxl', import.meta.url).pathname, args, opts);
}

/** Makes `<parent>/node-only/`, holding only a `node` link (to this Node): a PATH where lxl starts but finds no other tool (xz, gpg…). */
export async function pathWithOnlyNode(parent: string): Promise<string> {
  const dir = path.join(parent, 'node-only');
  await mkdir(dir);
  await symlink(process.execPath, path.join(dir, 'node'));
  return dir;
}
