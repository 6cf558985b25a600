// Short external commands (`xz` over a Packages text, `sync --file-system`)
// run through one long-lived `sh`, so that the Node process forks once rather
// than once per command. fork(2) of a process with a big heap copies its page
// tables (10-35 ms for 50-170 MB here) and leaves every page the process
// writes afterwards to fault once more (copy-on-write, ~20 µs each on this
// project's VMs); the `sh` is small, so its own forks cost little. A command's
// stdin, stdout and stderr are files in a private temporary folder: the pipes
// to the `sh` carry only command lines and exit statuses. Commands run side by
// side, each in its own subshell.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processAlive } from '../storage/process-alive.js';
import { ToolError } from './errors.js';

/** What one command gave back. */
export interface RelayResult {
  /** Exit status (128 + n after signal n, as sh reports it). */
  code: number;
  stdout: Buffer;
  stderr: string;
  /** True when the output passed `maxOutputBytes`: the command was stopped there, and `stdout` is empty. */
  overflow?: boolean;
}

export interface RelayRunOptions {
  /** Bytes for the command's stdin (default: empty). */
  input?: Uint8Array;
  /** Environment variables the command must not see. */
  unsetEnv?: readonly string[];
  /**
   * The most output bytes to take. The command runs under a file-size limit (`ulimit -f`) just above it, so output
   * past it stops the command instead of filling the folder, and the result says `overflow` instead of holding it.
   */
  maxOutputBytes?: number;
}

const RELAY_DIR_PREFIX = 'lxl-relay-';
/** A relay folder: the prefix, the owner's pid, mkdtemp's six random characters. */
const RELAY_DIR_NAME = new RegExp(`^${RELAY_DIR_PREFIX}(\\d+)-[A-Za-z0-9]{6}$`);

// Reads a job id and a command line, runs the command in a background subshell and answers "<id> <status>". At
// EOF (the Node process closed the pipe or exited) the loop ends, and with it the sh.
const LOOP = 'while IFS= read -r id && IFS= read -r cmd; do (eval "$cmd"; echo "$id $?") & done';

/** Inputs up to this size are written to the command's stdin file synchronously. */
const SYNC_INPUT_MAX = 16 << 20;

/**
 * Writes a command's input. A small one (a Packages text to compress: 1.3 MB for 2,000 packages) is written in one
 * synchronous call, a memory copy into the page cache of ~1 ms: written asynchronously, each of its chunks waited for
 * a turn of an event loop that a caller may be keeping busy (the pool links of a big `lxl apt add --link`, made in
 * synchronous slices), and `xz` started 35-65 ms later. A bigger input is written asynchronously.
 */
async function writeInput(file: string, input: Uint8Array): Promise<void> {
  if (input.length <= SYNC_INPUT_MAX) writeFileSync(file, input);
  else await writeFile(file, input);
}

/** Quotes one word for sh. */
function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

interface Pending {
  resolve: (code: number) => void;
  reject: (err: Error) => void;
}

/** One `sh` that runs commands for this process; started on first use, restarted if it dies, never keeps the process alive when idle. */
export class CommandRelay {
  private child: ChildProcess | undefined;
  private dir: string | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private buffered = '';
  private readonly onExit = (): void => void this.stop();

  /** The running sh's pid (undefined before the first start and after it ended). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the `sh` now (before the heap grows, where the fork is cheapest); run() starts it anyway. */
  start(): void {
    if (this.child) return;
    // The pid in the name lets sweepRelayDirs tell a dead process's folder from a live one's.
    this.dir = mkdtempSync(path.join(os.tmpdir(), `${RELAY_DIR_PREFIX}${process.pid}-`));
    // In this process's group: a Ctrl-C on the terminal ends the sh and its commands with it.
    const child = spawn('sh', ['-c', LOOP], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child = child;
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (s: string) => {
      if (this.child === child) this.answer(s);
    });
    child.stdin!.on('error', () => {}); // a dead sh shows through 'exit'
    child.on('error', (err) => this.fail(child, new ToolError(`cannot run sh for external commands: ${err.message}`, { cause: err })));
    // 'exit', not 'close': a command it started may hold the pipe open after the sh is gone.
    child.on('exit', (code, signal) => this.fail(child, new ToolError(`the sh running external commands ended (${signal ?? `exit ${code}`}) before answering`)));
    process.once('exit', this.onExit);
    this.idle();
  }

