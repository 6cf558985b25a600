// The APT repo logic without clients: Packages stanzas against the real
// apt-ftparchive, incremental == full rebuild, immutability, retention,
// by-hash grace/GC, and the DESIGN.md §5 write order with cache headers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FsStorage } from '../../storage/fs-storage.js';
import { LinkThread } from '../../storage/link-thread.js';
import { CACHE_IMMUTABLE, CACHE_INDEX, type PublishedStorage, type PutItem, type PutOptions } from '../../storage/storage.js';
import { JsonAptCatalog } from '../../repo-layout/apt/apt-catalog.js';
import { addDebs, removePackages } from '../../repo-layout/apt/apt-changes.js';
import { readDebRecord } from '../../repo-layout/apt/apt-ingest.js';
import { publishApt, type AptPublishOptions } from '../../repo-layout/apt/apt-publish.js';
import { FsXzBlockCache, type XzBlockCache } from '../../repo-layout/apt/packages-xz.js';
import { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { parseXzStream, type XzBlock } from '../../repo-layout/xz-container.js';
import { parseDeb822 } from '../../repo-layout/deb822.js';
import { inspectDeb } from '../../repo-layout/deb/deb-reader.js';
import { makeDeb, REPO_FIXTURES } from '../support/apt-debs.js';
import { missingTools, run } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { oneAtATime } from '../support/one-at-a-time.js';
import { tempDir } from '../support/tmp.js';

const DATE = new Date('2026-01-02T03:04:05Z');
const work = await tempDir('lxl-apt-unit-');
const debDir = path.join(work, 'debs');
await mkdir(debDir);
// The signer's clock is pinned to DATE too: tests compare InRelease bytes of publishes made at different moments, and
// a signature carries its creation second (two publishes a second boundary apart would differ in that alone).
const signer = await OpenPgpSigner.fromArmored((await testKey({})).key.secretArmored, { now: () => DATE });

const debs = await Promise.all(REPO_FIXTURES.map((f) => makeDeb(debDir, f)));

test('a big linking add (read and linked side by side, on the link thread) stores nothing when a .deb midway is refused or unreadable, then takes the batch whole', async () => {
  const dir = path.join(work, 'many-debs');
  await mkdir(dir, { recursive: true });
  const many: string[] = [];
  for (let i = 0; i < 150; i += 25) many.push(...(await Promise.all(Array.from({ length: 25 }, (_, j) => makeDeb(dir, { name: `many-${String(i + j).padStart(3, '0')}`, version: '1.0-1', arch: 'all' })))));
  const root = path.join(work, 'many-linked');
  const storage = new FsStorage({ root: path.join(root, 'public') });
  const catalog = new JsonAptCatalog({ stateDir: path.join(root, 'state') });
  const pool = async (): Promise<string[]> => (await listFiles(path.join(root, 'public'))).filter((f) => f.endsWith('.deb'));
  const jobs = LinkThread.jobsRun;
  // A .deb with the name, version and arch of an earlier one in the batch but other bytes (the 120th): refused.
  const clash = await makeDeb(dir, { name: 'many-010', version: '1.0-1', arch: 'all', salt: 'other' });
  await assert.rejects(addDebs({ storage, catalog, suite: 'stable', files: [...many.slice(0, 119), clash, ...many.slice(119)], link: true }), (err: Error & { code?: string }) => err.code === 'E_CONFLICT');
  assert.ok(LinkThread.jobsRun > jobs, 'the batch went to the link thread');
  assert.deepEqual(await pool(), [], 'a refused .deb stores nothing');
  // A truncated .deb midway: the reader's FormatError, and nothing stored.
  const cut = path.join(work, 'many-cut.deb');
  await writeFile(cut, (await readFile(many[0])).subarray(0, 100));
  await assert.rejects(addDebs({ storage, catalog, suite: 'stable', files: [...many.slice(0, 100), cut, ...many.slice(100)], link: true }), (err: Error & { code?: string }) => err.code === 'E_FORMAT' && err.message.includes(cut));
  assert.deepEqual(await pool(), []);
  assert.deepEqual(await catalog.suites(), [], 'nothing recorded');
  const added = await addDebs({ storage, catalog, suite: 'stable', files: many, link: true });
  assert.equal(added.length, 150);
  for (const [i, { record }] of added.entries()) assert.equal((await stat(path.join(root, 'public', 'apt', record.filename))).ino, (await stat(many[i])).ino);
});

/** A storage that records every write (key, kind, cache header) in order; with `batch`, it offers putMany (as FsStorage does), else only single puts (as a minimal backend). */
class RecordingStorage implements PublishedStorage {
  readonly writes: Array<{ key: string; cacheControl?: string; op: 'put' | 'putIfAbsent' | 'delete' }> = [];
  putMany?: (items: PutItem[]) => Promise<void>;
  constructor(
    private readonly inner: FsStorage,
    batch = true,
  ) {
    if (batch) {
      this.putMany = (items) => {
        for (const it of items) this.writes.push({ key: it.key, cacheControl: it.opts?.cacheControl, op: 'put' });
        return this.inner.putMany(items);
      };
    }
  }
  put(key: string, body: Readable | Uint8Array | string, opts?: PutOptions) {
    this.writes.push({ key, cacheControl: opts?.cacheControl, op: 'put' });
    return this.inner.put(key, body, opts);
  }
  putIfAbsent(key: string, body: Uint8Array | string, opts?: PutOptions) {
    this.writes.push({ key, cacheControl: opts?.cacheControl, op: 'putIfAbsent' });
    return this.inner.putIfAbsent(key, body, opts);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  getBytes(key: string) {
    return this.inner.getBytes(key);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  delete(key: string) {
    this.writes.push({ key, op: 'delete' });
    return this.inner.delete(key);
  }
}

async function newRepo(name: string, opts: { batch?: boolean } = {}) {
  const root = path.join(work, name);
  const fs = new FsStorage({ root: path.join(root, 'public') });
  const storage = new RecordingStorage(fs, opts.batch ?? true);
  const catalog = new JsonAptCatalog({ stateDir: path.join(root, 'state') });
  const publish = (extra: Partial<AptPublishOptions> = {}) =>
    publishApt({ storage, catalog, signer, origin: 'lxl-test', label: 'lxl test', date: DATE, graceMs: 3_600_000, ...extra });
  return { root, public: path.join(root, 'public'), storage, catalog, publish };
}

/** The files of a suite a client reads without by-hash. */
const SERVED = ['Release', 'Release.gpg', 'InRelease', 'main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-amd64/Packages.xz', 'main/binary-i386/Packages'];

/** A repo with the first three debs published, a reader of its SERVED files, and what they held then. */
async function publishedOnce(name: string) {
  const r = await newRepo(name);
  await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: debs.slice(0, 3) });
  await r.publish();
  const read = () => Promise.all(SERVED.map((f) => readFile(path.join(r.public, 'apt/dists/stable', f))));
  return { r, read, before: await read() };
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, p)));
    else out.push(p);
  }
  return out.sort();
}

