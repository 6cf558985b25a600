// `lxl apt add|remove|publish` through the real CLI: help, the repo folder
// layout, saved settings, name=version removal, clear one-line failures
// (and publish options without --key, for `lxl yum` too).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDeb822 } from '../../repo-layout/deb822.js';
import { makeDeb } from '../support/apt-debs.js';
import { fixtureSpec, packRpm } from '../e2e/rpm-fixture.js';
import { lxl, run } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const work = await tempDir('lxl-apt-cli-');
const key = await testKey({});
const secret = path.join(key.dir, (await readdir(key.dir)).find((f) => f.endsWith('.secret.asc')) ?? 'missing');
const debDir = path.join(work, 'debs');
await mkdir(debDir);
const v1 = await makeDeb(debDir, { name: 'linux-xen-legacy', version: '6.1.192+1~legacy1', arch: 'all' });
const v2 = await makeDeb(debDir, { name: 'linux-xen-legacy', version: '6.1.192+1', arch: 'all' });

async function packages(repo: string, suite: string): Promise<string[]> {
  const text = await readFile(path.join(repo, 'public/apt/dists', suite, 'main/binary-amd64/Packages'), 'utf8');
  return parseDeb822(text).map((p) => `${p.get('Package')} ${p.get('Version')}`);
}

test('every apt subcommand has --help', async () => {
  for (const sub of ['add', 'remove', 'list', 'publish']) {
    const r = await lxl(['apt', sub, '--help']);
    assert.match(r.stdout, new RegExp(`Usage: lxl apt ${sub}`));
  }
  assert.match((await lxl(['apt', 'publish', '--help'])).stdout, /--grace-hours/);
});

test('add, publish, remove name=version, publish again; settings are saved', async () => {
  const repo = path.join(work, 'repo1');
  const add = await lxl(['apt', 'add', repo, v1, v2, '--suite', 'testing']);
  assert.match(add.stdout, /^added linux-xen-legacy 6\.1\.192\+1~legacy1 all in testing$/m);
  const again = await lxl(['apt', 'add', repo, v1, '--suite', 'testing']);
  assert.match(again.stdout, /^unchanged linux-xen-legacy 6\.1\.192\+1~legacy1 all in testing$/m);
  await lxl(['apt', 'publish', repo, '--key', secret, '--origin', 'Lxl Test', '--valid-days', '3', '--base-url', 'http://example.invalid/r']);
  assert.deepEqual(await packages(repo, 'testing'), ['linux-xen-legacy 6.1.192+1~legacy1', 'linux-xen-legacy 6.1.192+1']);
  const release = parseDeb822(await readFile(path.join(repo, 'public/apt/dists/testing/Release'), 'utf8'))[0];
  assert.equal(release.get('Origin'), 'Lxl Test');
  assert.ok(release.get('Valid-Until'));
  assert.ok(new Date(release.get('Date') ?? '').getTime() < Date.now(), 'Date must be in the past');

  await lxl(['apt', 'remove', repo, 'linux-xen-legacy=6.1.192+1~legacy1', '--suite', 'testing']);
  await lxl(['apt', 'publish', repo, '--key', secret]);
  assert.deepEqual(await packages(repo, 'testing'), ['linux-xen-legacy 6.1.192+1']);
  // Saved settings apply to the second publish too.
  const release2 = parseDeb822(await readFile(path.join(repo, 'public/apt/dists/testing/Release'), 'utf8'))[0];
  assert.equal(release2.get('Origin'), 'Lxl Test');
  assert.ok(release2.get('Valid-Until'));
  // A publish that changes no setting leaves settings.json alone (no rewrite); a changed one is saved.
  const settingsFile = path.join(repo, 'state/apt/settings.json');
  const before = await stat(settingsFile);
  await lxl(['apt', 'publish', repo, '--key', secret, '--origin', 'Lxl Test']);
  assert.equal((await stat(settingsFile)).ino, before.ino, 'unchanged settings are not rewritten');
  await lxl(['apt', 'publish', repo, '--key', secret, '--origin', 'Lxl Other']);
  assert.equal(JSON.parse(await readFile(settingsFile, 'utf8')).origin, 'Lxl Other');
  await lxl(['apt', 'publish', repo, '--key', secret]);
  assert.equal(parseDeb822(await readFile(path.join(repo, 'public/apt/dists/testing/Release'), 'utf8'))[0].get('Origin'), 'Lxl Other');
  const layout = await readdir(path.join(repo, 'public'));
  assert.deepEqual(layout.sort(), ['apt', 'keys']);
  assert.deepEqual((await readdir(path.join(repo, 'state/apt'))).filter((f) => !f.endsWith('.tmp')).sort(), ['catalog.json', 'settings.json', 'xz-blocks']);
  // The Packages.xz block cache holds exactly the blocks of what is published now: here (small suites) one per distinct non-empty Packages.
  const texts = new Set<string>();
  for (const suite of await readdir(path.join(repo, 'public/apt/dists'))) {
    for (const arch of ['amd64', 'i386']) texts.add(await readFile(path.join(repo, `public/apt/dists/${suite}/main/binary-${arch}/Packages`), 'utf8'));
  }
  texts.delete('');
  assert.ok(texts.size > 0);
  assert.equal((await readdir(path.join(repo, 'state/apt/xz-blocks'))).length, texts.size);
});

