// The `lxl` command line (bin/lxl.mjs). Each command group lives in its own
// file and is registered here explicitly, in the order `lxl --help` lists them.

import { runCli, type CommandGroups } from './program.js';

// Only the group being run is loaded (start-up time matters for scripted use).
const groups: CommandGroups = {
  up: async () => import('./up.js'),
  keys: async () => import('./keys.js'),
  pack: async () => import('./pack.js'),
  apt: async () => import('./apt.js'),
  yum: async () => import('./yum.js'),
  server: async () => import('./server.js'),
  tokens: async () => import('./tokens.js'),
  worker: async () => import('./worker.js'),
  build: async () => import('./build.js'),
};

// Signing commands: start loading OpenPGP now, so it overlaps the command's file I/O instead of following it.
if (process.argv.some((a) => a === '--key' || a.startsWith('--key='))) void import('../repo-layout/signing/openpgp-signer.js').catch(() => {});

await runCli(process.argv.slice(2), groups);
