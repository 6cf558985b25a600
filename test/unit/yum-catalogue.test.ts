// JsonYumCatalogue's two files: catalogue.json lists each package by its
// ENTRY_FIELDS and where its whole record is; the records file holds the
// whole records, appended, and is compacted once dead lines outweigh live
// ones. Checked here: what each file holds, that an add appends one line and
// leaves the rest of the file as it was, that a publish which must encode
// reads the whole records back (the same documents as a catalogue holding them
// inline), compaction, a torn tail, a damaged record (a clear error, nothing
// lost), and an older catalogue.json with whole records inline.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { StorageError } from '../../repo-layout/errors.js';
import { JsonYumCatalogue } from '../../repo-layout/yum/yum-catalogue.js';
import { ENTRY_FIELDS, isWholeRecord, type YumPackage } from '../../repo-layout/yum/yum-package.js';
import { addRpms, publishYum, removePackages, type YumRepoContext } from '../../repo-layout/yum/yum-repo.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { missingTools } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { testKey } from '../support/test-key.js';
import { fixtureSpec, packRpm } from '../e2e/rpm-fixture.js';

const skip = missingTools('xz');
const DATE = Date.UTC(2025, 0, 1);

function ctxFor(dir: string, opts: { compactMinDead?: number } = {}): YumRepoContext & { catalogue: JsonYumCatalogue } {
  return {
    storage: new FsStorage({ root: path.join(dir, 'public') }),
    catalogue: new JsonYumCatalogue({ dir: path.join(dir, 'state'), ...opts }),
    name: 'stable',
    now: () => new Date(DATE),
  };
}

let n = 0;
async function rpm(dir: string, version: string, name?: string): Promise<string> {
  const spec = await fixtureSpec(path.join(dir, `src-${n++}`), { version, name, krel: version, extras: false });
  return packRpm(spec, path.join(dir, 'rpms'));
}

const stateDir = (dir: string): string => path.join(dir, 'state');
const recordsFiles = async (dir: string): Promise<string[]> => (await readdir(stateDir(dir))).filter((f) => f.startsWith('records.'));
const catalogueJson = async (dir: string): Promise<Record<string, any>> => JSON.parse(await readFile(path.join(stateDir(dir), 'catalogue.json'), 'utf8'));

/** The three documents the repo serves, decompressed, by type. */
async function docs(dir: string): Promise<Record<string, string>> {
  const root = path.join(dir, 'public/yum/stable');
  const repomd = await readFile(path.join(root, 'repodata/repomd.xml'), 'utf8');
  const out: Record<string, string> = {};
  for (const [, type, href] of repomd.matchAll(/<data type="(\w+)">[\s\S]*?<location href="([^"]+)"/g)) out[type] = gunzipSync(await readFile(path.join(root, href))).toString('utf8');
  return out;
}

/** Makes the next publish encode every package: the documents it would copy from are gone. */
async function dropServedDocs(dir: string): Promise<void> {
  const root = path.join(dir, 'public/yum/stable/repodata');
  for (const f of await readdir(root)) if (f.endsWith('.xml.gz')) await rm(path.join(root, f));
}

