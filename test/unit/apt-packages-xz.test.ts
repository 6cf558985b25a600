// Packages.xz in content-defined blocks: the real xz decodes every file to the
// Packages text; a small suite is exactly `xz -6`'s output (dictionary cut to a block); an incremental
// publish recompresses only the changed block and writes the same bytes as a
// full rebuild; a damaged cache entry is caught and never reaches a client;
// XZ_OPT in the environment changes nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { compressBuffer } from '../../repo-layout/compress.js';
import { FsXzBlockCache, packagesBlocks, packagesXz, packagesXzFilter, type XzBlockCache } from '../../repo-layout/apt/packages-xz.js';
import { blockCheck, crc64, parseXzStream, xzStreamFromBlocks } from '../../repo-layout/xz-container.js';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

/** A Packages-like stanza of about 600 bytes (digests make most of it incompressible, as in real indices). */
function stanza(n: number): string {
  const h = (a: string) => createHash(a).update(String(n)).digest('hex');
  const name = `pkg-${String(n).padStart(5, '0')}`;
  return [
    `Package: ${name}`,
    'Architecture: all',
    `Version: 1.${n % 7}-1`,
    'Maintainer: lxl tests <lxl-tests@example.invalid>',
    `Filename: pool/main/p/${name}/${name}_1.${n % 7}-1_all.deb`,
    `Size: ${800 + (n % 97)}`,
    `MD5sum: ${h('md5')}`,
    `SHA1: ${h('sha1')}`,
    `SHA256: ${h('sha256')}`,
    `SHA512: ${h('sha512')}`,
    `Description: test package ${name}`,
    ' It holds one small text file.',
    '',
  ].join('\n');
}

const SMALL = { minBlock: 4096, maxBlock: 16384, divisor: 8 };

/** What the real xz decodes the file to (after `xz -t` passes); the texts here are ASCII. */
async function xzDecode(bytes: Buffer, dir: string): Promise<string> {
  const f = path.join(dir, `t-${createHash('sha1').update(bytes).digest('hex')}.xz`);
  await writeFile(f, bytes);
  await run('xz', ['-t', f]);
  return (await run('xz', ['-dc', f])).stdout;
}

test('blocks are cut at stanza boundaries, join back to the Packages text and respect the size bounds', () => {
  const stanzas = Array.from({ length: 400 }, (_, i) => stanza(i));
  const blocks = packagesBlocks(stanzas, SMALL);
  assert.equal(blocks.join(''), stanzas.join('\n'));
  assert.ok(blocks.length > 10, `${blocks.length} blocks`);
  for (const b of blocks.slice(0, -1)) {
    assert.ok(b.length >= SMALL.minBlock && b.length <= SMALL.maxBlock + 700, `block of ${b.length} bytes`);
    assert.ok(b.endsWith('\n\n') && b.startsWith('Package: '), 'a block holds whole stanzas');
  }
  assert.deepEqual(packagesBlocks([], SMALL), []);
  // Content-defined: one stanza added in the middle changes one block (or splits it in two), never the rest.
  const more = [...stanzas.slice(0, 200), stanza(100_000), ...stanzas.slice(200)];
  const after = packagesBlocks(more, SMALL);
  const changed = after.filter((b) => !blocks.includes(b));
  assert.ok(changed.length >= 1 && changed.length <= 2, `${changed.length} blocks changed`);
});

test('a suite smaller than one block is byte-identical to xz -6 (with a block-sized dictionary) of the text; an empty suite too', async () => {
  const stanzas = Array.from({ length: 20 }, (_, i) => stanza(i));
  const text = stanzas.join('\n');
  const out = await packagesXz(stanzas);
  assert.equal(parseXzStream(out.bytes).blocks.length, 1);
  assert.equal(packagesXzFilter(6, 256 * 1024), 'preset=6,dict=262144');
  assert.ok(out.bytes.equals(await compressBuffer('xz', text, { xzFilter: 'preset=6,dict=256KiB' })));
  assert.ok((await packagesXz([])).bytes.equals(await compressBuffer('xz', Buffer.alloc(0), { xzFilter: 'preset=6,dict=256KiB' })));
  // The dictionary is never bigger than the preset's own, nor smaller than xz's minimum.
  assert.equal(packagesXzFilter(0, 1 << 20), 'preset=0,dict=262144');
  assert.equal(packagesXzFilter(9, 100), 'preset=9,dict=4096');
  assert.throws(() => packagesXzFilter(10, 1 << 20), /preset 10/);
});