test('inOneWrite: an add, a retention prune and a publish write the catalogue once, at the end, the same as step by step; a failure still writes what the completed steps changed', async () => {
  const stepwise = await newRepo('one-write-stepwise');
  await addDebs({ storage: stepwise.storage, catalog: stepwise.catalog, suite: 'stable', files: debs.slice(0, 5) });
  await stepwise.publish({ retention: 1 });
  const held = await newRepo('one-write-held');
  const file = held.catalog.file;
  await held.catalog.inOneWrite(async () => {
    await addDebs({ storage: held.storage, catalog: held.catalog, suite: 'stable', files: debs.slice(0, 5) });
    await assert.rejects(stat(file), { code: 'ENOENT' }, 'nothing is written before the end');
    const report = await held.publish({ retention: 1 });
    assert.ok(report.pruned.length > 0, 'retention removed records (a catalogue write)');
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), JSON.parse(await readFile(stepwise.catalog.file, 'utf8')));
  assert.deepEqual(await readFile(path.join(held.public, 'apt/dists/stable/InRelease')), await readFile(path.join(stepwise.public, 'apt/dists/stable/InRelease')));

  // A failure inside: the completed add is written (as a separate add would have been), then the error comes out.
  const before = (await stat(file)).ino;
  await assert.rejects(
    held.catalog.inOneWrite(async () => {
      await addDebs({ storage: held.storage, catalog: held.catalog, suite: 'testing', files: [debs[0]] });
      throw new Error('publish failed');
    }),
    /publish failed/,
  );
  assert.notEqual((await stat(file)).ino, before, 'written again');
  assert.deepEqual((await new JsonAptCatalog({ stateDir: path.join(held.root, 'state') }).list('testing')).map((r) => r.name), [REPO_FIXTURES[0].name]);
  await assert.rejects(held.catalog.inOneWrite(() => held.catalog.inOneWrite(async () => {})), /does not nest/);
});

