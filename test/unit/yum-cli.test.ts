// `lxl yum list` through the real CLI, and a YUM add whose reader closes the
// pipe early (the add and its publish still run to their end).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fixtureSpec, packRpm } from '../e2e/rpm-fixture.js';
import { lxl, run } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const work = await tempDir('lxl-yum-cli-');
const key = await testKey({});
const secret = path.join(key.dir, (await readdir(key.dir)).find((f) => f.endsWith('.secret.asc')) ?? 'missing');
const bin = new URL('../../bin/lxl', import.meta.url).pathname;

/** A small kernel rpm of `version` (each in a folder of its own). */
const kernel = async (version: string): Promise<string> =>
  packRpm(await fixtureSpec(path.join(work, `src-${version}`), { version, krel: version, extras: false }), path.join(work, 'rpms'), { compression: 'gzip' });

test('yum list prints a NEVRA per package in rpm version order (not the order added, nor byte order), or JSON', async () => {
  const repo = path.join(work, 'repo');
  const nope = await lxl(['yum', 'list', repo], { allowFail: true });
  assert.equal(nope.code, 1);
  assert.equal(nope.stderr, `lxl: cannot list ${repo}: it has no YUM repo named stable (${path.resolve(repo)}/state/yum/stable/catalogue.json; nothing was added yet) [E_NOT_FOUND]\n`);
  // rpm's order: 6.1.99 < 6.1.192 (numbers), release 1 < 10; byte order would put 6.1.192-10 before 6.1.99-1.
  const [r10, r99, r1] = [await kernel('6.1.192-10'), await kernel('6.1.99-1'), await kernel('6.1.192-1')];
  await lxl(['yum', 'add', repo, r10, r99, r1]);
  const list = await lxl(['yum', 'list', repo]);
  assert.equal(list.stdout, ['6.1.99-1', '6.1.192-1', '6.1.192-10'].map((v) => `kernel-xen-legacy-0:${v}.x86_64\n`).join(''));
  const rows = JSON.parse((await lxl(['yum', 'list', repo, '--json'])).stdout) as Array<Record<string, unknown>>;
  assert.deepEqual(Object.keys(rows[0]), ['name', 'epoch', 'version', 'release', 'arch', 'href', 'size', 'sha256']);
  assert.deepEqual(
    rows.map((r) => `${String(r.version)}-${String(r.release)}`),
    ['6.1.99-1', '6.1.192-1', '6.1.192-10'],
  );
  assert.equal(rows[0].href, 'Packages/k/kernel-xen-legacy-6.1.99-1.x86_64.rpm');
  assert.equal(rows[0].sha256, createHash('sha256').update(await readFile(r99)).digest('hex'));
  assert.equal(rows[0].size, (await stat(r99)).size);
  const other = await lxl(['yum', 'list', repo, '--name', 'testing'], { allowFail: true });
  assert.equal(other.code, 1);
  assert.match(other.stderr, /^lxl: cannot list \S+: it has no YUM repo named testing .*\[E_NOT_FOUND\]\n$/);
});

test('an add --key whose reader closes the pipe before it prints still adds and publishes, without an EPIPE trace', async () => {
  const repo = path.join(work, 'repo-pipe');
  const rpm = await kernel('6.1.200-1');
  // `true` reads nothing and exits at once; pipefail makes the exit status lxl's.
  const piped = await run('bash', ['-c', 'set -o pipefail; "$0" yum add "$1" "$2" --key "$3" | true', bin, repo, rpm, secret]);
  assert.equal(piped.stderr, '');
  assert.equal((await lxl(['yum', 'list', repo])).stdout, 'kernel-xen-legacy-0:6.1.200-1.x86_64\n');
  assert.match(await readFile(path.join(repo, 'public/yum/stable/repodata/repomd.xml'), 'utf8'), /<data type="primary">/);
  await stat(path.join(repo, 'public/yum/stable/repodata/repomd.xml.asc'));
});
