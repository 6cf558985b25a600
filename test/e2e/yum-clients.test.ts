// The YUM repo against real clients: dnf (install, upgrade, installonly kernels
// side by side) and zypper over HTTP with signature checks on, and createrepo_c's
// primary metadata for the same rpms.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { missingTools, run } from '../support/exec.js';
import { serveStatic } from '../support/http-static.js';
import { tempDir } from '../support/tmp.js';
import { testKey } from '../support/test-key.js';
import { buildSet, dnfArgs, publish } from './yum-scenario.js';

const skip = missingTools('rpm', 'dnf', 'busybox');

test('dnf installs, upgrades and keeps two installonly kernels, with gpgcheck and repo_gpgcheck', { skip }, async () => {
  const dir = await tempDir();
  const repo = path.join(dir, 'repo');
  await publish(repo, await buildSet(dir, path.join(dir, 'rpms1'), 1));
  const server = await serveStatic(path.join(repo, 'public'));
  const root = path.join(dir, 'root');
  const reposdir = path.join(dir, 'reposdir');
  await mkdir(reposdir, { recursive: true });
  await mkdir(root, { recursive: true });

  await run('dnf', [...dnfArgs(root, server.url, reposdir), 'install', 'kernel-xen-legacy', 'lxl-tools'], { timeoutMs: 300_000 });
  assert.ok(server.requests.includes('/yum/stable/repodata/repomd.xml.asc'), 'dnf fetched repomd.xml.asc (repo_gpgcheck)');
  const q1 = await run('rpm', ['--root', root, '-q', 'kernel-xen-legacy', 'lxl-tools']);
  assert.deepEqual(q1.stdout.trim().split('\n'), ['kernel-xen-legacy-6.1.192-1.x86_64', 'lxl-tools-1.0-1.x86_64']);
  assert.equal(await readFile(path.join(root, 'lxl-postinst-marker'), 'utf8'), 'post 1\n', 'postinst ran under dnf');
  // The packages were verified against our key, which dnf imported from repomd.xml.key.
  const keys = await run('rpm', ['--root', root, '-q', 'gpg-pubkey']);
  const { key } = await testKey();
  assert.match(keys.stdout, new RegExp(`gpg-pubkey-${key.fingerprint.slice(-8).toLowerCase()}-`));

  await publish(repo, await buildSet(dir, path.join(dir, 'rpms2'), 2));
  await run('dnf', [...dnfArgs(root, server.url, reposdir), '--refresh', 'upgrade'], { timeoutMs: 300_000 });
  const q2 = await run('rpm', ['--root', root, '-q', 'kernel-xen-legacy', 'lxl-tools']);
  assert.deepEqual(q2.stdout.trim().split('\n').sort(), ['kernel-xen-legacy-6.1.192-1.x86_64', 'kernel-xen-legacy-6.1.193-1.x86_64', 'lxl-tools-1.1-1.x86_64']);
  for (const krel of ['6.1.192-xen-legacy', '6.1.193-xen-legacy']) {
    assert.ok((await readdir(path.join(root, 'boot'))).includes(`vmlinuz-${krel}`), `both kernels' files are present (${krel})`);
  }
  // The .repo file points at the published key with both checks on.
  const repoFile = await readFile(path.join(repo, 'public/yum/stable.repo'), 'utf8');
  assert.match(repoFile, /^gpgcheck=1$/m);
  assert.match(repoFile, /^repo_gpgcheck=1$/m);
  assert.match(repoFile, /^gpgkey=.*\/yum\/stable\/repodata\/repomd\.xml\.key$/m);
});