  /** Runs argv (argv[0] looked up on the current PATH) with `input` on stdin; resolves with its status and output, whatever the status. */
  async run(argv: readonly string[], opts: RelayRunOptions = {}): Promise<RelayResult> {
    if (argv.length === 0 || argv.some((a) => a.includes('\n') || a.includes('\0'))) {
      throw new ToolError(`cannot relay the command ${JSON.stringify(argv)}: it is empty or a word holds a newline or NUL`);
    }
    const unset = opts.unsetEnv ?? [];
    const max = opts.maxOutputBytes;
    if (max !== undefined && !(Number.isSafeInteger(max) && max >= 0)) throw new ToolError(`cannot relay the command ${JSON.stringify(argv)}: maxOutputBytes ${max} is not a byte count`);
    if (unset.some((v) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v))) throw new ToolError(`cannot relay the command ${JSON.stringify(argv)}: ${JSON.stringify(unset)} are not all variable names`);
    const id = this.nextId++;
    this.start();
    const dir = this.dir!;
    const file = (ext: string): string => path.join(dir, `${id}.${ext}`);
    await writeInput(file('in'), opts.input ?? new Uint8Array(0)).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      // The folder was removed under us (a sweep that took this process for dead, a tmp cleaner): make it again.
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeInput(file('in'), opts.input ?? new Uint8Array(0));
    });
    try {
      const code = await new Promise<number>((resolve, reject) => {
        const child = this.child;
        if (!child) return reject(new ToolError('the sh running external commands ended before the command was sent'));
        this.pending.set(id, { resolve, reject });
        this.hold(child);
        // The command is looked up on this process's PATH as it is now, as spawn() would.
        const pathVar = process.env.PATH === undefined || process.env.PATH.includes('\n') ? '' : `PATH=${shQuote(process.env.PATH)} `;
        // Unset in the command's own subshell only.
        const unsetCmd = unset.length > 0 ? `unset ${unset.join(' ')}; ` : '';
        // In 512-byte blocks (POSIX, dash); a shell counting KiB allows twice as much, and the size check below holds.
        const limitCmd = max !== undefined ? `ulimit -f ${Math.floor(max / 512) + 2}; ` : '';
        child.stdin!.write(`${id}\n${unsetCmd}${limitCmd}${pathVar}${argv.map(shQuote).join(' ')} <${shQuote(file('in'))} >${shQuote(file('out'))} 2>${shQuote(file('err'))}\n`);
      });
      // Stopped by the limit: the output file passed it, or the command died of SIGXFSZ (a sparse write, as xz makes
      // of runs of zeros, can reach the limit with few bytes on disk).
      if (max !== undefined && (code === 128 + (os.constants.signals.SIGXFSZ ?? 25) || (await stat(file('out'))).size > max)) return { code, stdout: Buffer.alloc(0), stderr: await readFile(file('err'), 'utf8'), overflow: true };
      const [stdout, stderr] = await Promise.all([readFile(file('out')), readFile(file('err'), 'utf8')]);
      return { code, stdout, stderr };
    } finally {
      await Promise.all(['in', 'out', 'err'].map((ext) => rm(file(ext), { force: true })));
    }
  }

  /**
   * Ends the `sh` and removes its folder; commands still running are rejected (and left to finish). The next run()
   * starts a new one. Resolves once the `sh` has exited: until then its handle is alive, and the start-up snapshot's
   * warm-up, which saves the heap once the event loop is empty, waits for it (an idle `sh` does not hold the loop).
   */
  stop(): Promise<void> {
    const child = this.child;
    if (!child) return Promise.resolve();
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    this.fail(child, new ToolError('the sh running external commands was stopped'));
    child.ref();
    child.kill('SIGKILL');
    return exited;
  }

  private answer(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const [id, code] = this.buffered.slice(0, nl).split(' ').map(Number);
      this.buffered = this.buffered.slice(nl + 1);
      const p = this.pending.get(id);
      this.pending.delete(id);
      p?.resolve(code);
    }
    this.idle();
  }

  /** Keeps the process alive while a command runs. */
  private hold(child: ChildProcess): void {
    child.ref();
    for (const s of [child.stdin, child.stdout] as unknown as Array<{ ref?: () => void } | null>) s?.ref?.();
  }

  /** Lets the process exit while no command runs (the sh then sees EOF and ends). */
  private idle(): void {
    const child = this.child;
    if (!child || this.pending.size > 0) return;
    child.unref();
    for (const s of [child.stdin, child.stdout] as unknown as Array<{ unref?: () => void } | null>) s?.unref?.();
  }

  private fail(child: ChildProcess, err: Error): void {
    if (this.child !== child) return;
    this.child = undefined;
    // A command left running holds the pipes open: they must not keep this process alive.
    child.stdin?.destroy();
    child.stdout?.destroy();
    this.buffered = '';
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    process.removeListener('exit', this.onExit);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

/** The process's relay (the start-up snapshot's warm-up stops it before the heap is saved). */
export const commandRelay = new CommandRelay();

/** How sweepRelayDirs looks for folders. */
export interface RelaySweepOptions {
  /** Where relay folders are made (default os.tmpdir()). */
  tmpDir?: string;
  /** A folder is removed only if unchanged this long (default one minute): a live relay in another pid namespace that shares the folder is spared while it works. */
  minAgeMs?: number;
}

/**
 * Removes the relay folders that processes killed before their exit handler ran (SIGKILL, OOM) left in the temporary
 * folder: those named for a pid that no longer runs here and unchanged for `minAgeMs`. Returns the folders removed.
 * The server runs it at start; a relay whose folder is removed anyway makes it again at its next command.
 */
export async function sweepRelayDirs(opts: RelaySweepOptions = {}): Promise<string[]> {
  const tmp = opts.tmpDir ?? os.tmpdir();
  const minAge = opts.minAgeMs ?? 60_000;
  const names = await readdir(tmp).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const m = RELAY_DIR_NAME.exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    const dir = path.join(tmp, name);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory() || Date.now() - st.mtimeMs < minAge) continue;
    // Best effort: a folder that cannot be removed (another user's) must not stop the server starting.
    if (await rm(dir, { recursive: true, force: true }).then(() => true, () => false)) removed.push(dir);
  }
  return removed;
}
