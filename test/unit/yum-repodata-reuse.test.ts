// Incremental repodata (repo-layout/yum/repodata-reuse.ts): a publish copies
// the elements of unchanged packages from the served documents, and the
// documents are byte for byte those a full encode gives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressParts } from '../../repo-layout/compress.js';
import { indexElements, REPODATA_ENCODER, repodataElements, type RepodataRecord, type ServedRepodata } from '../../repo-layout/yum/repodata-reuse.js';
import { JsonYumCatalogue } from '../../repo-layout/yum/yum-catalogue.js';
import type { YumPackage } from '../../repo-layout/yum/yum-package.js';
import { publishYum, removePackages, updateYum, type YumRepoContext } from '../../repo-layout/yum/yum-repo.js';
import { filelistsPackage, otherPackage, primaryPackage, REPODATA_TYPES, repodataXml, repodataXmlParts, type ChecksumType, type ElementBytes, type RepodataType } from '../../repo-layout/yum/yum-xml.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { smallRpm } from '../e2e/rpm-fixture.js';
import { tempDir } from '../support/tmp.js';
import { testKey } from '../support/test-key.js';

const hex = (s: string, algo: 'sha1' | 'sha256'): string => createHash(algo).update(s).digest('hex');

/** A catalogue record with text that needs escaping, files of each kind, versioned and pre deps, and a changelog. */
function record(name: string, serial: number | undefined, over: Partial<YumPackage> = {}): YumPackage {
  return {
    href: `Packages/${name[0]}/${name}-1.0-1.x86_64.rpm`,
    name,
    arch: 'x86_64',
    epoch: 0,
    version: '1.0',
    release: '1',
    sha256: hex(name, 'sha256'),
    sha1: hex(name, 'sha1'),
    summary: `${name} & friends`,
    description: 'Text with </package>\n and <package type="rpm">\n inside, escaped.',
    packager: 'lxl tests <lxl-tests@example.invalid>',
    url: 'https://example.invalid/?a=1&b=2',
    license: 'MIT',
    vendor: '',
    group: 'System',
    buildhost: 'build',
    sourcerpm: `${name}-1.0-1.src.rpm`,
    fileTime: 1_700_000_000,
    buildTime: 1_699_999_999,
    packageSize: 1234,
    installedSize: 5678,
    archiveSize: 6000,
    headerStart: 4504,
    headerEnd: 5600,
    provides: [{ name, flags: 'EQ', epoch: '0', ver: '1.0', rel: '1' }],
    requires: [{ name: '/bin/sh', pre: true }, { name: 'libc.so.6()(64bit)' }],
    conflicts: [],
    obsoletes: [{ name: `${name}-old`, flags: 'LT', epoch: '0', ver: '1.0' }],
    files: [{ path: `/usr/bin/${name}` }, { path: `/usr/share/${name}`, type: 'dir' }, { path: `/var/log/${name}.log`, type: 'ghost' }],
    changelog: [{ author: 'A <a@example.invalid> - 1.0-1', date: 1_699_000_000, text: '- first <release>' }],
    fileDigestAlgo: 8,
    payloadCompressor: 'gzip',
    serial,
    ...over,
  };
}

/** The served documents and the catalogue's record of a publish of `pkgs` at add count `serial`. */
function published(pkgs: YumPackage[], t: ChecksumType, serial: number): { served: ServedRepodata; record: RepodataRecord } {
  const files = REPODATA_TYPES.map((type) => ({ type, href: `repodata/${type}-${serial}.xml.gz`, checksum: `${type}${serial}`, bytes: repodataXml(type, pkgs, t) }));
  return { served: { files }, record: { encoder: REPODATA_ENCODER, checksumType: t, serial, files: files.map(({ type, href, checksum }) => ({ type, href, checksum })) } };
}