test('catalogue.json lists entries, the records file holds whole records; an add appends one line and leaves the rest as it was', { skip }, async () => {
  const dir = await tempDir();
  const ctx = ctxFor(dir);
  const { signer } = await testKey({});
  await addRpms(ctx, [await rpm(dir, '6.1.1-1'), await rpm(dir, '6.1.2-1'), await rpm(dir, '1.0-1', 'lxl-tools')]);
  const [records] = await recordsFiles(dir);
  const cat = await catalogueJson(dir);
  assert.equal(cat.records, records);
  assert.equal(cat.packages.length, 3);
  for (const e of cat.packages) assert.deepEqual(Object.keys(e).sort(), [...ENTRY_FIELDS, 'at'].sort(), 'an entry holds ENTRY_FIELDS and its place');
  const file = path.join(stateDir(dir), records);
  const before = await readFile(file);
  for (const e of cat.packages) {
    const line = before.subarray(e.at[0], e.at[0] + e.at[1]).toString('utf8');
    assert.ok(line.endsWith('\n'));
    const rec = JSON.parse(line) as YumPackage;
    assert.equal(rec.href, e.href);
    assert.ok(rec.files.length > 0 && rec.provides.length > 0, 'the line is the whole record');
    assert.equal(rec.serial, undefined, 'the serial lives in catalogue.json only');
  }

  await addRpms(ctx, [await rpm(dir, '6.1.3-1')]);
  const after = await readFile(file);
  assert.equal((await catalogueJson(dir)).records, records, 'the same records file');
  assert.ok(after.subarray(0, before.length).equals(before), 'earlier records are untouched');
  assert.equal(after.subarray(before.length).toString('utf8').split('\n').filter(Boolean).length, 1, 'one line appended');

  // A fresh catalogue instance gives the whole records back, the same as the records just added.
  const fresh = new JsonYumCatalogue({ dir: stateDir(dir) });
  const state = await fresh.read();
  assert.ok(state.packages.every((p) => !isWholeRecord(p)), 'read gives entries, not whole records');
  const whole = await fresh.records(state.packages);
  assert.deepEqual(whole.map((p) => p.href), state.packages.map((p) => p.href));
  for (const [i, p] of whole.entries()) {
    assert.ok(isWholeRecord(p));
    assert.equal(p.serial, state.packages[i].serial);
  }
  await publishYum(ctx, { signer });
  assert.match((await docs(dir)).primary, /packages="4"/);
});

test('a publish that must encode (served documents gone) reads the whole records and writes the documents a catalogue with inline records gives', { skip }, async () => {
  const dir = await tempDir();
  const { signer } = await testKey({});
  const files = [await rpm(dir, '6.1.1-1'), await rpm(dir, '6.1.2-1'), await rpm(dir, '1.0-1', 'lxl-tools')];
  // The reference: all in one process, every record whole in memory.
  const ref = ctxFor(path.join(dir, 'ref'));
  await addRpms(ref, files);
  const expected = await publishYum(ref, { signer });
  const refDocs = await docs(path.join(dir, 'ref'));

  const ctx = ctxFor(path.join(dir, 'repo'));
  await addRpms(ctx, files);
  await publishYum(ctxFor(path.join(dir, 'repo')), { signer });
  await dropServedDocs(path.join(dir, 'repo'));
  const r = await publishYum(ctxFor(path.join(dir, 'repo')), { signer });
  assert.equal(r.reused, 0, 'nothing to copy from');
  assert.equal(r.repomd.replace(/<revision>\d+</, ''), expected.repomd.replace(/<revision>\d+</, ''));
  assert.deepEqual(await docs(path.join(dir, 'repo')), refDocs);
});

test('once dead lines outweigh live ones, the live records move to a new file and the old one goes; a torn tail is skipped', { skip }, async () => {
  const dir = await tempDir();
  const ctx = ctxFor(dir, { compactMinDead: 0 });
  const { signer } = await testKey({});
  await addRpms(ctx, [await rpm(dir, '6.1.1-1'), await rpm(dir, '6.1.2-1'), await rpm(dir, '1.0-1', 'lxl-tools')]);
  const [first] = await recordsFiles(dir);
  // A crash after an append and before the rename of catalogue.json leaves a tail no entry names.
  await appendFile(path.join(stateDir(dir), first), '{"href":"Packages/t/torn');
  await addRpms(ctx, [await rpm(dir, '6.1.3-1')]);
  assert.deepEqual(await recordsFiles(dir), [first], 'the torn tail is dead but few: appended after it');
  await publishYum(ctx, { signer });
  const full = await docs(dir);

  await removePackages(ctx, 'kernel-xen-legacy');
  const [second] = await recordsFiles(dir);
  assert.notEqual(second, first, 'compacted into a new file');
  assert.deepEqual(await recordsFiles(dir), [second], 'the old file is deleted');
  const lines = (await readFile(path.join(stateDir(dir), second), 'utf8')).split('\n').filter(Boolean);
  assert.deepEqual(lines.map((l) => JSON.parse(l).name), ['lxl-tools'], 'only the live record');

  await dropServedDocs(dir);
  await publishYum(ctxFor(dir), { signer });
  const left = await docs(dir);
  assert.match(left.primary, /packages="1"/);
  // lxl-tools' element is the one it had among four packages.
  const tools = (doc: string): string[] => doc.split('</package>\n').filter((e) => e.includes('lxl-tools')).map((e) => e.slice(e.indexOf('<package ')));
  for (const t of ['primary', 'filelists', 'other']) {
    assert.equal(tools(left[t]).length, 1, t);
    assert.deepEqual(tools(left[t]), tools(full[t]), t);
  }
});