test('each Packages lists the architecture\'s own packages, then the Architecture: all ones; both files end in the same xz blocks, compressed once', async () => {
  const r = await newRepo('all-last');
  await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: debs });
  const compressed: number[] = [];
  const cache: XzBlockCache = { get: async () => undefined, put: async (_k, b) => void compressed.push(b.uncompressedSize), retain: async () => {} };
  await r.publish({ xzBlockCache: cache });
  const tails: Buffer[] = [];
  for (const arch of ['amd64', 'i386']) {
    const dir = path.join(r.public, `apt/dists/stable/main/binary-${arch}`);
    const arches = parseDeb822(await readFile(path.join(dir, 'Packages'), 'utf8')).map((p) => p.get('Architecture'));
    assert.deepEqual(arches, [...arches.filter((a) => a !== 'all'), ...arches.filter((a) => a === 'all')], `binary-${arch}: own packages first`);
    assert.ok(arches.includes(arch) && arches.includes('all'));
    const { blocks } = parseXzStream(await readFile(path.join(dir, 'Packages.xz')));
    assert.equal(blocks.length, 2, 'a block per run (small fixtures)');
    tails.push(Buffer.from(blocks[1].bytes));
  }
  assert.deepEqual(tails[0], tails[1], 'the all run is the same block in both');
  assert.equal(compressed.length, 3, 'amd64, i386 and the shared all block, each compressed once');
});

test('readDebRecord reads the same control text as inspectDeb and dpkg-deb', { skip: missingTools('dpkg-deb') }, async () => {
  for (const f of debs) {
    const rec = await readDebRecord(f);
    const info = await inspectDeb(f);
    assert.equal(rec.control.trimEnd(), info.controlText.trimEnd());
    const dpkg = await run('dpkg-deb', ['-f', f, 'Package', 'Version', 'Architecture']);
    assert.equal(dpkg.stdout, `Package: ${rec.name}\nVersion: ${rec.version}\nArchitecture: ${rec.arch}\n`);
  }
});

test('Packages files equal what apt-ftparchive writes for the same pool', { skip: missingTools('apt-ftparchive') }, async () => {
  const r = await newRepo('ftparchive');
  await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: debs });
  await r.publish();
  for (const arch of ['amd64', 'i386']) {
    const ours = await readFile(path.join(r.public, `apt/dists/stable/main/binary-${arch}/Packages`), 'utf8');
    const theirs = (await run('apt-ftparchive', ['--arch', arch, 'packages', 'pool'], { cwd: path.join(r.public, 'apt') })).stdout;
    // apt-ftparchive lists in directory-walk order; compare stanza by stanza after sorting.
    const split = (t: string) => t.split(/\n\n/).map((s) => s.trim()).filter(Boolean).sort();
    assert.deepEqual(split(ours), split(theirs), `binary-${arch}/Packages differs from apt-ftparchive`);
    const expectCount = REPO_FIXTURES.filter((f) => f.arch === 'all' || (arch === 'amd64' ? f.arch === 'x86_64' : f.arch === 'i386')).length;
    assert.equal(parseDeb822(ours).length, expectCount);
  }
});