test('documents built from the elements of earlier ones are byte for byte a full encode; only packages of that publish are copied', () => {
  for (const t of ['sha256', 'sha1'] as const) {
    const [a, b, c] = [record('alpha', 1), record('beta', 2), record('gamma', undefined)];
    const { served, record: rec } = published([a, b, c], t, 2);
    const elements = repodataElements(served, rec, t);
    assert.ok(elements);
    // delta is new; beta was removed and added again (a new serial, and here another file time): encoded afresh.
    const delta = record('delta', 3);
    const beta2 = { ...b, serial: 4, fileTime: b.fileTime + 60 };
    const now = [a, beta2, delta, c];
    for (const type of REPODATA_TYPES) {
      const copied: string[] = [];
      const reuse = (p: YumPackage): ElementBytes | undefined => {
        const e = elements.get(type, p);
        if (e) copied.push(p.name);
        return e;
      };
      assert.deepEqual(repodataXml(type, now, t, reuse), repodataXml(type, now, t), `${type} (${t}) equals a full encode`);
      assert.deepEqual(copied, ['alpha', 'gamma'], `${type} (${t}) copies the unchanged packages only`);
      // Each copied element is the very text a full encode gives it.
      const e = elements.get(type, a)!;
      const alone = repodataXml(type, [a], t).toString('utf8');
      assert.ok(alone.includes(e.bytes.subarray(e.start, e.end).toString('utf8')));
    }
  }
});

test('a big document, made into bytes a piece at a time with copied runs between the pieces, is its head, every element in order and its tail; its pieces gzip to gzip of the whole', async () => {
  // Enough packages for each document to span several of repodataXml's 64 KiB text pieces; some text is not ASCII.
  const pkgs = Array.from({ length: 400 }, (_, i) => record(`pkg${String(i).padStart(4, '0')}`, i + 1, i % 7 === 0 ? { summary: `naïve ½ résumé ${i}` } : {}));
  const encode = { primary: primaryPackage, filelists: filelistsPackage, other: otherPackage };
  for (const type of REPODATA_TYPES) {
    const doc = repodataXml(type, pkgs, 'sha256');
    const elements = pkgs.map((p) => Buffer.from(encode[type](p, 'sha256'), 'utf8'));
    const body = Buffer.concat(elements);
    assert.ok(body.length > 100_000, `${type}: ${body.length} bytes is too few to span pieces`);
    const at = doc.indexOf(body);
    assert.ok(at > 0, `${type}: the elements are not all there, in order`);
    assert.match(doc.subarray(0, at).toString('utf8'), /^<\?xml version="1.0" encoding="UTF-8"\?>\n<\w+ [^>]* packages="400">\n$/);
    assert.match(doc.subarray(at + body.length).toString('utf8'), /^<\/\w+>\n$/);
    // Every third element copied from the document itself, the others encoded: the same bytes.
    let end = at;
    const starts = elements.map((e) => (end += e.length) - e.length);
    const index = new Map(pkgs.map((p, i) => [p, i]));
    const copy = (p: YumPackage): ElementBytes | undefined => {
      const i = index.get(p)!;
      return i % 3 === 0 ? { bytes: doc, start: starts[i], end: starts[i] + elements[i].length } : undefined;
    };
    assert.ok(repodataXml(type, pkgs, 'sha256', copy).equals(doc), `${type}: copying changed the bytes`);
    // What a publish gzips and hashes: the pieces, which are the document's bytes (copied runs as views), and their
    // gzip is the document's, byte for byte.
    const parts = repodataXmlParts(type, pkgs, 'sha256', copy);
    assert.ok(parts.length > 3, `${type}: ${parts.length} pieces`);
    assert.ok(parts.some((x) => x.buffer === doc.buffer), `${type}: copied runs are views of the earlier document`);
    assert.ok(Buffer.concat(parts).equals(doc), `${type}: the pieces are the document`);
    assert.ok((await compressParts('gzip', parts, { level: 6 })).equals(gzipSync(doc, { level: 6 })), `${type}: gzip of the pieces is gzip of the document`);
  }
});