test('the real xz decodes a many-block Packages.xz to the Packages text', { skip: missingTools('xz') }, async () => {
  const dir = await tempDir();
  const stanzas = Array.from({ length: 400 }, (_, i) => stanza(i));
  const out = await packagesXz(stanzas, SMALL);
  const blocks = parseXzStream(out.bytes).blocks;
  assert.ok(blocks.length > 10, `${blocks.length} blocks`);
  assert.deepEqual(await xzDecode(out.bytes, dir), stanzas.join('\n'));
  // The container round-trips: our index and footer are the ones xz writes.
  assert.ok(xzStreamFromBlocks(blocks).equals(out.bytes));
});

test('an incremental publish compresses only the changed block and writes the same bytes as a full rebuild', { skip: missingTools('xz') }, async () => {
  const dir = await tempDir();
  const cache = new FsXzBlockCache(path.join(dir, 'cache'));
  const stanzas = Array.from({ length: 400 }, (_, i) => stanza(i));
  const first = await packagesXz(stanzas, { ...SMALL, cache });
  assert.equal(first.reused, 0);
  assert.equal((await readdir(path.join(dir, 'cache'))).length, new Set(first.keys).size);
  // The same set again: everything from the cache.
  const again = await packagesXz(stanzas, { ...SMALL, cache });
  assert.equal(again.reused, first.keys.length);
  assert.ok(again.bytes.equals(first.bytes));
  // One package more: all blocks but one or two come from the cache; a rebuild without any cache gives the same bytes.
  const more = [...stanzas.slice(0, 123), stanza(100_000), ...stanzas.slice(123)];
  const inc = await packagesXz(more, { ...SMALL, cache });
  assert.ok(inc.reused >= inc.keys.length - 2 && inc.reused > 0, `reused ${inc.reused} of ${inc.keys.length}`);
  const full = await packagesXz(more, SMALL);
  assert.ok(inc.bytes.equals(full.bytes), 'incremental and full Packages.xz differ');
  assert.deepEqual(await xzDecode(inc.bytes, dir), more.join('\n'));
  // Another xz level is another cache key: nothing reused, and the bytes are that level's.
  const fast = await packagesXz(more, { ...SMALL, cache, level: 1 });
  assert.equal(fast.reused, 0);
  assert.ok(fast.bytes.equals((await packagesXz(more, { ...SMALL, level: 1 })).bytes));
  // retain keeps exactly the named blocks.
  await cache.retain(new Set(inc.keys));
  assert.deepEqual((await readdir(path.join(dir, 'cache'))).sort(), [...new Set(inc.keys)].sort());
});

test('a damaged or lying cache entry is caught: the file is compressed afresh and still decodes to the text', { skip: missingTools('xz') }, async () => {
  const dir = await tempDir();
  const cache = new FsXzBlockCache(path.join(dir, 'cache'));
  const stanzas = Array.from({ length: 200 }, (_, i) => stanza(i));
  const good = await packagesXz(stanzas, { ...SMALL, cache });
  // Flip a byte inside one cached block's compressed data.
  const victim = path.join(dir, 'cache', good.keys[1]);
  const buf = await readFile(victim);
  buf[16 + 40] ^= 0xff;
  await writeFile(victim, buf);
  // A later publish (a new process: a new cache instance; the first keeps what it wrote in memory) reads the files.
  const later = new FsXzBlockCache(path.join(dir, 'cache'));
  const out = await packagesXz(stanzas, { ...SMALL, cache: later });
  assert.equal(out.reused, good.keys.length - 1);
  assert.ok(out.bytes.equals(good.bytes));
  assert.deepEqual(await xzDecode(out.bytes, dir), stanzas.join('\n'));
  // The bad entry was replaced: the next run reuses everything again.
  assert.equal((await packagesXz(stanzas, { ...SMALL, cache: new FsXzBlockCache(path.join(dir, 'cache')) })).reused, good.keys.length);
  // The instance that wrote the blocks answers from memory: it reuses them all without their files.
  await rm(path.join(dir, 'cache'), { recursive: true });
  assert.equal((await packagesXz(stanzas, { ...SMALL, cache })).reused, good.keys.length);
  assert.equal((await packagesXz(stanzas, { ...SMALL, cache: new FsXzBlockCache(path.join(dir, 'cache')) })).reused, 0);
  // A cache that answers with the block of another text of the same size (a wrong mapping) is caught the same way.
  const a = stanzas.slice(0, 7);
  const b = a.map((x, i) => (i === 3 ? x.replace('small text file', 'small text File') : x));
  assert.equal(a.join('\n').length, b.join('\n').length);
  const aBlock = parseXzStream((await packagesXz(a)).bytes).blocks[0];
  const liar: XzBlockCache = { get: async () => aBlock, put: async () => {}, retain: async () => {} };
  const lied = await packagesXz(b, { cache: liar });
  assert.equal(lied.reused, 0);
  assert.equal(await xzDecode(lied.bytes, dir), b.join('\n'));
  // Even a block this process made (known good for its own text, so not checked again under that key) is checked under another key.
  const memo = new FsXzBlockCache(path.join(dir, 'memo'));
  const made = await packagesXz(a, { cache: memo });
  const mine = (await memo.get(made.keys[0]))!;
  assert.equal((await packagesXz(a, { cache: memo })).reused, 1, 'the same text reuses it');
  const lied2 = await packagesXz(b, { cache: { get: async () => mine, put: async () => {}, retain: async () => {} } });
  assert.equal(lied2.reused, 0);
  assert.equal(await xzDecode(lied2.bytes, dir), b.join('\n'));
});

