// `lxl pack rpm` and `lxl yum add|remove|publish` through the real CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lxl, missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { testKey } from '../support/test-key.js';

const skip = missingTools('rpm', 'xz');

async function specFile(dir: string, version: string): Promise<string> {
  await writeFile(path.join(dir, `vmlinuz-${version}`), `kernel ${version}\n`);
  const spec = {
    name: 'kernel-xen-legacy',
    version,
    arch: 'x86_64',
    maintainer: 'lxl tests <tests@lxl.test>',
    summary: 'Test kernel',
    files: [{ path: `boot/vmlinuz-${version}`, source: `vmlinuz-${version}`, mode: '0644' }],
    provides: ['installonlypkg(kernel)'],
    sourceDateEpoch: 1_700_000_000,
  };
  const file = path.join(dir, `spec-${version}.json`);
  await writeFile(file, JSON.stringify(spec));
  return file;
}

test('lxl pack rpm writes a signed rpm for each profile; lxl yum add/remove/publish manage the repo', { skip }, async () => {
  const dir = await tempDir();
  const { key, dir: keyDir } = await testKey();
  const secret = path.join(keyDir, 'lxl-test-rsa4096.secret.asc');
  const modern = (await lxl(['pack', 'rpm', '--spec', await specFile(dir, '6.1.1-1'), '--out', path.join(dir, 'out'), '--compression', 'xz', '--key', secret])).stdout.trim();
  const el5 = (await lxl(['pack', 'rpm', '--spec', await specFile(dir, '6.1.2-1'), '--out', path.join(dir, 'out5'), '--profile', 'el5', '--key', secret])).stdout.trim();
  assert.equal(path.basename(modern), 'kernel-xen-legacy-6.1.1-1.x86_64.rpm');
  const q = await run('rpm', ['-qp', '--qf', '%{PAYLOADCOMPRESSOR} %{RSAHEADER:pgpsig}\n', modern, el5]);
  const [m, e] = q.stdout.trim().split('\n');
  assert.match(m, new RegExp(`^xz RSA/SHA256, .*${key.fingerprint.slice(-16).toLowerCase()}$`));
  assert.match(e, /^gzip RSA\/SHA1, /);
  const bad = await lxl(['pack', 'rpm', '--spec', await specFile(dir, '6.1.3-1'), '--out', path.join(dir, 'out6'), '--profile', 'el5', '--compression', 'xz'], { allowFail: true });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^lxl: cannot pack rpm for el5 with xz: .*\[E_CONFIG\]$/m);

  const repo = path.join(dir, 'repo');
  assert.match((await lxl(['yum', 'add', repo, modern])).stdout, /^added Packages\/k\/kernel-xen-legacy-6\.1\.1-1\.x86_64\.rpm$/m);
  const pub = await lxl(['yum', 'publish', repo, '--key', secret, '--base-url', 'http://repo.example/lxl', '--grace-hours', '0']);
  assert.match(pub.stdout, /published yum\/stable: 1 package\(s\)/);
  assert.match(await readFile(path.join(repo, 'public/yum/stable.repo'), 'utf8'), /^baseurl=http:\/\/repo\.example\/lxl\/yum\/stable\/$/m);
  const garbage = path.join(dir, 'garbage.rpm');
  await writeFile(garbage, 'not an rpm at all, just text that is long enough to fill a lead ............................................');
  const r = await lxl(['yum', 'add', repo, garbage], { allowFail: true });
  assert.equal(r.code, 1);
  // The message names the file (one bad rpm among thousands must be findable).
  assert.match(r.stderr, /^lxl: cannot add \S*garbage\.rpm: cannot read rpm lead: bad magic .*\[E_FORMAT\]$/m);
  assert.match((await lxl(['yum', 'remove', repo, 'kernel-xen-legacy-6.1.1', '--key', secret])).stdout, /^removed Packages\/k\/kernel-xen-legacy-6\.1\.1-1\.x86_64\.rpm$[\s\S]*^deleted yum\/stable\/Packages\/k\/kernel-xen-legacy-6\.1\.1-1\.x86_64\.rpm$[\s\S]*^published yum\/stable: 0 package\(s\)$/m);
  const gone = await lxl(['yum', 'remove', repo, 'kernel-xen-legacy'], { allowFail: true });
  assert.match(gone.stderr, /\[E_NOT_FOUND\]/);
});
