// `lxl apt add|publish --storage s3://…` against a real S3-API server
// (s3rver): the pool file, Release, Release.gpg, InRelease, keys and the
// mirror trace land in the bucket, gpgv verifies InRelease and Release.gpg,
// apt-get (bookworm chroot) installs from the bucket's HTTP endpoint, and a
// bucket lock held by another publisher makes the command fail naming it.
// Without --storage the same commands write <repo>/public.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostname } from 'node:os';
import { parseDeb822 } from '../../repo-layout/deb822.js';
import { encodeLock } from '../../storage/s3-lock.js';
import { openStorage, storageConfigFromUrl } from '../../storage/storage-config.js';
import { makeDeb } from '../support/apt-debs.js';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { s3Unavailable, startS3Server } from '../support/s3-server.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const skip = s3Unavailable() ?? missingTools('gpgv', 'xz');
const NAME = 'lxl-s3cli';
const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'localhost';

async function fixtures(dir: string): Promise<{ deb: string; deb2: string; keyFile: string; keyring: string }> {
  const { dir: keyDir } = await testKey();
  await mkdir(path.join(dir, 'debs'), { recursive: true });
  return {
    deb: await makeDeb(path.join(dir, 'debs'), { name: NAME, version: '6.1.192+1~legacy1', arch: 'x86_64' }),
    deb2: await makeDeb(path.join(dir, 'debs'), { name: NAME, version: '6.1.193+1', arch: 'x86_64' }),
    keyFile: path.join(keyDir, 'lxl-test-rsa4096.secret.asc'),
    keyring: path.join(keyDir, 'lxl-test-rsa4096.gpg'),
  };
}

async function gpgvOk(keyring: string, files: Record<string, Buffer>, sig: string, data?: string): Promise<void> {
  const d = await tempDir('lxl-gpgv-');
  for (const [n, b] of Object.entries(files)) await writeFile(path.join(d, n), b);
  await run('gpgv', ['--keyring', keyring, path.join(d, sig), ...(data ? [path.join(d, data)] : [])]);
}

