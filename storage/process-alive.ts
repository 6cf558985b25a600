// Whether a process runs on this host, for the stale-owner checks of locks,
// instance entries and temporary folders named for a pid.

/** True if a process with this pid exists here (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