test('the served documents are used only when the catalogue says this encoder wrote them, with these names and checksums', () => {
  const pkgs = [record('alpha', 1), record('beta', 2)];
  const { served, record: rec } = published(pkgs, 'sha256', 2);
  assert.ok(repodataElements(served, rec, 'sha256'));
  assert.equal(repodataElements(undefined, rec, 'sha256'), undefined, 'nothing served');
  assert.equal(repodataElements(served, undefined, 'sha256'), undefined, 'no record (a catalogue older than reuse)');
  assert.equal(repodataElements(served, { ...rec, encoder: REPODATA_ENCODER + 1 }, 'sha256'), undefined, 'another encoder version');
  assert.equal(repodataElements(served, rec, 'sha1'), undefined, 'another checksum type (a profile change)');
  const other = { ...rec, files: rec.files.map((f, i) => (i === 1 ? { ...f, checksum: 'changed' } : f)) };
  assert.equal(repodataElements(served, other, 'sha256'), undefined, 'a served document that is not the one recorded');
  assert.equal(repodataElements(served, { ...rec, files: rec.files.slice(1) }, 'sha256'), undefined, 'a document missing from the record');
});

test('indexElements finds every element by pkgid and drops a pkgid seen twice', () => {
  const pkgs = [record('alpha', 1), record('beta', 2)];
  for (const type of REPODATA_TYPES) {
    const doc = repodataXml(type, pkgs, 'sha256');
    const at = indexElements(type, doc);
    assert.deepEqual([...at.keys()], pkgs.map((p) => p.sha256), type);
    for (const p of pkgs) {
      const [s, e] = at.get(p.sha256)!;
      assert.equal(doc.subarray(s, e).toString('utf8'), repodataXml(type, [p], 'sha256').toString('utf8').match(/<package [\s\S]*<\/package>\n/)![0]);
    }
    const twice = indexElements(type, repodataXml(type, [pkgs[0], pkgs[1], { ...pkgs[0], version: '2.0' }], 'sha256'));
    assert.deepEqual([...twice.keys()], [pkgs[1].sha256], `${type}: a duplicated pkgid is never reused`);
  }
});

test('the elements of a rich record match test/golden/yum/elements-v<REPODATA_ENCODER>.xml (a change needs a new encoder version)', async () => {
  // Elements copied from documents of an earlier encoder would differ from a full encode: any change to what an
  // element holds must bump REPODATA_ENCODER (repo-layout/yum/repodata-reuse.ts), which names a new golden file.
  // UPDATE_GOLDEN=1 writes the file of a new version, never over an existing one.
  const rich = record('ünïcode-pkg', 1, { epoch: 2, requires: [{ name: 'a', flags: 'GE', epoch: '1', ver: '2', rel: '3', pre: true }, { name: 'b & c' }] });
  const text = (['sha256', 'sha1'] as const)
    .flatMap((t) => REPODATA_TYPES.map((type) => `<!-- ${type}, ${t} -->\n${repodataXml(type, [rich], t).toString('utf8').match(/<package [\s\S]*<\/package>\n/)![0]}`))
    .join('');
  const file = fileURLToPath(new URL(`../golden/yum/elements-v${REPODATA_ENCODER}.xml`, import.meta.url));
  const want = await readFile(file, 'utf8').catch(() => undefined);
  if (want === undefined && process.env.UPDATE_GOLDEN === '1') {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    return;
  }
  assert.ok(want !== undefined, `missing ${file} (UPDATE_GOLDEN=1 writes it)`);
  assert.equal(text, want, `the elements changed: bump REPODATA_ENCODER, then UPDATE_GOLDEN=1 writes elements-v${REPODATA_ENCODER + 1}.xml`);
});