test('in one run, blocks missing from the cache and cached blocks that fail their check are both compressed afresh, each in its place', { skip: missingTools('xz') }, async () => {
  const dir = await tempDir();
  const store = new FsXzBlockCache(path.join(dir, 'cache'));
  const stanzas = Array.from({ length: 400 }, (_, i) => stanza(i));
  const good = await packagesXz(stanzas, { ...SMALL, cache: store });
  const keys = good.keys;
  assert.ok(keys.length >= 4);
  // One block absent from the cache, another handed back with its stored CRC64 flipped: both are compressed again.
  const absent = keys[1];
  const damaged = keys[keys.length - 2];
  const tampered: XzBlockCache = {
    get: async (k) => {
      if (k === absent) return undefined;
      const b = await store.get(k);
      if (k !== damaged || !b) return b;
      const bytes = Buffer.from(b.bytes);
      bytes[bytes.length - 1] ^= 0x01;
      return { ...b, bytes };
    },
    put: async () => {},
    retain: async () => {},
  };
  const out = await packagesXz(stanzas, { ...SMALL, cache: tampered });
  assert.equal(out.reused, keys.length - 2);
  assert.ok(out.bytes.equals(good.bytes), 'the recompressed blocks are not where they belong');
  assert.deepEqual(await xzDecode(out.bytes, dir), stanzas.join('\n'));
});

test('XZ_OPT and XZ_DEFAULTS in the environment do not change Packages.xz', { skip: missingTools('xz') }, async () => {
  const stanzas = Array.from({ length: 120 }, (_, i) => stanza(i));
  const plain = await packagesXz(stanzas, SMALL);
  const saved = { opt: process.env.XZ_OPT, def: process.env.XZ_DEFAULTS };
  process.env.XZ_OPT = '-9e -T1';
  process.env.XZ_DEFAULTS = '--check=crc32';
  try {
    assert.ok((await packagesXz(stanzas, SMALL)).bytes.equals(plain.bytes));
  } finally {
    for (const [k, v] of [['XZ_OPT', saved.opt], ['XZ_DEFAULTS', saved.def]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('crc64 equals the CRC64 xz stores in a block, for every tail length and an unaligned view', { skip: missingTools('xz') }, async () => {
  const data = Buffer.concat([randomBytes(70_001), Buffer.from('Package: x\n'.repeat(3000))]);
  const lengths = [...Array.from({ length: 20 }, (_, i) => i), 1000, 4097, data.length - 1];
  for (const n of lengths) {
    // A view that starts at an odd offset of a bigger buffer, as a block text cut from a Packages buffer is.
    const text = data.subarray(1, 1 + n);
    const { blocks } = parseXzStream(await compressBuffer('xz', text, { level: 0 }));
    const want = blocks.length ? blockCheck(blocks[0]) : crc64(Buffer.alloc(0));
    assert.ok(crc64(text).equals(want), `${n} bytes: ${crc64(text).toString('hex')} vs xz ${want.toString('hex')}`);
  }
  assert.equal(crc64(Buffer.from('123456789')).toString('hex'), Buffer.from('995dc9bbdf1939fa', 'hex').reverse().toString('hex'), 'the CRC-64/XZ check value');
});
