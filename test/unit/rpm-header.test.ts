// Header encoder/decoder round trips, a golden main header, cpio encoding
// checked by the real cpio reader, and the rpm reader's errors.

import { test } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { FormatError } from '../../repo-layout/errors.js';
import { cpioStream } from '../../repo-layout/rpm/cpio-newc.js';
import { decodeHeader, encodeHeader, encodeLead, decodeLead } from '../../repo-layout/rpm/rpm-header.js';
import { mainHeaderEntries } from '../../repo-layout/rpm/rpm-main-header.js';
import { readRpmFile } from '../../repo-layout/rpm/rpm-reader.js';
import { RpmType, Tag, TAG_HEADERIMMUTABLE } from '../../repo-layout/rpm/rpm-tags.js';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { fixtureSpec, packRpm } from '../e2e/rpm-fixture.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../golden/rpm');

test('encodeHeader/decodeHeader round-trip every type, aligned, with a sealed region', () => {
  const blob = encodeHeader(TAG_HEADERIMMUTABLE, [
    { tag: 1000, type: RpmType.STRING, value: 'name' },
    { tag: 1028, type: RpmType.INT32, value: [1, 0xffffffff] },
    { tag: 1030, type: RpmType.INT16, value: [0o100644, 0o40755] },
    { tag: 1004, type: RpmType.I18NSTRING, value: ['summary'] },
    { tag: 1118, type: RpmType.STRING_ARRAY, value: ['/a/', '/b/'] },
    { tag: 5009, type: RpmType.INT64, value: [2n ** 40n] },
    { tag: 1046, type: RpmType.BIN, value: Buffer.from([1, 2, 3]) },
  ]);
  const t = decodeHeader(blob);
  assert.equal(t.get(1000)?.value, 'name');
  assert.deepEqual(t.get(1028)?.value, [1, 0xffffffff]);
  assert.deepEqual(t.get(1030)?.value, [0o100644, 0o40755]);
  assert.deepEqual(t.get(1004)?.value, ['summary']);
  assert.deepEqual(t.get(1118)?.value, ['/a/', '/b/']);
  assert.deepEqual(t.get(5009)?.value, [2n ** 40n]);
  assert.deepEqual(t.get(1046)?.value, Buffer.from([1, 2, 3]));
  // Region entry first, trailer = last 16 bytes with offset -(16 * nindex).
  const il = blob.readUInt32BE(8);
  assert.equal(blob.readUInt32BE(16), TAG_HEADERIMMUTABLE);
  assert.equal(blob.readInt32BE(blob.length - 8), -16 * il);
  // Numeric data is aligned to its size within the store.
  const store = 16 + il * 16;
  for (let i = 1; i < il; i++) {
    const type = blob.readUInt32BE(16 + i * 16 + 4);
    const off = blob.readUInt32BE(16 + i * 16 + 8);
    const align = type === RpmType.INT16 ? 2 : type === RpmType.INT32 ? 4 : type === RpmType.INT64 ? 8 : 1;
    assert.equal(off % align, 0, `tag ${blob.readUInt32BE(16 + i * 16)} aligned`);
    assert.ok(off < blob.length - store);
  }
  assert.throws(() => encodeHeader(63, [{ tag: 1, type: RpmType.STRING, value: 'a' }, { tag: 1, type: RpmType.STRING, value: 'b' }]), FormatError);
  assert.deepEqual(decodeLead(encodeLead('kernel-1-1')), { name: 'kernel-1-1', type: 0, major: 3 });
});

test('main header of a fixed spec matches the golden file (UPDATE_GOLDEN=1 rewrites)', async () => {
  const dir = await tempDir();
  const spec = await fixtureSpec(dir, { scripts: true, provides: ['installonlypkg(kernel)'], depends: ['kmod (>= 29)', 'dracut | initramfs-tools'] });
  const facts = { fileDigests: spec.files.map((_, i) => `${i}`.padStart(64, '0')), payloadSha256: 'ab'.repeat(32), compressor: 'xz' as const, level: 6 };
  for (const profile of ['modern', 'el5'] as const) {
    const deps = profile === 'el5' ? { ...spec, depends: spec.depends.slice(0, 1) } : spec;
    const blob = encodeHeader(TAG_HEADERIMMUTABLE, mainHeaderEntries(deps, profile === 'el5' ? { ...facts, compressor: 'gzip', level: 9 } : facts, profile));
    // The exact bytes, and a readable dump of the decoded tags to review changes by.
    const hex = `${blob.toString('hex').replace(/(.{64})/g, '$1\n').trim()}\n`;
    const dump = [...decodeHeader(blob).entries()].map(([tag, e]) => `${tag} type=${e.type} count=${e.count} ${JSON.stringify(Buffer.isBuffer(e.value) ? e.value.toString('hex') : e.value, (_, v) => (typeof v === 'bigint' ? String(v) : v))}\n`).join('');
    for (const [ext, text] of [['hex', hex], ['txt', dump]] as const) {
      const file = path.join(GOLDEN, `kernel-main-header-${profile}.${ext}`);
      if (process.env.UPDATE_GOLDEN) {
        await mkdir(GOLDEN, { recursive: true });
        await writeFile(file, text);
      }
      assert.ok(existsSync(file), `missing ${file} (run with UPDATE_GOLDEN=1 to create it)`);
      assert.equal(text, await readFile(file, 'utf8'), `${profile} header differs from ${file}`);
    }
  }
});