test('add --link hard-links the .debs into the pool (without it, the pool holds copies)', async () => {
  const linked = path.join(work, 'repo-link');
  await lxl(['apt', 'add', linked, v1, '--link', '--key', secret]);
  const copied = path.join(work, 'repo-copy');
  await lxl(['apt', 'add', copied, v1, '--key', secret]);
  const pool = 'public/apt/pool/main/l/linux-xen-legacy/linux-xen-legacy_6.1.192+1~legacy1_all.deb';
  assert.equal((await stat(path.join(linked, pool))).ino, (await stat(v1)).ino);
  assert.notEqual((await stat(path.join(copied, pool))).ino, (await stat(v1)).ino);
  assert.deepEqual(await packages(linked, 'stable'), await packages(copied, 'stable'));
  assert.match((await lxl(['apt', 'add', '--help'])).stdout, /--link/);
});

test('list prints what each suite holds in Debian version order (not the order added, nor byte order), one suite with --suite, or JSON', async () => {
  const repo = path.join(work, 'repo-list');
  const nope = await lxl(['apt', 'list', repo], { allowFail: true });
  assert.equal(nope.code, 1);
  assert.equal(nope.stderr, `lxl: cannot list ${repo}: it has no APT catalogue (${path.resolve(repo)}/state/apt/catalog.json; nothing was added yet) [E_NOT_FOUND]\n`);
  // 6.1.192+1~legacy1 sorts before 6.1.192+1 in Debian's order (~ before anything), after it in byte order.
  await lxl(['apt', 'add', repo, v2, v1, '--suite', 'testing']);
  await lxl(['apt', 'add', repo, v2]);
  const all = await lxl(['apt', 'list', repo]);
  assert.equal(all.stdout, 'stable|main|all: linux-xen-legacy 6.1.192+1\ntesting|main|all: linux-xen-legacy 6.1.192+1~legacy1\ntesting|main|all: linux-xen-legacy 6.1.192+1\n');
  assert.equal((await lxl(['apt', 'list', repo, '--suite', 'stable'])).stdout, 'stable|main|all: linux-xen-legacy 6.1.192+1\n');
  const rows = JSON.parse((await lxl(['apt', 'list', repo, '--suite', 'testing', '--json'])).stdout) as Array<Record<string, unknown>>;
  assert.deepEqual(rows.map((r) => r.version), ['6.1.192+1~legacy1', '6.1.192+1']);
  assert.equal(rows[0].sha256, createHash('sha256').update(await readFile(v1)).digest('hex'));
  assert.equal(rows[0].size, (await stat(v1)).size);
  assert.match(String(rows[0].filename), /^pool\/main\/l\/linux-xen-legacy\/linux-xen-legacy_6\.1\.192\+1~legacy1_all\.deb$/);
  assert.deepEqual(Object.keys(rows[0]), ['suite', 'component', 'arch', 'name', 'version', 'source', 'filename', 'size', 'sha256']);
  const other = await lxl(['apt', 'list', repo, '--suite', 'unstable'], { allowFail: true });
  assert.equal(other.code, 1);
  assert.equal(other.stderr, `lxl: cannot list suite unstable: ${repo} has only stable, testing [E_NOT_FOUND]\n`);
  // A reader that stops early (here one that reads nothing) ends only the output: no EPIPE trace, exit 0.
  const piped = await run('bash', ['-c', 'set -o pipefail; "$0" apt list "$1" | true', new URL('../../bin/lxl', import.meta.url).pathname, repo]);
  assert.equal(piped.stderr, '');
});