test('publishes copy the unchanged packages from the served documents and write what a full publish of the same catalogue writes', async () => {
  const dir = await tempDir();
  const src = path.join(dir, 'src');
  await mkdir(src, { recursive: true });
  const rpms: Record<string, string> = {};
  for (const n of ['alpha', 'beta', 'gamma', 'delta', 'epsilon']) rpms[n] = await smallRpm(src, n);
  const { signer } = await testKey();
  const ctxFor = (sub: string): YumRepoContext => ({
    storage: new FsStorage({ root: path.join(dir, sub, 'public') }),
    catalogue: new JsonYumCatalogue({ dir: path.join(dir, sub, 'state') }),
    name: 'stable',
  });
  const docs = async (sub: string): Promise<Record<RepodataType, string>> => {
    const base = path.join(dir, sub, 'public/yum/stable');
    const repomd = await readFile(path.join(base, 'repodata/repomd.xml'), 'utf8');
    const out = {} as Record<RepodataType, string>;
    for (const type of REPODATA_TYPES) out[type] = gunzipSync(await readFile(path.join(base, new RegExp(`<data type="${type}">[\\s\\S]*?<location href="([^"]+)"`).exec(repomd)![1]))).toString('utf8');
    return out;
  };
  /** The documents a fresh repo publishes for these rpms in one update. */
  const full = async (names: string[]): Promise<Record<RepodataType, string>> => {
    const sub = `full-${names.join('-')}`;
    await updateYum(ctxFor(sub), { add: names.map((n) => rpms[n]), publish: { signer } });
    return docs(sub);
  };
  const ctx = ctxFor('repo');
  const first = await updateYum(ctx, { add: [rpms.alpha, rpms.beta], publish: { signer } });
  assert.equal(first.published?.reused, 0, 'nothing to copy in a new repo');
  // One more package: alpha and beta come from the served documents, 2 packages x 3 documents.
  const second = await updateYum(ctx, { add: [rpms.gamma], publish: { signer } });
  assert.equal(second.published?.reused, 6);
  assert.deepEqual(await docs('repo'), await full(['alpha', 'beta', 'gamma']));

  // A served document whose bytes are no longer those published (the catalogue knows their checksum): nothing copied.
  const served = path.join(dir, 'repo/public/yum/stable');
  const repomd = await readFile(path.join(served, 'repodata/repomd.xml'), 'utf8');
  const filelists = /<data type="filelists">[\s\S]*?<location href="([^"]+)"/.exec(repomd)![1];
  const text = gunzipSync(await readFile(path.join(served, filelists)));
  await writeFile(path.join(served, filelists), gzipSync(Buffer.concat([text, Buffer.from(' ')])));
  const third = await updateYum(ctx, { add: [rpms.delta], publish: { signer } });
  assert.equal(third.published?.reused, 0, 'a changed document is not used');
  assert.deepEqual(await docs('repo'), await full(['alpha', 'beta', 'gamma', 'delta']));

  // beta removed and added again before the next publish: its record is new (it gets a new serial), so it is encoded.
  await removePackages(ctx, 'beta');
  const again = await updateYum(ctx, { add: [rpms.beta, rpms.epsilon], publish: { signer } });
  assert.equal(again.published?.reused, 9, 'alpha, gamma and delta copied; beta and epsilon encoded');
  assert.deepEqual(await docs('repo'), await full(['alpha', 'beta', 'gamma', 'delta', 'epsilon']));

  // A catalogue from before reuse (no serials, no record) publishes in full, then copies again.
  const catalogue = path.join(dir, 'repo/state/catalogue.json');
  const state = JSON.parse(await readFile(catalogue, 'utf8')) as Record<string, unknown> & { packages: YumPackage[] };
  delete state.serial;
  delete state.repodata;
  for (const p of state.packages) delete p.serial;
  await writeFile(catalogue, JSON.stringify(state));
  assert.equal((await publishYum(ctx, { signer })).reused, 0);
  assert.equal((await publishYum(ctx, { signer })).reused, 15);
  assert.deepEqual(await docs('repo'), await full(['alpha', 'beta', 'gamma', 'delta', 'epsilon']));
});