test('adding one package at a time (and removing) gives byte-identical indices to a full rebuild; publish never reads pool files', async () => {
  const inc = await newRepo('incremental');
  for (const f of debs) {
    await addDebs({ storage: inc.storage, catalog: inc.catalog, suite: 'stable', files: [f] });
    await inc.publish();
    // Corrupt the stored copy: later publishes must not read it (the catalogue keeps its metadata).
    const rec = await readDebRecord(f);
    await writeFile(path.join(inc.public, 'apt', rec.filename), 'not read again');
  }
  await removePackages(inc.catalog, 'stable', [{ name: 'linux-xen-legacy', version: '6.1.190' }]);
  await inc.publish();

  const full = await newRepo('full');
  await addDebs({ storage: full.storage, catalog: full.catalog, suite: 'stable', files: debs.filter((_, i) => REPO_FIXTURES[i].version !== '6.1.190') });
  await full.publish();

  const plain = (files: string[]) => files.filter((f) => f.startsWith('apt/dists/') && !f.includes('/by-hash/') && !/InRelease$|Release\.gpg$/.test(f));
  const incFiles = plain(await listFiles(inc.public));
  assert.deepEqual(incFiles, plain(await listFiles(full.public)));
  assert.ok(incFiles.includes('apt/dists/stable/Release'));
  for (const f of incFiles) assert.deepEqual(await readFile(path.join(inc.public, f)), await readFile(path.join(full.public, f)), f);
  // The current by-hash files of the full rebuild are all in the incremental tree too.
  const fullByHash = (await listFiles(full.public)).filter((f) => f.includes('/by-hash/'));
  const incByHash = new Set((await listFiles(inc.public)).filter((f) => f.includes('/by-hash/')));
  assert.ok(fullByHash.length > 0);
  for (const f of fullByHash) assert.ok(incByHash.has(f), `missing ${f}`);
});

test('re-adding an identical .deb is a no-op; another file with the same name, version and arch is refused', async () => {
  const r = await newRepo('immutable');
  const first = await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: [debs[0]] });
  assert.equal(first[0].outcome, 'added');
  const catalogBefore = await readFile(r.catalog.file);
  r.storage.writes.length = 0;
  const again = await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: [debs[0]] });
  assert.equal(again[0].outcome, 'unchanged');
  assert.deepEqual(r.storage.writes, [], 'an identical re-add must write nothing');
  assert.deepEqual(await readFile(r.catalog.file), catalogBefore);

  const otherDir = path.join(work, 'other-build');
  await mkdir(otherDir, { recursive: true });
  const rebuilt = await makeDeb(otherDir, { ...REPO_FIXTURES[0], salt: 'different-bytes' });
  await assert.rejects(addDebs({ storage: r.storage, catalog: r.catalog, suite: 'testing', files: [rebuilt] }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'E_CONFLICT');
    assert.match(err.message, /same name, version and architecture/);
    assert.match(err.message, /6\.1\.192\+1~legacy1/);
    return true;
  });
  assert.deepEqual(r.storage.writes, [], 'a refused add must store nothing');
  assert.deepEqual(await r.catalog.suites(), ['stable']);
});

