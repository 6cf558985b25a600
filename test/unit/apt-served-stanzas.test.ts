// Stanzas taken back from the served Packages files (served-stanzas.ts): a
// publish in a new process reuses them, and its indices are byte for byte
// those of a full rebuild; a served file the last publish did not write, a
// stanza formatted by another lxl (also behind a publish of some suites
// only), and a stanza that names another .deb are not reused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { FsStorage } from '../../storage/fs-storage.js';
import { JsonAptCatalog } from '../../repo-layout/apt/apt-catalog.js';
import { addDebs } from '../../repo-layout/apt/apt-changes.js';
import { rememberStanza } from '../../repo-layout/apt/apt-index.js';
import { stanzaFormat } from '../../repo-layout/apt/apt-packages.js';
import { publishApt } from '../../repo-layout/apt/apt-publish.js';
import { reuseServedStanzas, stanzasByFilename } from '../../repo-layout/apt/served-stanzas.js';
import { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { makeDeb, REPO_FIXTURES } from '../support/apt-debs.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const DATE = new Date('2026-01-02T03:04:05Z');
const work = await tempDir('lxl-apt-served-');
const signer = await OpenPgpSigner.fromArmored((await testKey({})).key.secretArmored, { now: () => DATE });
await mkdir(path.join(work, 'debs'));
const debs = await Promise.all(REPO_FIXTURES.map((f) => makeDeb(path.join(work, 'debs'), f)));

/** A repo under `work/<name>`; `catalog()` is a new instance each time, as a new process would have. */
function repo(name: string) {
  const root = path.join(work, name);
  const storage = new FsStorage({ root: path.join(root, 'public') });
  const catalog = () => new JsonAptCatalog({ stateDir: path.join(root, 'state') });
  const publish = (c: JsonAptCatalog) => publishApt({ storage, catalog: c, signer, origin: 'lxl-test', label: 'lxl test', date: DATE });
  const packages = (arch: string) => path.join(root, 'public', 'apt', 'dists', 'stable', 'main', `binary-${arch}`, 'Packages');
  return { root, storage, catalog, publish, packages };
}

/** The plain index files (not by-hash, not signatures) of a repo, by path. */
async function indices(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const dists = path.join(root, 'public', 'apt', 'dists');
  for (const e of await readdir(dists, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (e.isFile() && !p.includes('/by-hash/') && !/(InRelease|Release\.gpg)$/.test(p)) out.set(path.relative(dists, p), await readFile(p));
  }
  return out;
}

const full = repo('full');
{
  const c = full.catalog();
  await addDebs({ storage: full.storage, catalog: c, suite: 'stable', files: debs });
  await full.publish(c);
}

/** Publishes debs[0..5) with one catalogue instance (as one process), the state a later process finds. */
async function published(name: string) {
  const r = repo(name);
  const c = r.catalog();
  await addDebs({ storage: r.storage, catalog: c, suite: 'stable', files: debs.slice(0, 5) });
  await r.publish(c);
  return r;
}

/** In a new "process": reuse, add the last .deb, publish; the indices must be those of the full rebuild. */
async function addLastAndCompare(r: ReturnType<typeof repo>, c: JsonAptCatalog): Promise<void> {
  await addDebs({ storage: r.storage, catalog: c, suite: 'stable', files: debs.slice(5) });
  await r.publish(c);
  const want = await indices(full.root);
  const got = await indices(r.root);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, v] of want) assert.ok(got.get(k)!.equals(v), `${k} differs from the full rebuild`);
}

test('a new process reuses every served stanza, and its publish equals a full rebuild', async () => {
  const r = await published('reuse');
  assert.equal((await r.catalog().publishState()).stanzaFormat, stanzaFormat(), 'the publish records the stanza format');
  const c = r.catalog();
  assert.equal(await reuseServedStanzas({ storage: r.storage, catalog: c, suites: ['stable'] }), 5);
  // Each record has its stanza already (a second one is not taken).
  for (const rec of await c.list('stable')) assert.equal(rememberStanza(rec, 'x'), false);
  // Without the reuse, a new instance's records have none.
  const bare = r.catalog();
  assert.equal(rememberStanza((await bare.list('stable'))[0], 'x'), true);
  await addLastAndCompare(r, c);
});