test('records with multi-byte text keep their byte places through a new file, an append and a compaction', { skip }, async () => {
  const dir = await tempDir();
  const ctx = ctxFor(dir, { compactMinDead: 0 });
  const wide = async (version: string, name?: string): Promise<string> => {
    const spec = await fixtureSpec(path.join(dir, `src-${n++}`), { version, name, krel: version, extras: false });
    // Two- to four-byte UTF-8 characters: a place counted in characters instead of bytes would cut the next line.
    Object.assign(spec, { summary: `Kernel für Xen-Gäste ${version} — ✓`, description: `Ünïcödé 𝔵𝔢𝔫 ${version}\nzweite Zeile ✓` });
    return packRpm(spec, path.join(dir, 'rpms'));
  };
  const whole = async (): Promise<YumPackage[]> => {
    const fresh = new JsonYumCatalogue({ dir: stateDir(dir) });
    return fresh.records((await fresh.read()).packages);
  };
  await addRpms(ctx, [await wide('6.1.1-1'), await wide('1.0-1', 'lxl-tools')]);
  assert.deepEqual((await whole()).map((p) => p.summary), ['Kernel für Xen-Gäste 6.1.1-1 — ✓', 'Kernel für Xen-Gäste 1.0-1 — ✓']);
  const [first] = await recordsFiles(dir);
  await addRpms(ctx, [await wide('6.1.2-1')]);
  assert.deepEqual(await recordsFiles(dir), [first], 'appended to the same file');
  assert.deepEqual((await whole()).map((p) => p.description.split('\n')[0]), ['Ünïcödé 𝔵𝔢𝔫 6.1.1-1', 'Ünïcödé 𝔵𝔢𝔫 1.0-1', 'Ünïcödé 𝔵𝔢𝔫 6.1.2-1']);
  // Dead bytes that outweigh the live ones (a torn tail, as a crash leaves): the next add moves the live records, as
  // read, and the new one, as text, into a new file.
  await appendFile(path.join(stateDir(dir), first), 'x'.repeat(64 << 10));
  await addRpms(ctx, [await wide('6.1.4-1')]);
  const [second] = await recordsFiles(dir);
  assert.notEqual(second, first, 'compacted into a new file');
  assert.deepEqual((await whole()).map((p) => `${p.version}-${p.release} ${p.summary}`), [
    '6.1.1-1 Kernel für Xen-Gäste 6.1.1-1 — ✓',
    '1.0-1 Kernel für Xen-Gäste 1.0-1 — ✓',
    '6.1.2-1 Kernel für Xen-Gäste 6.1.2-1 — ✓',
    '6.1.4-1 Kernel für Xen-Gäste 6.1.4-1 — ✓',
  ]);
  // And a removal that compacts (its dead lines outweigh the live one) copies the kept line as it was.
  await removePackages(ctx, 'kernel-xen-legacy');
  assert.deepEqual((await whole()).map((p) => `${p.name} ${p.summary}`), ['lxl-tools Kernel für Xen-Gäste 1.0-1 — ✓']);
});