test('with link, pool files are hard links of the given .debs and the indices equal a copying add; other bytes under a pool name are refused', async () => {
  const copied = await newRepo('copied');
  await addDebs({ storage: copied.storage, catalog: copied.catalog, suite: 'stable', files: debs });
  await copied.publish();
  const root = path.join(work, 'linked');
  const storage = new FsStorage({ root: path.join(root, 'public') });
  const catalog = new JsonAptCatalog({ stateDir: path.join(root, 'state') });
  const added = await addDebs({ storage, catalog, suite: 'stable', files: debs, link: true });
  await publishApt({ storage, catalog, signer, origin: 'lxl-test', label: 'lxl test', date: DATE, graceMs: 3_600_000 });
  for (const [i, { record }] of added.entries()) {
    assert.equal((await stat(path.join(root, 'public', 'apt', record.filename))).ino, (await stat(debs[i])).ino, `${record.filename} is a link of ${debs[i]}`);
  }
  const indices = (await listFiles(copied.public)).filter((f) => f.startsWith('apt/dists/') && !/InRelease$|Release\.gpg$/.test(f));
  assert.deepEqual(indices, (await listFiles(path.join(root, 'public'))).filter((f) => f.startsWith('apt/dists/') && !/InRelease$|Release\.gpg$/.test(f)));
  for (const f of indices) assert.deepEqual(await readFile(path.join(root, 'public', f)), await readFile(path.join(copied.public, f)), f);

  // Re-adding the same files links nothing new; a pool name that holds other bytes (damage, or another tool) is refused.
  const again = await addDebs({ storage, catalog, suite: 'stable', files: debs, link: true });
  assert.deepEqual(again.map((x) => x.outcome), debs.map(() => 'unchanged'));
  const victim = path.join(root, 'public', 'apt', added[0].record.filename);
  await rm(victim);
  await writeFile(victim, 'other bytes');
  const fresh = await newRepo('linked-conflict');
  await assert.rejects(addDebs({ storage: new FsStorage({ root: path.join(root, 'public') }), catalog: fresh.catalog, suite: 'stable', files: [debs[0]], link: true }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'E_CONFLICT');
    assert.match(err.message, /already published with other bytes/);
    return true;
  });
  assert.equal(await readFile(victim, 'utf8'), 'other bytes', 'the refused add left the pool file alone');
  assert.deepEqual(await fresh.catalog.suites(), [], 'and recorded nothing');
  // A copying add checks the pool the same way (one batch check for which files exist, then their bytes).
  await assert.rejects(addDebs({ storage: new FsStorage({ root: path.join(root, 'public') }), catalog: fresh.catalog, suite: 'stable', files: debs }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'E_CONFLICT');
    return true;
  });
  assert.equal(await readFile(victim, 'utf8'), 'other bytes', 'the refused copying add left the pool file alone');
  assert.deepEqual(await fresh.catalog.suites(), [], 'and recorded nothing');
});

