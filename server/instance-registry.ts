// Server instances sharing one state folder (PostgreSQL deployments: the
// artifacts and format catalogues live on a shared filesystem). Each running
// instance leaves `<var>/instances/<host>~<pid>` holding its lock-owner id.
// At start an instance learns which peers on its own host are dead (their pid
// is gone): their running publishes can be failed at once instead of waiting
// for the lock to expire, and when no peer is alive the temp uploads of the
// dead are swept. Peers on other hosts cannot be checked: they count as alive,
// and their publishes are recovered by lock expiry.

import { hostname } from 'node:os';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from '../storage/process-alive.js';

export interface InstanceRegistration {
  /** Lock-owner ids of instances on this host that died without deregistering. */
  deadOwners: string[];
  /** True when no other instance (live here, or on another host) is registered. */
  alone: boolean;
  /** Removes this instance's entry (clean shutdown). */
  release(): Promise<void>;
}

/** Registers this process as a server instance on `varDir` with lock owner `owner`; reports dead and live peers. */
export async function registerInstance(varDir: string, owner: string): Promise<InstanceRegistration> {
  const dir = path.join(varDir, 'instances');
  await mkdir(dir, { recursive: true });
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-');
  const deadOwners: string[] = [];
  let alone = true;
  for (const name of await readdir(dir)) {
    const m = /^(.+)~(\d+)$/.exec(name);
    if (!m) continue;
    if (m[1] !== host) {
      alone = false;
      continue;
    }
    const pid = Number(m[2]);
    if (pid !== process.pid && processAlive(pid)) {
      alone = false;
      continue;
    }
    const prev = (await readFile(path.join(dir, name), 'utf8').catch(() => '')).trim();
    if (prev && pid !== process.pid) deadOwners.push(prev);
    await rm(path.join(dir, name), { force: true });
  }
  const mine = path.join(dir, `${host}~${process.pid}`);
  await writeFile(mine, `${owner}\n`);
  return { deadOwners, alone, release: () => rm(mine, { force: true }) };
}
