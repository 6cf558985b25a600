// An exclusive lock file for a repo's local state folder (one `lxl apt` or
// `lxl yum` writer at a time). The holder's pid and host are written to a
// temp file that is then link()ed to the lock name, so the lock never exists
// empty. A lock whose holder is gone (same host, pid not alive) or that is
// older than `staleMs` is taken over; anything else is, after `waitMs` of
// polling (default none), a LockedError that names the holder.

import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LockedError, StorageError } from '../repo-layout/errors.js';
import { processAlive } from './process-alive.js';

export interface StateLockOptions {
  /** What the lock protects, for messages (e.g. "the APT repo /srv/repo"). */
  what: string;
  /** A lock older than this is taken over even if its holder looks alive (default 30 minutes). */
  staleMs?: number;
  /** How long to keep trying while another live process holds the lock (default 0: fail at once). */
  waitMs?: number;
  /** Pause between those tries (default 250 ms). */
  pollMs?: number;
}

/** Takes the lock at `file`; resolves to the release function, or rejects with LockedError naming the holder. */
export async function acquireStateLock(file: string, opts: StateLockOptions): Promise<() => Promise<void>> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const waitMs = opts.waitMs ?? 0;
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      // Written for each try: staleness counts from the lock's mtime, so a lock taken after a long wait must not look
      // as old as the wait.
      const me = `${process.pid} ${os.hostname()} ${new Date().toISOString()}\n`;
      await writeFile(tmp, me);
      const got = await attempt(file, tmp, me, opts);
      if (typeof got === 'function') return got;
      if (Date.now() >= deadline) {
        const waited = waitMs > 0 ? ` (waited ${formatSeconds(waitMs)})` : '';
        throw new LockedError(`cannot lock ${opts.what}: ${got}${waited}; retry when it finishes`);
      }
      await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 250, Math.max(0, deadline - Date.now()))));
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

/** One try: the release function, or who holds the lock (a live holder, or a lock that changed hands throughout). */
async function attempt(file: string, tmp: string, me: string, opts: StateLockOptions): Promise<(() => Promise<void>) | string> {
  for (let i = 0; i < 3; i++) {
    try {
      await link(tmp, file);
      return async () => {
        // Release only our own lock: a takeover after we went stale must not be undone.
        if ((await readFile(file, 'utf8').catch(() => '')) === me) await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`cannot lock ${opts.what}: ${(err as Error).message}`, { cause: err });
    }
    const holder = await readFile(file, 'utf8').catch(() => undefined);
    if (holder === undefined) continue; // released meanwhile: try again
    const st = await stat(file).catch(() => undefined);
    if (st && isStale(holder, st.mtimeMs, opts.staleMs ?? 30 * 60_000)) {
      // Remove only the file we judged stale (same content), then race for it again.
      if ((await readFile(file, 'utf8').catch(() => undefined)) === holder) await rm(file, { force: true });
      continue;
    }
    const [pid, host] = holder.trim().split(' ');
    return `another lxl process (pid ${pid} on ${host}) holds ${file}`;
  }
  return `the lock ${file} is contended`;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function isStale(holder: string, mtimeMs: number, staleMs: number): boolean {
  if (Date.now() - mtimeMs > staleMs) return true;
  const [pidText, host] = holder.trim().split(' ');
  const pid = Number(pidText);
  if (!(pid > 0)) return true; // not written by acquireStateLock: unreadable, so not trusted
  return host === os.hostname() && !processAlive(pid);
}
