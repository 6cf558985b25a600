// aptly for the tests and benchmarks that run it. It is not installed: its
// Debian package conflicts with gpgv1, which other tests need. Unless an
// aptly is on PATH, its .deb is fetched from Debian's archive with
// `apt-get download` and unpacked into the test cache, once.

import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** The aptly binary to run, or undefined when there is none and none can be fetched (the caller says so). */
export async function findAptly(): Promise<string | undefined> {
  if (spawnSync('sh', ['-c', 'command -v aptly']).status === 0) return 'aptly';
  const dir = path.join(process.env.LXL_TEST_CACHE ?? '/var/cache/lxl-test', 'aptly');
  const bin = path.join(dir, 'root', 'usr', 'bin', 'aptly');
  if (spawnSync(bin, ['version']).status === 0) return bin;
  await mkdir(dir, { recursive: true });
  const dl = spawnSync('sh', ['-c', 'apt-get download aptly && dpkg-deb -x aptly_*.deb root'], { cwd: dir, stdio: 'inherit' });
  return dl.status === 0 && spawnSync(bin, ['version']).status === 0 ? bin : undefined;
}