test('cpio payload is read back by GNU cpio with the same names, modes and bytes', { skip: missingTools('cpio') }, async () => {
  const dir = await tempDir();
  const members = [
    { name: './boot', ino: 1, mode: 0o40755, nlink: 2, mtime: 1_700_000_000, size: 0 },
    { name: './boot/vmlinuz', ino: 2, mode: 0o100600, nlink: 1, mtime: 1_700_000_000, size: 5, content: Buffer.from('abcde') },
    { name: './boot/link', ino: 3, mode: 0o120777, nlink: 1, mtime: 1_700_000_000, size: 7, content: Buffer.from('vmlinuz') },
  ];
  const digests: string[] = [];
  const bytes = await buffer(Readable.from(cpioStream(members, { digest: 'sha256', digests })));
  assert.equal(bytes.length % 4, 0);
  const list = await run('cpio', ['-itv', '--quiet'], { input: bytes });
  assert.match(list.stdout, /^drwxr-xr-x .* \.\/boot$/m);
  assert.match(list.stdout, /^-rw------- .* 5 .* \.\/boot\/vmlinuz$/m);
  assert.match(list.stdout, /^lrwxrwxrwx .* \.\/boot\/link -> vmlinuz$/m);
  const out = path.join(dir, 'x');
  await mkdir(out);
  await run('cpio', ['-idm', '--quiet'], { input: bytes, cwd: out });
  assert.equal(await readFile(path.join(out, 'boot/vmlinuz'), 'utf8'), 'abcde');
  assert.equal(digests[1], '36bbe50ed96841d10443bcb670d6554f0a34b761be67ec9c4a8ad2c0c44ca42c');
  assert.equal(digests[2], undefined, 'symlinks carry no digest');
});

test('the reader rejects bad magic and truncated files with FormatError', { skip: missingTools('xz') }, async () => {
  const dir = await tempDir();
  const rpm = await packRpm(await fixtureSpec(dir), path.join(dir, 'out'));
  const bytes = await readFile(rpm);
  const info = await readRpmFile(rpm, { verify: true });
  assert.equal(info.name, 'kernel-xen-legacy');
  assert.ok(info.files.some((f) => f.path === '/boot/vmlinuz-6.1.192-xen-legacy'));
  const cases: Array<[string, Buffer, RegExp]> = [
    ['not-rpm', Buffer.from('!<arch>\ndebian-binary   '.padEnd(200, ' ')), /bad magic/],
    ['lead-only', bytes.subarray(0, 96), /truncated/],
    ['half-header', bytes.subarray(0, info.headerStart + 100), /truncated/],
    ['no-payload', bytes.subarray(0, info.headerEnd + 10), /truncated|does not match/],
  ];
  for (const [name, data, re] of cases) {
    const f = path.join(dir, `${name}.rpm`);
    await writeFile(f, data);
    await assert.rejects(readRpmFile(f, { verify: true }), (err: unknown) => err instanceof FormatError && re.test((err as Error).message), name);
  }
  // The digests a read gives, and each check: a flipped byte in the payload, in the header, or in the header's MD5
  // coverage is named.
  const withDigests = await readRpmFile(rpm, { verify: true, digests: ['sha256', 'sha1'] });
  assert.deepEqual(withDigests.fileDigests, { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), sha1: createHash('sha1').update(bytes).digest('hex') });
  const flips: Array<[string, number, RegExp]> = [
    ['payload', bytes.length - 20, /payload digest does not match|MD5 digest/],
    ['header', info.headerEnd - 5, /header SHA256 digest does not match/],
  ];
  for (const [name, at, re] of flips) {
    const flipped = Buffer.from(bytes);
    flipped[at] ^= 0x01;
    const f = path.join(dir, `flip-${name}.rpm`);
    await writeFile(f, flipped);
    await assert.rejects(readRpmFile(f, { verify: true }), (err: unknown) => err instanceof FormatError && re.test((err as Error).message), name);
  }
  const bad = Buffer.from(bytes);
  bad[info.headerStart + 8 + 3] ^= 0xff;
  await writeFile(path.join(dir, 'bad-count.rpm'), bad);
  await assert.rejects(readRpmFile(path.join(dir, 'bad-count.rpm')), FormatError);
  // A file too big to read whole (here: any) reads its headers in parts and streams the payload: the same facts,
  // digests and refusals as a file read whole.
  const parts = { verify: true, digests: ['sha256', 'sha1'] as Array<'sha256' | 'sha1'>, wholeUpTo: 0 };
  assert.deepEqual(await readRpmFile(rpm, parts), withDigests);
  for (const [name, , re] of cases) await assert.rejects(readRpmFile(path.join(dir, `${name}.rpm`), parts), (err: unknown) => err instanceof FormatError && re.test((err as Error).message), `${name}, in parts`);
  for (const [name, , re] of flips) await assert.rejects(readRpmFile(path.join(dir, `flip-${name}.rpm`), parts), (err: unknown) => err instanceof FormatError && re.test((err as Error).message), `flip-${name}, in parts`);
  await assert.rejects(readRpmFile(path.join(dir, 'bad-count.rpm'), parts), FormatError);
  const sigCut = path.join(dir, 'signature-cut.rpm');
  await writeFile(sigCut, bytes.subarray(0, 96 + 40));
  for (const o of [{}, parts]) await assert.rejects(readRpmFile(sigCut, o), /signature header: file is truncated/);
  assert.equal(Tag.NAME, 1000);
});