test('lxl apt add/publish --storage s3://… puts a signed repo in the bucket that gpgv verifies and apt-get installs from', { skip, timeout: 15 * 60_000 }, async (t) => {
  const dir = await tempDir('lxl-s3-apt-cli-');
  const fx = await fixtures(dir);
  const srv = await startS3Server('apt-cli');
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) process.env[k] = srv.env[k];
  const url = `${srv.endpoint}/${srv.bucket}`;
  const storageUrl = `s3://${srv.bucket}?endpoint=${encodeURIComponent(srv.endpoint)}&pathStyle=true&checksums=WHEN_REQUIRED`;
  const repo = path.join(dir, 'repo');
  const add = await lxl(['apt', 'add', repo, fx.deb, '--storage', storageUrl], { env: srv.env });
  assert.match(add.stdout, new RegExp(`^added ${NAME} 6\\.1\\.192\\+1~legacy1 amd64 in stable$`, 'm'));
  await lxl(['apt', 'publish', repo, '--key', fx.keyFile, '--name', NAME, '--base-url', url, '--storage', storageUrl], { env: srv.env });

  const s3 = openStorage(storageConfigFromUrl(storageUrl));
  const keys: string[] = [];
  for await (const o of s3.list('')) keys.push(o.key);
  for (const k of ['apt/dists/stable/InRelease', 'apt/dists/stable/Release', 'apt/dists/stable/Release.gpg', 'apt/dists/stable/main/binary-amd64/Packages', `keys/${NAME}.gpg`, `apt/${NAME}.sources`, `apt/project/trace/${host}`]) {
    assert.ok(keys.includes(k), `${k} in the bucket: ${keys.join(' ')}`);
  }
  const pool = keys.find((k) => k.startsWith('apt/pool/') && k.endsWith('.deb'));
  assert.ok(pool?.includes('+1~legacy1'), `the pool file (with + and ~) is in the bucket: ${pool}`);
  assert.ok(!keys.some((k) => k.startsWith('locks/')), 'the bucket lock is released');
  await assert.rejects(readFile(path.join(repo, 'public/apt/dists/stable/InRelease')), /ENOENT/, 'nothing went to the local folder');
  const get = (k: string) => s3.getBytes(k);
  await gpgvOk(fx.keyring, { InRelease: await get('apt/dists/stable/InRelease') }, 'InRelease');
  await gpgvOk(fx.keyring, { Release: await get('apt/dists/stable/Release'), 'Release.gpg': await get('apt/dists/stable/Release.gpg') }, 'Release.gpg', 'Release');
  const release = parseDeb822((await get('apt/dists/stable/Release')).toString())[0]!;
  assert.equal(release.get('Origin'), 'linux-xen-legacy');

  await t.test('apt-get (bookworm) installs from the bucket served by the S3 server', { skip: chrootUnavailable() }, async () => {
    const c = await makeChroot('bookworm');
    try {
      await mkdir(path.join(c.root, 'etc/apt/keyrings'), { recursive: true });
      await rm(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
      await mkdir(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true });
      await rm(path.join(c.root, 'etc/apt/sources.list'), { force: true });
      await writeFile(path.join(c.root, `etc/apt/keyrings/${NAME}.gpg`), await get(`keys/${NAME}.gpg`));
      // The .sources file the publish wrote names the bucket URL and the keyring path.
      const sources = (await get(`apt/${NAME}.sources`)).toString();
      assert.match(sources, new RegExp(`URIs: ${url}/apt`));
      await writeFile(path.join(c.root, `etc/apt/sources.list.d/${NAME}.sources`), sources);
      await rm(path.join(c.root, 'var/lib/apt/lists'), { recursive: true, force: true });
      await mkdir(path.join(c.root, 'var/lib/apt/lists/partial'), { recursive: true });
      const upd = await c.run(['apt-get', 'update']);
      assert.deepEqual(`${upd.stdout}\n${upd.stderr}`.split('\n').filter((l) => /^(W|E|N|Err):/.test(l.trim())), [], upd.stdout + upd.stderr);
      await c.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', '--no-install-recommends', NAME]);
      assert.equal((await c.run(['dpkg-query', '-W', '-f=${Version}', NAME])).stdout.trim(), '6.1.192+1~legacy1');
      await c.run(['dpkg', '--purge', NAME]);
    } finally {
      await removeChroot(c);
    }
  });

  await t.test('a bucket lock held by another publisher: the command fails naming it, or waits with --lock-wait', async () => {
    // s3rver ignores If-None-Match; the fault proxy enforces conditional writes as S3 does.
    const proxy = await startFaultProxy({ upstream: srv.endpoint, enforceConditional: true });
    const viaProxy = `s3://${srv.bucket}?endpoint=${encodeURIComponent(proxy.endpoint)}&pathStyle=true&checksums=WHEN_REQUIRED`;
    const now = Date.now();
    await s3.put('locks/publish.json', encodeLock({ owner: 'other-host:42:abcdef', acquiredAt: now, expiresAt: now + 4_000 }));
    const r = await lxl(['apt', 'add', repo, fx.deb2, '--key', fx.keyFile, '--storage', viaProxy], { env: srv.env, allowFail: true });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^lxl: cannot lock locks\/publish\.json: held by other-host:42:abcdef until /m);
    assert.equal(parseDeb822((await get('apt/dists/stable/main/binary-amd64/Packages')).toString()).length, 1, 'the loser changed nothing');
    // The lock expires after 4 s: a waiting publisher takes it over and publishes.
    await lxl(['apt', 'add', repo, fx.deb2, '--key', fx.keyFile, '--storage', viaProxy, '--lock-wait', '30'], { env: srv.env });
    assert.equal(parseDeb822((await get('apt/dists/stable/main/binary-amd64/Packages')).toString()).length, 2);
    const bad = await lxl(['apt', 'publish', repo, '--key', fx.keyFile, '--storage', viaProxy, '--lock-wait', '-1'], { env: srv.env, allowFail: true });
    assert.match(bad.stderr, /--lock-wait "-1": expected seconds ≥ 0/);
  });
});

test('lxl apt without --storage writes <repo>/public (the default local folder)', { skip: missingTools('gpgv', 'xz') }, async () => {
  const dir = await tempDir('lxl-apt-cli-fs-');
  const fx = await fixtures(dir);
  const repo = path.join(dir, 'repo');
  await lxl(['apt', 'add', repo, fx.deb, '--key', fx.keyFile]);
  const dists = path.join(repo, 'public/apt/dists/stable');
  await run('gpgv', ['--keyring', fx.keyring, path.join(dists, 'InRelease')]);
  assert.ok(await readFile(path.join(repo, `public/apt/project/trace/${host}`), 'utf8'));
  assert.match(await readFile(path.join(dists, 'main/binary-amd64/Packages'), 'utf8'), new RegExp(`^Package: ${NAME}$`, 'm'));
});
