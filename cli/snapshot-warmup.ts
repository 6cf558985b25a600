// What the start-up snapshot runs while it is built (cli/snapshot.ts): the
// repo commands on a throwaway repo in a temporary folder, so that the code
// every `lxl apt|yum|keys|pack` runs is already compiled to bytecode in the
// snapshot instead of being compiled as it first runs. Nothing of it stays:
// the folder is removed, output is discarded, and a command that fails fails
// the build (bin/build.mjs) rather than leaving a half-warmed snapshot.

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandRelay } from '../repo-layout/command-relay.js';
import { runCli, type CommandGroups } from './program.js';

/** How many packages the first add takes: at least 64, the size from which a batch takes the big-batch paths. */
const BATCH = 70;

/** Runs the warm-up command lines in a fresh temporary folder; throws with the failing command's stderr. */
export async function warmUp(groups: CommandGroups): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lxl-snapshot-'));
  const out = process.stdout.write;
  const err = process.stderr.write;
  let said = '';
  const run = async (...args: string[]): Promise<void> => {
    said = '';
    await runCli(args, groups);
    if (process.exitCode) throw new Error(`warming up the start-up snapshot: lxl ${args.join(' ')} failed (exit ${process.exitCode}): ${said.trim()}`);
  };
  process.stdout.write = () => true;
  process.stderr.write = (chunk: string | Uint8Array) => ((said += String(chunk)), true);
  try {
    const key = path.join(dir, 'warm.secret.asc');
    await run('keys', 'generate', '--name', 'warm', '--email', 'warm@lxl.invalid', '--algorithm', 'rsa2048', '--out', dir);
    const debs = path.join(dir, 'debs');
    const rpms = path.join(dir, 'rpms');
    for (let i = 0; i <= BATCH; i++) {
      const spec = path.join(dir, `warm-${i}.json`);
      const arch = ['x86_64', 'i386', 'all'][i % 3];
      const files = [{ path: `usr/share/doc/lxl-warm-${i}/README`, content: `warm-up package ${i}\n` }];
      writeFileSync(spec, JSON.stringify({ name: `lxl-warm-${i}`, version: `1.${i}+lxl1-1`, arch, maintainer: 'lxl <warm@lxl.invalid>', summary: 'warm-up', description: 'a package the snapshot build makes', depends: ['base-files'], files }));
      await run('pack', 'deb', '--spec', spec, '--out', debs);
      // One el5 rpm (its header path); none signed: signing a stream uses web streams, and a snapshot made after
      // their first use cannot be saved (Node 20: "contexts_.size() == 1"); they load when a signed pack runs.
      await run('pack', 'rpm', '--spec', spec, '--out', rpms, ...(i === 1 ? ['--profile', 'el5'] : []));
    }
    const all = (d: string): string[] => readdirSync(d).filter((f) => !f.startsWith('.')).sort().map((f) => path.join(d, f));
    const [debFiles, rpmFiles] = [all(debs), all(rpms)];
    const repo = path.join(dir, 'repo');
    // A big first add (the big-batch paths), one more (the incremental publish), a remove and a publish; then the same for YUM.
    await run('apt', 'add', repo, ...debFiles.slice(0, -1), '--key', key, '--grace-hours', '0');
    await run('apt', 'add', repo, debFiles[debFiles.length - 1], '--key', key);
    await run('apt', 'remove', repo, 'lxl-warm-1', '--key', key);
    await run('apt', 'publish', repo, '--key', key);
    await run('yum', 'add', repo, ...rpmFiles.slice(0, -1), '--key', key, '--grace-hours', '0');
    await run('yum', 'add', repo, rpmFiles[rpmFiles.length - 1], '--key', key);
    await run('yum', 'remove', repo, 'lxl-warm-1', '--key', key);
    await run('yum', 'publish', repo, '--key', key);
  } finally {
    // The relay's sh is a child process: none may be alive when the heap is saved (its handle would fail the build).
    await commandRelay.stop();
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
}
