// Hard links made on a thread of their own. A pool of thousands of packages
// costs the kernel one mkdir(2) and one link(2) each (0.05-0.1 ms apiece on
// ext4): on this thread they run while the caller's thread reads the next
// packages. The thread lives as long as the process (the server starts it
// once), is not kept alive when idle, and runs the same linkOne as the
// caller's thread does for small batches.

import fs from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { StorageError } from '../repo-layout/errors.js';

/** What linkOne did: linked; the name exists (left alone); must be copied instead (another file system, or not readable by all); not a regular file. */
export type LinkOutcome = 'linked' | 'exists' | 'copy' | 'not-file';

/**
 * Hard-links `file` at `dest` (a symlink is followed: link(2) would link the symlink itself). Self-contained (the
 * link thread runs its source text): everything it uses comes in through `fsm`.
 */
export function linkOne(fsm: typeof fs, file: string, dest: string): LinkOutcome {
  let src = file;
  let st = fsm.lstatSync(src);
  if (st.isSymbolicLink()) st = fsm.statSync((src = fsm.realpathSync(file)));
  if (!st.isFile()) return 'not-file';
  // Published files are served to anyone, and a link would publish the file's own mode.
  if ((st.mode & 0o444) !== 0o444) return 'copy';
  try {
    fsm.linkSync(src, dest);
    return 'linked';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'exists';
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK') return 'copy';
    throw err;
  }
}

/** One link to make: the source file, the destination, and the folder to create first (undefined: it exists). */
export interface LinkJob {
  file: string;
  dest: string;
  mkdir?: string;
}

/** A job's result: its outcome and the first folder `mkdir -p` created (for the fsyncs), or the error it hit. */
export type LinkResult = { outcome: LinkOutcome; made?: string } | { error: string; made?: string };

// The thread's code: a CommonJS script (eval), so it needs no file of its own next to the sources, dist/ or the bundle.
const threadSource = `
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
const linkOne = (${linkOne.toString()});
parentPort.on('message', ({ id, jobs }) => {
  const results = jobs.map((j) => {
    let made;
    try {
      if (j.mkdir) made = fs.mkdirSync(j.mkdir, { recursive: true });
      return { outcome: linkOne(fs, j.file, j.dest), made };
    } catch (err) {
      return { error: err.message, made };
    }
  });
  parentPort.postMessage({ id, results });
});
`;

/** The process's link thread, started on first use. */
export class LinkThread {
  /** Links the process's link threads were given so far (diagnostics; the tests check which path a batch took). */
  static jobsRun = 0;
  private static shared: LinkThread | undefined;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (r: LinkResult[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private dead: Error | undefined;

  /** The process's link thread (a new one if the last one died). */
  static async get(): Promise<LinkThread> {
    if (!LinkThread.shared || LinkThread.shared.dead) {
      // worker_threads is loaded on first use, not with this module: loaded while the CLI's start-up snapshot is built
      // (cli/snapshot.ts), it could start no thread in the restored process ("undefined is not an integer typed array").
      const { Worker: WorkerClass } = await import('node:worker_threads');
      if (!LinkThread.shared || LinkThread.shared.dead) LinkThread.shared = new LinkThread(WorkerClass);
    }
    return LinkThread.shared;
  }

  private constructor(WorkerClass: typeof Worker) {
    this.worker = new WorkerClass(threadSource, { eval: true, stdout: false, stderr: false });
    this.worker.unref();
    this.worker.on('message', ({ id, results }: { id: number; results: LinkResult[] }) => {
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      if (this.waiting.size === 0) this.worker.unref();
      w?.resolve(results);
    });
    const fail = (err: Error): void => {
      this.dead = new StorageError(`the link thread stopped: ${err.message}`, { cause: err });
      for (const w of this.waiting.values()) w.reject(this.dead);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit ${code}`)));
  }

  /** Makes the jobs' folders and links, in order, on the thread. While jobs are out, the thread keeps the process alive. */
  run(jobs: LinkJob[]): Promise<LinkResult[]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    LinkThread.jobsRun += jobs.length;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, jobs });
    });
  }
}