test('a served Packages file that is not the one the last publish wrote is not used; the other architecture\'s still is', async () => {
  const r = await published('tampered');
  const file = r.packages('amd64');
  await writeFile(file, (await readFile(file, 'utf8')).replace('Description: ', 'Description: changed '));
  const c = r.catalog();
  // The amd64-only packages (two) get no stanza; the `all` ones come from the i386 file.
  assert.equal(await reuseServedStanzas({ storage: r.storage, catalog: c, suites: ['stable'] }), 3);
  await addLastAndCompare(r, c);
});

test('stanzas formatted by an lxl that formats them otherwise are not reused', async () => {
  const r = await published('other-format');
  const c0 = r.catalog();
  await c0.setPublishState({ ...(await c0.publishState()), stanzaFormat: 'another lxl' });
  const c = r.catalog();
  assert.equal(await reuseServedStanzas({ storage: r.storage, catalog: c, suites: ['stable'] }), 0);
  await addLastAndCompare(r, c);
});

test('a publish of some suites records the stanza format only if the other suites\' files were written with it too', async () => {
  const r = repo('partial');
  const c0 = r.catalog();
  await addDebs({ storage: r.storage, catalog: c0, suite: 'stable', files: debs.slice(0, 3) });
  await addDebs({ storage: r.storage, catalog: c0, suite: 'testing', files: debs.slice(3) });
  await r.publish(c0);
  // As if an lxl formatting stanzas otherwise had written them; then this one publishes testing alone.
  await c0.setPublishState({ ...(await c0.publishState()), stanzaFormat: 'another lxl' });
  await publishApt({ storage: r.storage, catalog: r.catalog(), signer, origin: 'lxl-test', label: 'lxl test', date: DATE, suites: ['testing'] });
  assert.equal((await r.catalog().publishState()).stanzaFormat, undefined, 'stable\'s files are the other formatter\'s');
  assert.equal(await reuseServedStanzas({ storage: r.storage, catalog: r.catalog(), suites: ['stable', 'testing'] }), 0);
  // A publish of testing alone once the format is known keeps it; a publish of every suite records it again.
  await r.publish(r.catalog());
  assert.equal((await r.catalog().publishState()).stanzaFormat, stanzaFormat());
  await publishApt({ storage: r.storage, catalog: r.catalog(), signer, origin: 'lxl-test', label: 'lxl test', date: DATE, suites: ['testing'] });
  assert.equal((await r.catalog().publishState()).stanzaFormat, stanzaFormat());
  assert.equal(await reuseServedStanzas({ storage: r.storage, catalog: r.catalog(), suites: ['stable', 'testing'] }), 6);
});

test('a stanza that names another .deb (its SHA256) is not reused, even from a file the state vouches for', async () => {
  const r = await published('other-deb');
  const file = r.packages('i386');
  const text = await readFile(file, 'utf8');
  const c0 = r.catalog();
  const i386 = (await c0.list('stable')).find((x) => x.arch === 'i386')!;
  const lying = text.replace(`SHA256: ${i386.sha256}\n`, `SHA256: ${'0'.repeat(64)}\n`);
  assert.notEqual(lying, text);
  await writeFile(file, lying);
  // The state lists the changed file's digest as if a publish had written it.
  const state = await c0.publishState();
  const digest = createHash('sha256').update(lying).digest('hex');
  await c0.setPublishState({ ...state, referenced: [...state.referenced, `apt/dists/stable/main/binary-i386/by-hash/SHA256/${digest}`] });
  const c = r.catalog();
  assert.equal(await reuseServedStanzas({ storage: r.storage, catalog: c, suites: ['stable'] }), 4);
  await addLastAndCompare(r, c);
});

test('stanzasByFilename splits a Packages text at its blank lines and keys each stanza by its Filename', () => {
  const a = 'Package: a\nVersion: 1\nFilename: pool/main/a/a/a_1_all.deb\nSize: 1\nDescription: x\n y\n';
  const b = 'Package: b\nFilename: pool/main/b/b/b_2_all.deb\nSHA256: 00\n';
  const noFile = 'Package: c\nVersion: 3\n';
  const m = stanzasByFilename([a, noFile, b].join('\n'), new Map());
  assert.deepEqual([...m], [
    ['pool/main/a/a/a_1_all.deb', a],
    ['pool/main/b/b/b_2_all.deb', b],
  ]);
  assert.equal(stanzasByFilename('', new Map()).size, 0);
});