test('failures are one clear line with a code: unknown package, conflict, held lock, missing key, unreadable input', async () => {
  const repo = path.join(work, 'repo2');
  await lxl(['apt', 'add', repo, v1]);
  // A missing file or a folder among the inputs, for apt and yum alike: named, with the reason; nothing added.
  for (const [kind, input, reason] of [
    ['apt', path.join(work, 'no-such.deb'), 'no such file or directory'],
    ['apt', debDir, 'it is a folder, not a package file (give the files in it, such as its *.deb or *.rpm)'],
    ['yum', debDir, 'it is a folder, not a package file (give the files in it, such as its *.deb or *.rpm)'],
    ['yum', path.join(work, 'no-such.rpm'), 'no such file or directory'],
  ]) {
    const r = await lxl([kind, 'add', repo, input], { allowFail: true });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `lxl: cannot read ${input}: ${reason} [E_IO]\n`);
  }
  await lxl(['apt', 'publish', repo, '--key', secret]);
  assert.deepEqual(await packages(repo, 'stable'), ['linux-xen-legacy 6.1.192+1~legacy1']);
  const missing = await lxl(['apt', 'remove', repo, 'nope'], { allowFail: true });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^lxl: cannot remove nope: no such package in suite stable \[E_NOT_FOUND\]\n$/);

  const otherDir = path.join(work, 'rebuilt');
  await mkdir(otherDir);
  const rebuilt = await makeDeb(otherDir, { name: 'linux-xen-legacy', version: '6.1.192+1~legacy1', arch: 'all', salt: 'x' });
  const conflict = await lxl(['apt', 'add', repo, rebuilt, '--suite', 'other'], { allowFail: true });
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /^lxl: cannot add linux-xen-legacy 6\.1\.192\+1~legacy1 \(all\): a different file with the same name, version and architecture/);
  assert.match(conflict.stderr, /\[E_CONFLICT\]/);

  // add --key: bad settings fail before the add; a key that cannot be read fails the publish, and the add stays
  // recorded (its pool file is stored; the next publish lists it). yum add --key loads the key first: nothing is added.
  const listed = async (): Promise<string[]> =>
    (JSON.parse(await readFile(path.join(repo, 'state/apt/catalog.json'), 'utf8')) as { suites: Record<string, Array<{ version: string }>> }).suites.stable.map((r) => r.version);
  const badLevel = await lxl(['apt', 'add', repo, v2, '--key', secret, '--xz-level', '12'], { allowFail: true });
  assert.equal(badLevel.code, 1);
  assert.equal(badLevel.stderr, 'lxl: cannot use --xz-level 12: expected 0-9 [E_CONFIG]\n');
  assert.deepEqual(await listed(), ['6.1.192+1~legacy1']);
  const noSuchKey = path.join(work, 'no-such.secret.asc');
  const badKey = await lxl(['apt', 'add', repo, v2, '--key', noSuchKey], { allowFail: true });
  assert.equal(badKey.code, 1);
  assert.match(badKey.stderr, new RegExp(`no-such\\.secret\\.asc.*\\[E_`));
  assert.deepEqual(await listed(), ['6.1.192+1~legacy1', '6.1.192+1']);
  assert.deepEqual(await packages(repo, 'stable'), ['linux-xen-legacy 6.1.192+1~legacy1'], 'not published');
  const rpm = await packRpm(await fixtureSpec(path.join(work, 'rpm-src'), { version: '6.1.1-1', krel: '6.1.1-1', extras: false }), path.join(work, 'rpms'));
  const yumBadKey = await lxl(['yum', 'add', repo, rpm, '--key', noSuchKey], { allowFail: true });
  assert.equal(yumBadKey.code, 1);
  assert.match(yumBadKey.stderr, /no-such\.secret\.asc.*\[E_/);
  await assert.rejects(stat(path.join(repo, 'state/yum/stable/catalogue.json')), { code: 'ENOENT' });

  await writeFile(path.join(repo, 'state/apt/lock'), '12345\n');
  const locked = await lxl(['apt', 'publish', repo, '--key', secret], { allowFail: true });
  assert.equal(locked.code, 1);
  assert.match(locked.stderr, /pid 12345.*\[E_LOCKED\]/);

  const noKey = await lxl(['apt', 'publish', path.join(work, 'repo3')], { allowFail: true });
  assert.notEqual(noKey.code, 0);
  assert.match(noKey.stderr, /--key/);
});

