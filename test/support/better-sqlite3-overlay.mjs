// Loaded with --import (test/run.mjs puts it in NODE_OPTIONS for the passes
// on other Nodes): makes `better-sqlite3` resolve to the copy that
// LXL_TEST_BETTER_SQLITE3 names, whose native addon was built for this Node
// (test/support/native-addons.mjs). node_modules keeps the one npm ci built
// for the Node that ran it.
import { register } from 'node:module';

const dir = process.env.LXL_TEST_BETTER_SQLITE3;
if (dir) register(new URL('./better-sqlite3-overlay-hooks.mjs', import.meta.url), { data: dir });
