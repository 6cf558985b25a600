// Temporary directories that tests clean up after themselves.
//
// node:test's after() attaches its hook to the test it finds from the current
// async context. Inside a test that awaited a promise another test made (a
// cached key, chroot or kernel), that lookup can land on a test that has
// already finished, and the hook never runs: signing-verify's and
// worker-kernel's dirs were left in /tmp after every run. So each dir is also
// remembered here and removed by a hook this module registers on the file's
// root when it loads, and, if the file dies before its hooks run, at exit.
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

const pending = new Set<string>();

async function remove(dir: string): Promise<void> {
  if (!pending.delete(dir)) return;
  await rm(dir, { recursive: true, force: true });
}

// Registered at load time, so it is the root's: it runs once every test of the file has ended.
after(async () => {
  for (const dir of [...pending]) await remove(dir);
});
process.on('exit', () => {
  for (const dir of pending) rmSync(dir, { recursive: true, force: true });
});

/** Makes a fresh temp dir, removed after the test that made it ends, and in any case when the current test file finishes. */
export async function tempDir(prefix = 'lxl-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  pending.add(dir);
  after(() => remove(dir));
  return dir;
}