test('an add refused because a pool name holds other bytes takes back the pool files it stored (linking, and copying one at a time)', async () => {
  const last = await readDebRecord(debs.at(-1)!);
  for (const mode of ['link', 'copy'] as const) {
    const root = path.join(work, `refused-add-${mode}`);
    // Without putMany the copying add stores each file as it goes, before the clash is found.
    const { storage, puts } = oneAtATime(new FsStorage({ root: path.join(root, 'public') }));
    const catalog = new JsonAptCatalog({ stateDir: path.join(root, 'state') });
    const victim = path.join(root, 'public', 'apt', last.filename);
    await mkdir(path.dirname(victim), { recursive: true });
    await writeFile(victim, 'other bytes');
    await assert.rejects(addDebs({ storage, catalog, suite: 'stable', files: debs, link: mode === 'link' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_CONFLICT', mode);
      assert.match(err.message, new RegExp(`${last.filename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is already published with other bytes`), mode);
      return true;
    });
    if (mode === 'copy') assert.equal(puts(), debs.length - 1, 'the other .debs were stored before the clash was found');
    assert.deepEqual(await listFiles(path.join(root, 'public')), [`apt/${last.filename}`], `${mode}: only the file that was there before is left`);
    assert.equal(await readFile(victim, 'utf8'), 'other bytes', mode);
    assert.deepEqual(await catalog.suites(), [], `${mode}: nothing recorded`);
  }
});

test('addDebs with the publish\'s xz cache prepares Packages.xz and .gz while storing, so the publish compresses nothing and writes the same bytes; a stale or failed preparation is not used', async () => {
  const blocks = { minBlock: 600, maxBlock: 2000, divisor: 2 };
  class CountingCache implements XzBlockCache {
    puts = 0;
    gets = 0;
    constructor(private readonly inner: FsXzBlockCache) {}
    get(key: string) {
      this.gets++;
      return this.inner.get(key);
    }
    put(key: string, block: XzBlock) {
      this.puts++;
      return this.inner.put(key, block);
    }
    retain(keys: ReadonlySet<string>) {
      return this.inner.retain(keys);
    }
  }
  // With the top Release: the digests it lists are those of the files written.
  const indices = [...['Packages.xz', 'Packages.gz'].flatMap((f) => ['amd64', 'i386'].map((a) => `apt/dists/stable/main/binary-${a}/${f}`)), 'apt/dists/stable/Release'];
  type Run = { bytes: Buffer[]; addPuts: number; publishPuts: number; publishGets: number };
  /** Adds `first` (warming when asked), then `then` (if any, warming too), then publishes; what each step did to the cache, and the indices. */
  const packagesXzOf = async (name: string, opts: { warm: boolean; first: string[]; then?: string[]; breakWarm?: boolean }): Promise<Run> => {
    const r = await newRepo(name);
    const cache = new CountingCache(new FsXzBlockCache(path.join(r.root, 'state', 'apt', 'xz-blocks')));
    const xz = opts.warm ? { cache, blocks } : undefined;
    const path0 = process.env.PATH;
    // No xz on PATH: the add's preparation fails (silently: it only saves time), and the publish must compress itself.
    if (opts.breakWarm) process.env.PATH = path.join(work, 'no-such-bin');
    try {
      await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: opts.first, xz });
    } finally {
      process.env.PATH = path0;
    }
    if (opts.then) await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: opts.then, xz: undefined });
    const addPuts = cache.puts;
    const gets = cache.gets;
    await r.publish({ xzBlockCache: cache, xzBlocks: blocks });
    return { bytes: await Promise.all(indices.map((k) => readFile(path.join(r.public, k)))), addPuts, publishPuts: cache.puts - addPuts, publishGets: cache.gets - gets };
  };
  const same = (a: Run, b: Run) => a.bytes.every((x, i) => x.equals(b.bytes[i]));
  const warm = await packagesXzOf('xz-warm', { warm: true, first: debs });
  const cold = await packagesXzOf('xz-cold', { warm: false, first: debs });
  assert.ok(warm.addPuts >= 2, `blocks compressed during the add: ${warm.addPuts}`);
  assert.equal(warm.publishPuts, 0, 'the publish found every block ready');
  assert.equal(warm.publishGets, 0, 'the publish used the indices the add prepared, without asking the cache');
  assert.equal(cold.addPuts, 0);
  assert.equal(cold.publishPuts, warm.addPuts, 'without warming, the publish compresses the same blocks');
  assert.ok(same(warm, cold), 'the same Packages.xz and Packages.gz either way');
  // The catalogue changed after the preparation (another add without warming): the prepared indices do not match.
  const stale = await packagesXzOf('xz-stale', { warm: true, first: debs.slice(0, 3), then: debs.slice(3) });
  assert.ok(stale.publishGets > 0, 'the publish built its own indices');
  assert.ok(same(stale, cold), 'and wrote what a cold publish of the same set writes');
  const failed = await packagesXzOf('xz-failed', { warm: true, first: debs, breakWarm: true });
  assert.equal(failed.addPuts, 0, 'the preparation failed');
  assert.equal(failed.publishPuts, cold.publishPuts, 'the publish compressed every block again');
  assert.ok(same(failed, cold));
});

test('a publish whose signer fails leaves every file a client reads without by-hash as it was', async () => {
  const { r, read, before } = await publishedOnce('signer-fails');
  await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: debs.slice(3) });
  const broken = Object.create(signer) as typeof signer;
  broken.clearsign = async () => {
    throw new Error('the signing service is down');
  };
  await assert.rejects(r.publish({ signer: broken }), /the signing service is down/);
  const after = await read();
  SERVED.forEach((f, i) => assert.ok(after[i].equals(before[i]), `${f} changed although the publish failed`));
  // The next publish with a working signer lists every package.
  await r.publish();
  const names = parseDeb822(await readFile(path.join(r.public, 'apt/dists/stable/main/binary-amd64/Packages'), 'utf8')).map((p) => p.get('Package'));
  assert.ok(names.length > parseDeb822(before[3].toString('utf8')).length, 'the later adds are published');
});

