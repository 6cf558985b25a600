// NODE_EXTRA_CA_CERTS and the CLI's repo commands. Node 20 reads and parses
// that file at every start (~45 ms for a system bundle), so bin/lxl hands it
// to the one TLS client a repo command has, the S3 storage, which adds it to
// Node's default roots when it is made (storage/extra-ca.ts). Checked here,
// against s3rver serving https with a certificate from a CA of the test's own:
// - with NODE_EXTRA_CA_CERTS naming that CA, `lxl apt add … --storage
//   s3://…https…` publishes a signed repo into the bucket;
// - without it, the same command fails on the certificate and writes nothing;
// - with NODE_EXTRA_CA_CERTS naming a missing file, a command that needs no TLS
//   prints no "Ignoring extra certs" warning (the file was not read at start,
//   where Node 20 itself warns), and the S3 command warns as Node would, then
//   fails on the certificate.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { S3Client, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { extraCaAgentOptions } from '../../storage/extra-ca.js';
import { makeDeb } from '../support/apt-debs.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { S3RVER_CREDENTIALS, s3Unavailable, startS3Server } from '../support/s3-server.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const skip = s3Unavailable() ?? missingTools('openssl', 'xz');

/** A CA and a server certificate for 127.0.0.1 that it signed (PEM files in `dir`). */
async function makeCerts(dir: string): Promise<{ ca: string; key: string; cert: string }> {
  const f = (n: string): string => path.join(dir, n);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=lxl test CA']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { ca: f('ca.pem'), key: f('server.key'), cert: f('server.pem') };
}

test('the repo commands take NODE_EXTRA_CA_CERTS to their S3 client instead of Node reading it at start', { skip, timeout: 5 * 60_000 }, async (t) => {
  const dir = await tempDir('lxl-s3-extra-ca-');
  const certs = await makeCerts(dir);
  const srv = await startS3Server('extra-ca', { tls: { key: certs.key, cert: certs.cert } });
  assert.match(srv.endpoint, /^https:/);
  const { dir: keyDir } = await testKey();
  const keyFile = path.join(keyDir, 'lxl-test-rsa4096.secret.asc');
  await mkdir(path.join(dir, 'debs'));
  const deb = await makeDeb(path.join(dir, 'debs'), { name: 'lxl-extra-ca', version: '1.0-1', arch: 'x86_64' });
  const storage = `s3://${srv.bucket}?endpoint=${encodeURIComponent(srv.endpoint)}&pathStyle=true&checksums=WHEN_REQUIRED`;
  // The test's own reader of the bucket trusts the CA explicitly (the SDK's Node 20 notice is not for this test).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const reader = new S3Client({
    endpoint: srv.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestHandler: { httpsAgent: { ca: await readFile(certs.ca, 'utf8') } },
  });
  const keys = async (): Promise<string[]> => ((await reader.send(new ListObjectsV2Command({ Bucket: srv.bucket }))).Contents ?? []).map((o) => o.Key!).sort();
  const env = (extra: Record<string, string | undefined>): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...srv.env, ...extra };
    delete e.NODE_OPTIONS;
    delete e.LXL_EXTRA_CA_CERTS;
    for (const [k, v] of Object.entries(extra)) if (v === undefined) delete e[k];
    return e;
  };

  await t.test('without the CA the command fails on the certificate and the bucket stays empty', async () => {
    const r = await lxl(['apt', 'add', path.join(dir, 'repo-none'), deb, '--key', keyFile, '--storage', storage], { env: env({ NODE_EXTRA_CA_CERTS: undefined }), allowFail: true });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /certificate/i, r.stderr);
    assert.deepEqual(await keys(), []);
  });

  await t.test('NODE_EXTRA_CA_CERTS naming a missing file: no warning for a local command, the S3 command warns as Node does and fails', async () => {
    const missing = path.join(dir, 'no-such-ca.pem');
    const node = await run(process.execPath, ['-e', '0'], { env: env({ NODE_EXTRA_CA_CERTS: missing }) });
    const local = await lxl(['apt', 'add', path.join(dir, 'repo-local'), deb], { env: env({ NODE_EXTRA_CA_CERTS: missing }) });
    assert.doesNotMatch(local.stderr, /Ignoring extra certs/, 'bin/lxl did not let Node read the file at start');
    if (/Ignoring extra certs/.test(node.stderr)) t.diagnostic(`this Node (${process.version}) reads NODE_EXTRA_CA_CERTS at start; lxl's repo commands do not`);
    else t.diagnostic(`this Node (${process.version}) does not read NODE_EXTRA_CA_CERTS at start anyway`);
    const r = await lxl(['apt', 'add', path.join(dir, 'repo-missing'), deb, '--key', keyFile, '--storage', storage], { env: env({ NODE_EXTRA_CA_CERTS: missing }), allowFail: true });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`Ignoring extra certs from \`${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\`, load failed`));
    assert.match(r.stderr, /certificate/i);
    assert.deepEqual(await keys(), []);
  });

  await t.test('with NODE_EXTRA_CA_CERTS naming the CA, the repo is published into the bucket over https', async () => {
    const r = await lxl(['apt', 'add', path.join(dir, 'repo'), deb, '--key', keyFile, '--storage', storage], { env: env({ NODE_EXTRA_CA_CERTS: certs.ca }) });
    assert.match(r.stdout, /^added lxl-extra-ca 1\.0-1 amd64 in stable$/m);
    assert.doesNotMatch(r.stderr, /Ignoring extra certs/);
    const got = await keys();
    for (const k of ['apt/dists/stable/InRelease', 'apt/dists/stable/Release.gpg', 'apt/dists/stable/main/binary-amd64/Packages', 'apt/pool/main/l/lxl-extra-ca/lxl-extra-ca_1.0-1_amd64.deb']) assert.ok(got.includes(k), `${k} in ${got.join(' ')}`);
    const inRelease = await (await reader.send(new GetObjectCommand({ Bucket: srv.bucket, Key: 'apt/dists/stable/InRelease' }))).Body!.transformToString();
    assert.match(inRelease, /^-----BEGIN PGP SIGNED MESSAGE-----/);
  });
  reader.destroy();
});

test('extraCaAgentOptions: Node default roots plus the file LXL_EXTRA_CA_CERTS names; nothing when unset', { skip: missingTools('openssl') }, async () => {
  const dir = await tempDir('lxl-extra-ca-unit-');
  const { ca } = await makeCerts(dir);
  assert.equal(extraCaAgentOptions({}), undefined);
  const opts = extraCaAgentOptions({ LXL_EXTRA_CA_CERTS: ca });
  const list = opts?.ca as string[];
  assert.ok(Array.isArray(list) && list.length > 100, 'the default roots are kept');
  assert.equal(list.at(-1), await readFile(ca, 'utf8'));
});
