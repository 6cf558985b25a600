// Phase timings of one full lxl APT publish (diagnostics for bench/apt-index).
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDeb } from '../../test/support/apt-debs.js';
import { generateKey } from '../../repo-layout/signing/keys.js';
import { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { JsonAptCatalog } from '../../repo-layout/apt/apt-catalog.js';
import { addDebs } from '../../repo-layout/apt/apt-changes.js';
import { publishApt } from '../../repo-layout/apt/apt-publish.js';
import { readDeb } from '../../repo-layout/apt/apt-ingest.js';
import { mapLimit } from '../../repo-layout/concurrency.js';

const debDir = process.argv[2] ?? '/tmp/aptprof/debs';
await mkdir(debDir, { recursive: true });
let all = (await readdir(debDir)).filter((f) => f.endsWith('.deb'));
if (all.length < 2000) {
  const arches = ['x86_64', 'i386', 'all'] as const;
  for (let i = 0; i < 2000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => makeDeb(debDir, { name: `bench-pkg-${String(i + j).padStart(5, '0')}`, version: `1.${(i + j) % 7}-1`, arch: arches[(i + j) % 3] })));
  all = (await readdir(debDir)).filter((f) => f.endsWith('.deb'));
}
const files = all.sort().map((f) => path.join(debDir, f));
const key = await generateKey({ name: 'b', email: 'b@b.test', algorithm: 'rsa4096' });
const signer = await OpenPgpSigner.fromArmored(key.secretArmored);
const t = () => Number(process.hrtime.bigint()) / 1e6;
let t0 = t();
await mapLimit(files, 16, (f) => readDeb(f));
console.log(`readDeb x${files.length}: ${(t() - t0).toFixed(0)} ms`);
const work = await mkdtemp(path.join(os.tmpdir(), 'lxl-phases-'));
const storage = new FsStorage({ root: path.join(work, 'public') });
const catalog = new JsonAptCatalog({ stateDir: path.join(work, 'state') });
t0 = t();
await addDebs({ storage, catalog, suite: 'stable', files });
console.log(`addDebs: ${(t() - t0).toFixed(0)} ms`);
let last = t();
const steps: string[] = [];
t0 = t();
await publishApt({ storage, catalog, signer, origin: 'lxl', label: 'lxl', onStep: (s) => { const n = t(); steps.push(`${s}@${(n - last).toFixed(0)}`); last = n; } });
console.log(`publish: ${(t() - t0).toFixed(0)} ms  (time before each step: ${steps.join(' ')})`);
await rm(work, { recursive: true, force: true });
