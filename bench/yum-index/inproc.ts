// Times the YUM publisher in-process (as the server runs it, without CLI
// start-up): full add+publish of every rpm in <rpms-dir>, then add one more.
// `tsx inproc.ts <rpms-dir> <extra.rpm> <secret.asc> <work-dir>`; prints JSON.

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { loadSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { JsonYumCatalogue } from '../../repo-layout/yum/yum-catalogue.js';
import { addRpms, publishYum } from '../../repo-layout/yum/yum-repo.js';
import { FsStorage } from '../../storage/fs-storage.js';

const [rpmsDir, extra, keyFile, work] = process.argv.slice(2);
const signer = await loadSigner({ keyFile });
const ctx = {
  storage: new FsStorage({ root: path.join(work, 'public') }),
  catalogue: new JsonYumCatalogue({ dir: path.join(work, 'state/yum/stable') }),
  name: 'stable',
};
const rpms = (await readdir(rpmsDir)).filter((f) => f.endsWith('.rpm')).map((f) => path.join(rpmsDir, f));
let t = performance.now();
await addRpms(ctx, rpms);
await publishYum(ctx, { signer, settings: { graceHours: 0 } });
const full = (performance.now() - t) / 1000;
t = performance.now();
await addRpms(ctx, [extra]);
await publishYum(ctx, { signer });
const addOne = (performance.now() - t) / 1000;
process.stdout.write(`${JSON.stringify({ packages: rpms.length, full, addOne })}\n`);
