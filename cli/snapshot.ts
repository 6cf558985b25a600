// The entry of the CLI's start-up snapshot. bin/build.mjs bundles it into
// dist/snapshot/lxl.cjs and runs `node --build-snapshot` on it, which runs
// this module, the repo command groups and OpenPGP.js, and a warm-up of those
// commands (cli/snapshot-warmup.ts), then saves the heap in
// dist/snapshot/lxl.blob. bin/lxl starts `lxl apt|yum|keys|pack` from it
// (`node --snapshot-blob`): nothing is loaded or compiled again, which takes
// ~60 ms off each start on Node 20. The other commands (the server, workers,
// builds) run through bin/lxl.mjs as before.
//
// What a snapshot keeps, it keeps from build time: nothing here or in the
// modules it loads may read the environment, the clock or the command line
// at load time (they do it when a command runs), and packages outside the
// bundle (the AWS SDK for --storage) are required when first used, from the
// node_modules next to the blob.

import { createRequire } from 'node:module';
import path from 'node:path';
import v8 from 'node:v8';
import * as apt from './apt.js';
import * as keys from './keys.js';
import * as pack from './pack.js';
import { runCli, type CommandGroups } from './program.js';
import { warmUp } from './snapshot-warmup.js';
import * as yum from './yum.js';
import '../repo-layout/signing/openpgp-signer.js';

/** The command groups the snapshot holds; bin/lxl sends only these to it. */
const groups: CommandGroups = {
  keys: async () => keys,
  pack: async () => pack,
  apt: async () => apt,
  yum: async () => yum,
};

declare global {
  // How bundled code requires a package left outside the bundle (bin/build.mjs): set when the snapshot starts.
  var lxlRuntimeRequire: NodeJS.Require | undefined;
}

if (!v8.startupSnapshot.isBuildingSnapshot()) throw new Error('cli/snapshot.ts is the entry of the start-up snapshot: run through node --build-snapshot (bin/build.mjs)');

/**
 * V8's tier-up budget for a run from the snapshot: 8x V8 11's default (67,584 bytes of bytecode run before a function
 * is looked at for TurboFan). The warm-up left feedback on most of lxl's code, so with the default TurboFan recompiles
 * much of it on the other core within the first 100 ms of every command, there for one run (~0.15 s of CPU in a
 * 2,000-deb `lxl apt add --link`, where `xz` and the pool links need that core). With the larger budget only code that
 * stays hot is compiled: 16 interleaved pairs, CPU 0.83 -> 0.68 s, wall 0.73 -> 0.67 s (medians). Only on V8 11 (Node
 * 20): V8 12 has no such flag (it tiers up by invocation counts, and a larger count there made the same add slower),
 * and an unknown flag makes V8 print an error. Without the snapshot (bin/lxl.mjs) the code starts cold, and the larger
 * budget made the same add slower too.
 */
const SNAPSHOT_V8_FLAGS = Number(process.versions.v8.split('.')[0]) === 11 ? '--interrupt-budget=540672' : '';

v8.startupSnapshot.setDeserializeMainFunction(() => {
  if (SNAPSHOT_V8_FLAGS) v8.setFlagsFromString(SNAPSHOT_V8_FLAGS);
  // The blob's folder (dist/snapshot/) is where the bundle was: its packages resolve from there.
  const at = process.execArgv.findIndex((a) => a === '--snapshot-blob' || a.startsWith('--snapshot-blob='));
  const blob = process.execArgv[at].startsWith('--snapshot-blob=') ? process.execArgv[at].slice('--snapshot-blob='.length) : process.execArgv[at + 1];
  globalThis.lxlRuntimeRequire = createRequire(path.join(path.dirname(path.resolve(blob)), 'lxl.cjs'));
  // process.argv is [node, ...the command line] when a snapshot runs.
  void runCli(process.argv.slice(1), groups);
});

warmUp(groups).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
