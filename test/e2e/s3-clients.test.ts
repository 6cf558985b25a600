// Acceptance: an APT and a YUM repo published through S3Storage to a real
// S3 server (s3rver process), then
// - apt-get (bookworm chroot) and dnf (--installroot) install from that
//   server's own HTTP endpoint (`http://127.0.0.1:<port>/<bucket>/...`);
// - `rclone sync` of the bucket to a folder gives the same files, and apt-get
//   installs from the synced folder served over HTTP.
// Versions carry `+` and `~` (6.1.192+1~legacy1), which S3 keys must keep.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { JsonAptCatalog } from '../../repo-layout/apt/apt-catalog.js';
import { addDebs } from '../../repo-layout/apt/apt-changes.js';
import { publishApt } from '../../repo-layout/apt/apt-publish.js';
import { JsonYumCatalogue } from '../../repo-layout/yum/yum-catalogue.js';
import { addRpms, publishYum } from '../../repo-layout/yum/yum-repo.js';
import { S3Storage } from '../../storage/s3-storage.js';
import { formatDateU, writeTrace } from '../../storage/trace.js';
import { makeDeb } from '../support/apt-debs.js';
import { chrootUnavailable, makeChroot, removeChroot, type Chroot } from '../support/chroot.js';
import { missingTools, run } from '../support/exec.js';
import { serveStatic } from '../support/http-static.js';
import { s3Unavailable, startS3Server, S3RVER_CREDENTIALS, type S3Server } from '../support/s3-server.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';
import { fixtureSpec, packRpm, shellSpec } from './rpm-fixture.js';

const V1 = '6.1.192+1~legacy1';
const PKG = 'linux-image-6.1.192-xen-legacy';
const META = 'linux-xen-legacy';
const NAME = 'linux-xen-legacy';
const NO_PTY = ['-o', 'Dpkg::Use-Pty=0'];

const skipS3 = s3Unavailable();
const skipApt = skipS3 ?? chrootUnavailable() ?? missingTools('xz');
const skipDnf = skipS3 ?? missingTools('rpm', 'dnf', 'busybox');
const skipRclone = skipApt ?? missingTools('rclone');