test('dnf refuses a repo whose repomd.xml signature is from another key', { skip }, async () => {
  const dir = await tempDir();
  const repo = path.join(dir, 'repo');
  await publish(repo, await buildSet(dir, path.join(dir, 'rpms1'), 1));
  const other = await testKey({ algorithm: 'ed25519' });
  const server = await serveStatic(path.join(repo, 'public'));
  const root = path.join(dir, 'root');
  const reposdir = path.join(dir, 'reposdir');
  await mkdir(reposdir, { recursive: true });
  // Trust only the other key: repomd.xml.asc (made by our repo key) must not verify.
  await cp(path.join(other.dir, 'lxl-test-ed25519.asc'), path.join(dir, 'other.asc'));
  const args = dnfArgs(root, server.url, reposdir, `file://${path.join(dir, 'other.asc')}`);
  const r = await run('dnf', [...args, 'install', 'lxl-tools'], { allowFail: true, timeoutMs: 300_000 });
  assert.notEqual(r.code, 0, `dnf accepted a repo signed by an untrusted key:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout + r.stderr, /repomd\.xml GPG signature verification error/);
});

interface PrimaryPkg {
  name: string;
  arch: string;
  version: string;
  checksum: string;
  location: string;
  size: string;
  headerRange: string;
  provides: string[];
  requires: string[];
  files: string[];
}

/** Parses primary.xml into comparable records (attribute strings kept verbatim). */
function parsePrimary(xml: string): PrimaryPkg[] {
  const one = (s: string, re: RegExp): string => re.exec(s)?.[1] ?? '';
  const entries = (s: string, tag: string): string[] => {
    const block = new RegExp(`<rpm:${tag}>([\\s\\S]*?)</rpm:${tag}>`).exec(s)?.[1] ?? '';
    return [...block.matchAll(/<rpm:entry ([^/]*)\/>/g)].map((m) => m[1].trim()).sort();
  };
  return [...xml.matchAll(/<package type="rpm">([\s\S]*?)<\/package>/g)]
    .map(([, p]) => ({
      name: one(p, /<name>([^<]*)<\/name>/),
      arch: one(p, /<arch>([^<]*)<\/arch>/),
      version: one(p, /<version ([^/]*)\/>/),
      checksum: one(p, /<checksum ([^<]*<)\/checksum>/),
      location: one(p, /<location href="([^"]*)"/),
      size: one(p, /<size ([^/]*)\/>/),
      headerRange: one(p, /<rpm:header-range ([^/]*)\/>/),
      provides: entries(p, 'provides'),
      requires: entries(p, 'requires'),
      files: [...p.matchAll(/<file[^>]*>[^<]*<\/file>/g)].map((m) => m[0]).sort(),
    }))
    .sort((a, b) => (a.location < b.location ? -1 : 1));
}

async function readPrimary(repodata: string): Promise<PrimaryPkg[]> {
  const name = (await readdir(repodata)).find((n) => n.endsWith('-primary.xml.gz'));
  assert.ok(name, `no primary.xml.gz in ${repodata}`);
  return parsePrimary(gunzipSync(await readFile(path.join(repodata, name))).toString('utf8'));
}

test('createrepo_c on the same rpms gives equivalent primary metadata', { skip: skip ?? missingTools('createrepo_c') }, async () => {
  const dir = await tempDir();
  const repo = path.join(dir, 'repo');
  const rpms = [...(await buildSet(dir, path.join(dir, 'rpms1'), 1)), ...(await buildSet(dir, path.join(dir, 'rpms2'), 2))];
  await publish(repo, rpms);
  const theirs = path.join(dir, 'theirs');
  await cp(path.join(repo, 'public/yum/stable/Packages'), path.join(theirs, 'Packages'), { recursive: true });
  await run('createrepo_c', ['--no-database', '--workers', '2', theirs]);
  const a = await readPrimary(path.join(repo, 'public/yum/stable/repodata'));
  const b = await readPrimary(path.join(theirs, 'repodata'));
  assert.equal(a.length, rpms.length);
  assert.deepEqual(a, b);
});

test('zypper adds the repo with our key, refreshes and installs', { skip: missingTools('zypper', 'rpm', 'busybox') }, async () => {
  const dir = await tempDir();
  const repo = path.join(dir, 'repo');
  await publish(repo, await buildSet(dir, path.join(dir, 'rpms1'), 1));
  const server = await serveStatic(path.join(repo, 'public'));
  const root = path.join(dir, 'root');
  await mkdir(root, { recursive: true });
  const { dir: keyDir } = await testKey();
  // Trust our key in the target's rpm db first: zypper then verifies repomd.xml.asc with it, no auto-import.
  await run('rpm', ['--root', root, '--import', path.join(keyDir, 'lxl-test-rsa4096.asc')]);
  const z = (args: string[]): Promise<{ stdout: string; stderr: string; code: number }> => run('zypper', ['--root', root, '--non-interactive', ...args], { timeoutMs: 300_000 });
  await z(['addrepo', '--refresh', '--check', '--gpgcheck', `${server.url}/yum/stable/`, 'lxl']);
  const r = await z(['refresh', 'lxl']);
  assert.match(r.stdout, /lxl/);
  assert.ok(server.requests.includes('/yum/stable/repodata/repomd.xml.asc'), 'zypper fetched repomd.xml.asc');
  await z(['install', 'lxl-tools', 'kernel-xen-legacy']);
  const q = await run('rpm', ['--root', root, '-q', 'lxl-tools', 'kernel-xen-legacy']);
  assert.deepEqual(q.stdout.trim().split('\n'), ['lxl-tools-1.0-1.x86_64', 'kernel-xen-legacy-6.1.192-1.x86_64']);
});
