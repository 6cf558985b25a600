// The local folder's YUM repodata is a generation directory behind a
// `repodata` symlink (swapped atomically per publish). The URLs stay
// yum/<repo>/repodata/…, so every way of serving and mirroring the folder
// must follow the link: the embedded server's static route (dnf, zypper,
// headers), `rsync -a` (keeps the link) and `rsync -aL` (copies the files)
// mirrors served over HTTP (dnf), and createrepo_c --update on an -L mirror.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readlink } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { JsonYumCatalogue } from '../../repo-layout/yum/yum-catalogue.js';
import { addRpms, publishYum } from '../../repo-layout/yum/yum-repo.js';
import { staticRoutes } from '../../server/static-serving.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { YUM_NAME } from '../support/crash-publish.js';
import { buildFixtures, dnfClient, versionOf } from '../support/crash-trials.js';
import { missingTools, run } from '../support/exec.js';
import { serveStatic } from '../support/http-static.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const skip = missingTools('dnf', 'rpm', 'xz');
const BOTH = [versionOf(0), versionOf(1)];

test('the symlinked repodata works through the embedded server, rsync mirrors (with and without -L) and createrepo_c --update on an -L mirror', { skip, timeout: 15 * 60_000 }, async (t) => {
  const dir = await tempDir('lxl-yum-mirrors-');
  const { signer, dir: keyDir } = await testKey();
  const fixtures = await buildFixtures(path.join(dir, 'pkgs'), 2, signer, 1024);
  const publicDir = path.join(dir, 'public');
  const ctx = { storage: new FsStorage({ root: publicDir }), catalogue: new JsonYumCatalogue({ dir: path.join(dir, 'state') }), name: YUM_NAME };
  for (const rpm of fixtures.rpms) {
    await addRpms(ctx, [rpm]);
    await publishYum(ctx, { signer, settings: { retention: 0 } });
  }
  const repodata = path.join(publicDir, 'yum', YUM_NAME, 'repodata');
  assert.ok((await lstat(repodata)).isSymbolicLink());
  assert.match(await readlink(repodata), /^repodata\.\d+-[0-9a-f]{8}$/);

  await t.test('embedded server static route: dnf and zypper read yum/<repo>/repodata/ through the link, with the usual headers', async () => {
    const app = express();
    app.use(staticRoutes(publicDir));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const repomd = await fetch(`${url}/yum/${YUM_NAME}/repodata/repomd.xml`);
      assert.equal(repomd.status, 200);
      assert.equal(repomd.headers.get('content-type'), 'application/xml');
      assert.equal(repomd.headers.get('cache-control'), 'no-cache');
      const href = /<location href="(repodata\/[^"]+-primary\.xml\.gz)"/.exec(await repomd.text())![1]!;
      const primary = await fetch(`${url}/yum/${YUM_NAME}/${href}`);
      assert.equal(primary.status, 200);
      assert.equal(primary.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.deepEqual((await (await dnfClient(path.join(dir, 'dnf-server'), url))()).versions, BOTH);
      if (missingTools('zypper')) return t.skip('zypper is not installed');
      const root = path.join(dir, 'zypper-root');
      await mkdir(root, { recursive: true });
      await run('rpm', ['--root', root, '--import', path.join(keyDir, 'lxl-test-rsa4096.asc')]);
      const z = (args: string[]) => run('zypper', ['--root', root, '--non-interactive', ...args], { timeoutMs: 300_000 });
      await z(['addrepo', '--refresh', '--check', '--gpgcheck', `${url}/yum/${YUM_NAME}/`, 'lxl']);
      await z(['refresh', 'lxl']);
      const info = await z(['search', '-s', 'lxl-crash']);
      for (const v of BOTH) assert.match(info.stdout, new RegExp(`${v.replace(/\./g, '\\.')}-1`));
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  await t.test('rsync -a (link kept) and rsync -aL (files copied) give mirrors dnf reads with repo_gpgcheck', { skip: missingTools('rsync') }, async () => {
    for (const [name, flags] of [['keep', '-a'], ['deref', '-aL']] as const) {
      const mirror = path.join(dir, `mirror-${name}`);
      await run('rsync', [flags, '--delete', `${publicDir}/`, `${mirror}/`]);
      const st = await lstat(path.join(mirror, 'yum', YUM_NAME, 'repodata'));
      assert.equal(st.isSymbolicLink(), flags === '-a', `${flags}: repodata is ${st.isSymbolicLink() ? 'a link' : 'a directory'}`);
      const http = await serveStatic(mirror);
      assert.deepEqual((await (await dnfClient(path.join(dir, `dnf-${name}`), http.url))()).versions, BOTH, `dnf on the rsync ${flags} mirror`);
    }
  });

  // createrepo_c renames its new .repodata/ over repodata/, which fails on a symlink ("Not a directory"): a mirror that
  // regenerates metadata copies with -L (README, Mirrors).
  await t.test('createrepo_c --update on an rsync -aL mirror reads the repodata and writes a working one', { skip: missingTools('createrepo_c', 'rsync') }, async () => {
    const mirror = path.join(dir, 'mirror-createrepo');
    await run('rsync', ['-aL', `${publicDir}/`, `${mirror}/`]);
    const repo = path.join(mirror, 'yum', YUM_NAME);
    const r = await run('createrepo_c', ['--update', repo]);
    assert.match(r.stdout + r.stderr, /Loaded information about 2 packages|Pool finished/);
    const http = await serveStatic(mirror);
    const root = path.join(dir, 'dnf-createrepo');
    await mkdir(path.join(root, 'r'), { recursive: true });
    const q = await run('dnf', ['-y', '--installroot', root, '--releasever', '9', '--setopt', `reposdir=${path.join(root, 'r')}`, '--repofrompath', `m,${http.url}/yum/${YUM_NAME}/`, '--setopt', 'm.gpgcheck=0', '--setopt', 'm.repo_gpgcheck=0', 'repoquery', '--qf', '%{version}\n', 'lxl-crash'], { timeoutMs: 120_000 });
    assert.deepEqual(q.stdout.split('\n').map((l) => l.trim()).filter((l) => /^\d/.test(l)).sort(), BOTH);
  });
});
