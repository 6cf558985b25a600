// Times the YUM publisher in-process (as the server runs it, without CLI
// start-up): full add+publish of every rpm in <rpms-dir>, then add one more.
// `tsx inproc.ts <rpms-dir> <extra.rpm> <secret.asc> <work-dir> [link]`; prints
// JSON. With `link` the rpms are hard-linked into Packages/ (the server links
// its content-addressed artifacts), else copied; rpms that already are the
// repo's Packages/ files (<rpms-dir> inside <work-dir>/public/yum/stable/) are
// indexed in place, as createrepo_c works.

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type * as SignerModule from '../../repo-layout/signing/openpgp-signer.js';
import type * as CatalogueModule from '../../repo-layout/yum/yum-catalogue.js';
import type * as RepoModule from '../../repo-layout/yum/yum-repo.js';
import type * as FsStorageModule from '../../storage/fs-storage.js';
import { lxlModule, modulesLabel } from '../lxl-modules.js';

// What the server runs: the compiled modules when dist/ is current.
const { loadSigner } = await lxlModule<typeof SignerModule>('repo-layout/signing/openpgp-signer');
const { JsonYumCatalogue } = await lxlModule<typeof CatalogueModule>('repo-layout/yum/yum-catalogue');
const { updateYum } = await lxlModule<typeof RepoModule>('repo-layout/yum/yum-repo');
const { FsStorage } = await lxlModule<typeof FsStorageModule>('storage/fs-storage');

const [rpmsDir, extra, keyFile, work, mode] = process.argv.slice(2);
const link = mode === 'link';
const signer = await loadSigner({ keyFile });
const ctx = {
  storage: new FsStorage({ root: path.join(work, 'public') }),
  catalogue: new JsonYumCatalogue({ dir: path.join(work, 'state/yum/stable') }),
  name: 'stable',
};
const rpms = (await readdir(rpmsDir)).filter((f) => f.endsWith('.rpm')).map((f) => path.join(rpmsDir, f));
let t = performance.now();
// One catalogue update per publish, as the server makes it.
await updateYum(ctx, { add: rpms, link, publish: { signer, settings: { graceHours: 0 } } });
const full = (performance.now() - t) / 1000;
t = performance.now();
await updateYum(ctx, { add: [extra], link, publish: { signer } });
const addOne = (performance.now() - t) / 1000;
process.stdout.write(`${JSON.stringify({ packages: rpms.length, full, addOne, modules: modulesLabel })}\n`);