test('a damaged record is an error naming the records file and the package; the catalogue and the served repo stay as they were', { skip }, async () => {
  const dir = await tempDir();
  const ctx = ctxFor(dir);
  const { signer } = await testKey({});
  await addRpms(ctx, [await rpm(dir, '6.1.1-1'), await rpm(dir, '6.1.2-1')]);
  await publishYum(ctx, { signer });
  const [records] = await recordsFiles(dir);
  const file = path.join(stateDir(dir), records);
  const cat = await readFile(path.join(stateDir(dir), 'catalogue.json'));
  // The second record's bytes become another record's: same length, other package.
  const bytes = await readFile(file);
  const [a, b] = (JSON.parse(cat.toString('utf8')).packages as Array<{ at: [number, number] }>).map((e) => e.at);
  const damaged = Buffer.from(bytes);
  damaged.fill(0x20, b[0], b[0] + b[1] - 1);
  bytes.copy(damaged, b[0], a[0], a[0] + Math.min(a[1], b[1]) - 1);
  await writeFile(file, damaged);
  await dropServedDocs(dir);
  const repomd = await readFile(path.join(dir, 'public/yum/stable/repodata/repomd.xml'), 'utf8');
  await assert.rejects(publishYum(ctxFor(dir), { signer }), (err: Error) => {
    assert.ok(err instanceof StorageError, String(err));
    assert.match(err.message, new RegExp(`cannot read yum package records .*${records.replace(/\./g, '\\.')}`));
    assert.match(err.message, /kernel-xen-legacy-6\.1\.2-1/);
    return true;
  });
  assert.ok((await readFile(path.join(stateDir(dir), 'catalogue.json'))).equals(cat), 'catalogue.json unchanged');
  assert.equal(await readFile(path.join(dir, 'public/yum/stable/repodata/repomd.xml'), 'utf8'), repomd, 'nothing published');
  // catalogue.json names its records file inside the folder, never elsewhere.
  await writeFile(path.join(stateDir(dir), 'catalogue.json'), JSON.stringify({ ...JSON.parse(cat.toString('utf8')), records: '../../elsewhere.jsonl' }));
  await assert.rejects(new JsonYumCatalogue({ dir: stateDir(dir) }).read(), (err: Error) => err instanceof StorageError && /records file name "\.\.\/\.\.\/elsewhere\.jsonl"/.test(err.message));
});

test('a catalogue.json with whole records inline (lxl before session 17) is read, published from, and rewritten as entries plus records', { skip }, async () => {
  const dir = await tempDir();
  const ctx = ctxFor(dir);
  const { signer } = await testKey({});
  await addRpms(ctx, [await rpm(dir, '6.1.1-1'), await rpm(dir, '1.0-1', 'lxl-tools')]);
  await publishYum(ctx, { signer });
  const expected = await docs(dir);
  // Rewrite the catalogue as the older lxl kept it: the whole records inline, no records file.
  const old = new JsonYumCatalogue({ dir: stateDir(dir) });
  const state = await old.read();
  const whole = await old.records(state.packages);
  const { records: _r, ...rest } = state;
  await writeFile(path.join(stateDir(dir), 'catalogue.json'), JSON.stringify({ ...rest, packages: whole }));
  for (const f of await recordsFiles(dir)) await rm(path.join(stateDir(dir), f));

  await dropServedDocs(dir);
  await publishYum(ctxFor(dir), { signer });
  assert.deepEqual(await docs(dir), expected, 'the same documents');
  const cat = await catalogueJson(dir);
  assert.ok(cat.records && (await recordsFiles(dir)).includes(cat.records), 'now with a records file');
  for (const e of cat.packages) assert.deepEqual(Object.keys(e).sort(), [...ENTRY_FIELDS, 'at'].sort());
  await dropServedDocs(dir);
  await publishYum(ctxFor(dir), { signer });
  assert.deepEqual(await docs(dir), expected, 'and again from the records file');
});