function s3Storage(srv: S3Server): S3Storage {
  return new S3Storage({ bucket: srv.bucket, endpoint: srv.endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', credentials: S3RVER_CREDENTIALS });
}

/** Publishes V1 debs to `storage` (suite stable) with the test key; baseUrl is where the tree is served. */
async function publishAptToS3(storage: S3Storage, baseUrl: string): Promise<void> {
  const work = await tempDir('lxl-s3-apt-');
  const debs = path.join(work, 'debs');
  await mkdir(debs);
  const files = await Promise.all([
    makeDeb(debs, { name: PKG, version: V1, arch: 'x86_64' }),
    makeDeb(debs, { name: META, version: V1, arch: 'all', depends: [`${PKG} (= ${V1})`] }),
  ]);
  const catalog = new JsonAptCatalog({ stateDir: path.join(work, 'state') });
  await addDebs({ storage, catalog, suite: 'stable', files });
  const { signer } = await testKey();
  await publishApt({ storage, catalog, signer, origin: 'lxl-test', label: 'lxl-test', name: NAME, baseUrl });
  const now = new Date();
  await writeTrace(storage, 'apt', { host: 'lxl-test', started: now, finished: now, creator: 'lxl test' });
}

/** Points the chroot at `<url>/apt` suite stable with the published keyring; runs update and installs META. */
async function aptInstall(c: Chroot, url: string, keyring: Buffer): Promise<void> {
  await rm(path.join(c.root, 'etc/apt/sources.list'), { force: true });
  await rm(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
  await mkdir(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true });
  await mkdir(path.join(c.root, 'etc/apt/keyrings'), { recursive: true });
  await writeFile(path.join(c.root, `etc/apt/keyrings/${NAME}.gpg`), keyring, { mode: 0o644 });
  await writeFile(
    path.join(c.root, `etc/apt/sources.list.d/${NAME}.sources`),
    `Types: deb\nURIs: ${url}/apt\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/${NAME}.gpg\n`,
  );
  await rm(path.join(c.root, 'var/lib/apt/lists'), { recursive: true, force: true });
  await mkdir(path.join(c.root, 'var/lib/apt/lists/partial'), { recursive: true });
  const upd = await c.run(['apt-get', 'update']);
  const bad = `${upd.stdout}\n${upd.stderr}`.split('\n').filter((l) => /^(W|E|N|Err):/.test(l.trim()));
  assert.deepEqual(bad, [], `apt-get update printed warnings:\n${upd.stdout}${upd.stderr}`);
  await c.run(['dpkg', '--purge', META, PKG], { allowFail: true });
  await c.run(['apt-get', 'clean']);
  await c.run(['apt-get', ...NO_PTY, 'install', '-y', META]);
  assert.equal((await c.run(['dpkg-query', '-W', '-f=${Version}', PKG])).stdout.trim(), V1);
}

test('apt-get (bookworm) installs from a repo published to S3, served by the S3 server; rclone sync gives a repo it installs from too', { skip: skipApt }, async (t) => {
  const srv = await startS3Server('apt-repo');
  const storage = s3Storage(srv);
  const url = `${srv.endpoint}/${srv.bucket}`;
  await publishAptToS3(storage, url);
  const published = await storage.getBytes(`apt/${NAME}.sources`);
  assert.match(published.toString(), new RegExp(`URIs: ${url}/apt`));
  const keyring = await storage.getBytes(`keys/${NAME}.gpg`);

  const c = await makeChroot('bookworm');
  try {
    await aptInstall(c, url, keyring);

    await t.test('rclone sync of the bucket gives the same files, and apt-get installs from them', { skip: skipRclone }, async () => {
      const dest = await tempDir('lxl-rclone-');
      const env = {
        ...srv.env,
        RCLONE_CONFIG: '/dev/null',
        RCLONE_CONFIG_LXLS3_TYPE: 's3',
        RCLONE_CONFIG_LXLS3_PROVIDER: 'Other',
        RCLONE_CONFIG_LXLS3_ENDPOINT: srv.endpoint,
        RCLONE_CONFIG_LXLS3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        RCLONE_CONFIG_LXLS3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        RCLONE_CONFIG_LXLS3_FORCE_PATH_STYLE: 'true',
        // The endpoint is plain http; a CA bundle from the environment only makes rclone's SDK fail to start.
        AWS_CA_BUNDLE: undefined,
      };
      await run('rclone', ['sync', `lxls3:${srv.bucket}`, dest], { env, timeoutMs: 120_000 });
      const want = new Map<string, string>();
      for await (const o of storage.list('')) want.set(o.key, createHash('sha256').update(await storage.getBytes(o.key)).digest('hex'));
      assert.ok([...want.keys()].some((k) => k.includes('+1~legacy1')), 'a pool file with + and ~ was published');
      assert.ok(want.has('apt/project/trace/lxl-test'));
      const got = new Map<string, string>();
      const walk = async (dir: string, rel: string): Promise<void> => {
        for (const e of await readdir(dir, { withFileTypes: true })) {
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await walk(path.join(dir, e.name), r);
          else got.set(r, createHash('sha256').update(await readFile(path.join(dir, e.name))).digest('hex'));
        }
      };
      await walk(dest, '');
      assert.deepEqual([...got.entries()].sort(), [...want.entries()].sort());
      const trace = await readFile(path.join(dest, 'apt/project/trace/lxl-test'), 'utf8');
      assert.ok(Date.now() - Date.parse(trace.split('\n')[1]!.replace(/^Date: /, '')) < 600_000, `trace is fresh: ${trace}`);
      assert.match(trace.split('\n')[0]!, /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}$/);
      assert.equal(formatDateU(new Date(Date.parse(trace.split('\n')[1]!.replace(/^Date: /, '')))), trace.split('\n')[0]);
      const mirror = await serveStatic(dest);
      await aptInstall(c, mirror.url, keyring);
      assert.ok(mirror.requests.some((r) => r.includes('+1~legacy1')), `apt fetched the pool file from the synced folder: ${mirror.requests.join(' ')}`);
    });
  } finally {
    await removeChroot(c);
  }
});

test('dnf (--installroot) installs from a YUM repo published to S3, served by the S3 server', { skip: skipDnf }, async () => {
  const srv = await startS3Server('yum-repo');
  const storage = s3Storage(srv);
  const url = `${srv.endpoint}/${srv.bucket}`;
  const dir = await tempDir('lxl-s3-yum-');
  const { signer, dir: keyDir } = await testKey();
  const out = path.join(dir, 'rpms');
  const busybox = (await run('sh', ['-c', 'command -v busybox'])).stdout.trim();
  const rpms = [
    await packRpm(await shellSpec(path.join(dir, 'shell'), busybox), out, { signer }),
    await packRpm(await fixtureSpec(path.join(dir, 'tools'), { name: 'lxl-tools', version: '1.0-1', krel: 'tools-1' }), out, { signer }),
  ];
  const ctx = { storage, catalogue: new JsonYumCatalogue({ dir: path.join(dir, 'state') }), name: 'stable' };
  await addRpms(ctx, rpms);
  await publishYum(ctx, { signer, defaultBaseUrl: url });
  assert.ok(await storage.head('yum/stable/repodata/repomd.xml.asc'));

  const root = path.join(dir, 'root');
  const reposdir = path.join(dir, 'reposdir');
  await mkdir(reposdir, { recursive: true });
  await mkdir(root, { recursive: true });
  await run(
    'dnf',
    [
      '-y', '--installroot', root, '--releasever', '9',
      '--setopt', `reposdir=${reposdir}`,
      '--setopt', `cachedir=${path.join(root, 'var/cache/dnf')}`,
      '--setopt', 'install_weak_deps=0', '--nodocs',
      '--repofrompath', `lxl,${url}/yum/stable/`,
      '--setopt', 'lxl.gpgcheck=1',
      '--setopt', 'lxl.repo_gpgcheck=1',
      '--setopt', `lxl.gpgkey=${url}/yum/stable/repodata/repomd.xml.key`,
      'install', 'lxl-tools',
    ],
    { timeoutMs: 300_000 },
  );
  const q = await run('rpm', ['--root', root, '-q', 'lxl-tools']);
  assert.equal(q.stdout.trim(), 'lxl-tools-1.0-1.x86_64');
  assert.ok(keyDir);
});