test('publish options given to add or remove without --key are refused before anything changes (apt and yum)', async () => {
  const repo = path.join(work, 'repo-publish-flags');
  const rpm = await packRpm(await fixtureSpec(path.join(work, 'rpm-flags-src'), { version: '6.1.2-1', krel: '6.1.2-1', extras: false }), path.join(work, 'rpms-flags'));
  const tail = (publish: string, pronoun: string, verb: string): string =>
    ` without --key: ${verb}, and nothing is published or saved without --key; give --key to publish right after the change, or pass ${pronoun} to \`${publish}\` [E_CONFIG]\n`;
  // Before: `yum add --profile el5` took the flag and dropped it, so the next plain publish made sha256 repodata.
  const yum = await lxl(['yum', 'add', repo, rpm, '--profile', 'el5', '--retention', '2'], { allowFail: true });
  assert.equal(yum.code, 1);
  assert.equal(yum.stderr, `lxl: cannot use --profile, --retention${tail('lxl yum publish', 'them', 'they are publish options')}`);
  await assert.rejects(stat(path.join(repo, 'state/yum/stable/catalogue.json')), { code: 'ENOENT' });
  const apt = await lxl(['apt', 'add', repo, v1, '--xz-level', '1'], { allowFail: true });
  assert.equal(apt.code, 1);
  assert.equal(apt.stderr, `lxl: cannot use --xz-level${tail('lxl apt publish', 'it', 'it is a publish option')}`);
  await assert.rejects(stat(path.join(repo, 'state/apt/catalog.json')), { code: 'ENOENT' });
  // Options that are not publish options still work without --key; removing refuses them the same way.
  await lxl(['apt', 'add', repo, v1, '--suite', 'testing']);
  const remove = await lxl(['apt', 'remove', repo, 'linux-xen-legacy', '--suite', 'testing', '--grace-hours', '0'], { allowFail: true });
  assert.equal(remove.code, 1);
  assert.equal(remove.stderr, `lxl: cannot use --grace-hours${tail('lxl apt publish', 'it', 'it is a publish option')}`);
  assert.equal((await lxl(['apt', 'list', repo])).stdout, 'testing|main|all: linux-xen-legacy 6.1.192+1~legacy1\n');
  // With --key they are taken (and saved by the publish).
  await lxl(['yum', 'add', repo, rpm, '--key', secret, '--profile', 'modern', '--retention', '2']);
  assert.match(await readFile(path.join(repo, 'public/yum/stable/repodata/repomd.xml'), 'utf8'), /<checksum type="sha256">/);
});