test('a publish refuses a catalogue entry whose new pool file is missing, and names it; poolFilesPresent skips the check for the files it names, and only for those', async () => {
  const r = await newRepo('pool-missing');
  const added = await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: debs.slice(0, 3) });
  const [lost, kept] = added.map((x) => x.record.filename);
  await rm(path.join(r.public, 'apt', lost));
  const refused = (err: Error & { code?: string }) => err.code === 'E_NOT_FOUND' && err.message.includes(`apt/${lost}`) && /add the \.deb again/.test(err.message);
  await assert.rejects(r.publish(), refused);
  await assert.rejects(r.publish({ poolFilesPresent: new Set([kept]) }), refused, 'a file the caller did not name is still checked');
  assert.deepEqual(await readdir(r.public), ['apt'], 'a refused publish writes nothing (no keys/)');
  assert.deepEqual(await readdir(path.join(r.public, 'apt')), ['pool'], 'nor dists/');
  // What addDebs returns is what the caller vouches for: the publish takes its word and does not look.
  await r.publish({ poolFilesPresent: new Set(added.map((x) => x.record.filename)) });
  const names = parseDeb822(await readFile(path.join(r.public, 'apt/dists/stable/main/binary-amd64/Packages'), 'utf8')).map((p) => p.get('Filename'));
  assert.ok(names.includes(lost), 'the named file was not checked');
});

test('a publish given the add\'s pool flush (poolDurable) writes no file a client reads without by-hash before it settles, and none at all if it fails', async () => {
  const { r, read, before } = await publishedOnce('pool-durable');
  let handed: Promise<void> | undefined;
  const added = await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: debs.slice(3), link: true, poolDurability: (d) => (handed = d) });
  assert.ok(handed, 'a linking add hands over its flush');
  await handed;
  for (const { record } of added) assert.ok((await stat(path.join(r.public, 'apt', record.filename))).isFile());
  // A flush that fails: the publish fails, and what a client reads is the old state.
  const failed = Promise.reject(new Error('the flush failed'));
  await assert.rejects(r.publish({ poolDurable: failed }), /the flush failed/);
  (await read()).forEach((b, i) => assert.ok(b.equals(before[i]), `${SERVED[i]} changed although the flush failed`));
  // A flush still going: by-hash copies may be written, no served index changes until it settles.
  let settle!: () => void;
  const pending = new Promise<void>((resolve) => (settle = resolve));
  let heldAtSign = false;
  const published = r.publish({
    poolDurable: pending,
    onStep: (st) => {
      if (st !== 'sign') return;
      setTimeout(() => {
        void read().then((now) => {
          heldAtSign = now.every((b, i) => b.equals(before[i]));
          settle();
        });
      }, 50);
    },
  });
  await published;
  assert.ok(heldAtSign, 'nothing a client reads changed while the flush was going');
  const names = parseDeb822(await readFile(path.join(r.public, 'apt/dists/stable/main/binary-amd64/Packages'), 'utf8')).map((p) => p.get('Package'));
  assert.ok(names.length > parseDeb822(before[3].toString('utf8')).length, 'the later adds are published once it settled');
});

test('retention keeps the N newest versions per package name', async () => {
  const r = await newRepo('retention');
  await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: debs });
  const report = await r.publish({ retention: 1 });
  assert.deepEqual(report.pruned.map((p) => `${p.record.name} ${p.record.version}`).sort(), ['linux-xen-legacy 6.1.190', 'linux-xen-legacy 6.1.192+1~legacy1']);
  const pkgs = parseDeb822(await readFile(path.join(r.public, 'apt/dists/stable/main/binary-amd64/Packages'), 'utf8'));
  assert.deepEqual(pkgs.filter((p) => p.get('Package') === 'linux-xen-legacy').map((p) => p.get('Version')), ['6.1.192+1']);
});

test('old by-hash and pool files stay for the grace period, then are deleted', async () => {
  const r = await newRepo('grace');
  const t0 = Date.parse('2026-01-02T04:00:00Z');
  await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: [debs[0], debs[4]] });
  await r.publish({ now: t0 });
  const byHash1 = (await listFiles(r.public)).filter((f) => f.includes('/by-hash/'));
  await removePackages(r.catalog, 'stable', [{ name: 'linux-xen-legacy' }]);
  const rep2 = await r.publish({ now: t0 + 60_000 });
  assert.deepEqual(rep2.deleted, []);
  const files2 = await listFiles(r.public);
  for (const f of byHash1) assert.ok(files2.includes(f), `${f} deleted inside the grace period`);
  const gonePool = 'apt/pool/main/l/linux-xen-legacy/linux-xen-legacy_6.1.192+1_all.deb';
  assert.ok(files2.includes(gonePool));
  // A publish after the grace period (1 h) deletes what has been unreferenced that long.
  const rep3 = await r.publish({ now: t0 + 2 * 3_600_000 });
  const files3 = await listFiles(r.public);
  assert.ok(!files3.includes(gonePool), 'the removed package is still in the pool');
  assert.ok(rep3.deleted.includes(gonePool));
  const release = await readFile(path.join(r.public, 'apt/dists/stable/Release'), 'utf8');
  for (const f of files3.filter((x) => x.includes('/by-hash/'))) {
    // Every by-hash file left is named after a digest the current Release lists.
    assert.ok(release.includes(path.basename(f)), `${f} is left but not referenced`);
  }
  assert.ok(byHash1.some((f) => rep3.deleted.includes(f)), 'the first publish\'s by-hash files were not collected');
  assert.ok(files3.filter((x) => x.includes('/by-hash/')).length < files2.filter((x) => x.includes('/by-hash/')).length);
});

for (const batch of [true, false]) test(`publish writes in the safe order (pool, by-hash, indices, Release+Release.gpg, InRelease) with the right cache headers (${batch ? 'batched putMany' : 'single puts'})`, async () => {
  const r = await newRepo(`order-${batch}`, { batch });
  await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'stable', files: debs.slice(0, 3) });
  await addDebs({ storage: r.storage, catalog: r.catalog, suite: 'testing', files: debs.slice(3) });
  await r.publish({ baseUrl: 'http://repo.example.invalid/lxl' });
  const w = r.storage.writes.filter((x) => x.op !== 'delete');
  const kind = (k: string): number => {
    if (k.startsWith('apt/pool/')) return 1;
    if (k.includes('/by-hash/')) return 2;
    if (/\/(InRelease)$/.test(k)) return 5;
    if (/\/dists\/[^/]+\/(Release|Release\.gpg)$/.test(k)) return 4;
    if (k.startsWith('apt/dists/')) return 3;
    return 0; // keys and sources files: not part of any Release
  };
  const ranks = w.map((x) => kind(x.key)).filter((k) => k > 0);
  assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), `writes out of order:\n${w.map((x) => x.key).join('\n')}`);
  assert.ok(ranks.includes(1) && ranks.includes(2) && ranks.includes(3) && ranks.includes(4) && ranks.includes(5));
  for (const x of w) {
    const want = kind(x.key) === 1 || kind(x.key) === 2 ? CACHE_IMMUTABLE : CACHE_INDEX;
    assert.equal(x.cacheControl, want, x.key);
  }
  const files = await listFiles(r.public);
  for (const f of ['keys/linux-xen-legacy.asc', 'keys/linux-xen-legacy.gpg', 'apt/linux-xen-legacy.sources', 'apt/linux-xen-legacy.list']) assert.ok(files.includes(f), f);
  assert.equal(
    await readFile(path.join(r.public, 'apt/linux-xen-legacy.list'), 'utf8'),
    'deb [signed-by=/etc/apt/keyrings/linux-xen-legacy.gpg] http://repo.example.invalid/lxl/apt stable main\n',
  );
  // Architecture: all is in both binary-amd64 and binary-i386.
  for (const arch of ['amd64', 'i386']) {
    const p = parseDeb822(await readFile(path.join(r.public, `apt/dists/stable/main/binary-${arch}/Packages`), 'utf8'));
    assert.ok(p.some((s) => s.get('Package') === 'linux-xen-legacy' && s.get('Architecture') === 'all'), arch);
  }
});
