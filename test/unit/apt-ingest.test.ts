// The APT add's .deb reader (repo-layout/apt/apt-ingest.ts) against broken and
// hostile files: ar headers that claim more bytes than the file has (in a
// small .deb read whole and in a big one read by offsets), control archives
// that unpack to far more than a control archive holds (gzip and xz), and a
// seeded mutation run. Each must be refused with a FormatError that names the
// file and the problem, without the process allocating what the headers
// claim; the .debs lxl writes are read as before. The server's reader
// (inspectDeb) meets the same bombs, and data.tar bombs held to its limit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { headerSum, readDeb } from '../../repo-layout/apt/apt-ingest.js';
import { inspectDeb } from '../../repo-layout/deb/deb-reader.js';
import { AR_HEADER_SIZE, AR_MAGIC, arPadding, decodeArHeader, encodeArHeader } from '../../repo-layout/ar.js';
import { compressBuffer, decompressBuffer } from '../../repo-layout/compress.js';
import { FormatError, LxlError, UnpackLimitError } from '../../repo-layout/errors.js';
import { makeDeb } from '../support/apt-debs.js';
import { missingTools, run } from '../support/exec.js';
import { ustarHeader, zeroBomb } from '../support/tar-fixture.js';
import { tempDir } from '../support/tmp.js';

const work = await tempDir('lxl-apt-ingest-');
const good = await makeDeb(work, { name: 'ingest-test', version: '1.0-1', arch: 'x86_64' });
/** Above the reader's 8 MiB in-memory limit: read by offsets, not whole. */
const BIG = 9 * 1024 * 1024;

interface Member {
  name: string;
  body: Buffer;
}

/** The members of an ar archive. */
function members(bytes: Buffer): Member[] {
  const out: Member[] = [];
  for (let off = AR_MAGIC.length; off + AR_HEADER_SIZE <= bytes.length; ) {
    const h = decodeArHeader(bytes.subarray(off, off + AR_HEADER_SIZE), 'fixture');
    out.push({ name: h.name, body: bytes.subarray(off + AR_HEADER_SIZE, off + AR_HEADER_SIZE + h.size) });
    off += AR_HEADER_SIZE + h.size + (h.size % 2);
  }
  return out;
}

/** An ar archive of these members. */
function arOf(ms: Member[]): Buffer {
  return Buffer.concat([AR_MAGIC, ...ms.flatMap((m) => [encodeArHeader({ name: m.name, size: m.body.length, mtime: 0 }), m.body, arPadding(m.body.length)])]);
}

/** The control.tar of `good` followed by `padBytes` zeros (blocks past its end, which tar readers never reach). */
async function paddedControlTar(padBytes: number): Promise<Buffer> {
  const ctl = members(await readFile(good)).find((m) => m.name === 'control.tar.gz')!;
  return Buffer.concat([zlib.gunzipSync(ctl.body), Buffer.alloc(padBytes)]);
}

/** `good` with its data member replaced by `dataBytes` random bytes (a big one is read by offsets). */
async function withData(dataBytes: number): Promise<Buffer> {
  return arOf(members(await readFile(good)).map((m) => (m.name.startsWith('data.tar') ? { name: 'data.tar', body: randomBytes(dataBytes) } : m)));
}

/** Sets the size field of the ar member named `name` to `text` (10 characters at most). */
function setArSize(bytes: Buffer, name: string, text: string): Buffer {
  const out = Buffer.from(bytes);
  for (let off = AR_MAGIC.length; off + AR_HEADER_SIZE <= out.length; ) {
    const h = decodeArHeader(out.subarray(off, off + AR_HEADER_SIZE), 'fixture');
    if (h.name === name) {
      out.write(text.padEnd(10, ' '), off + 48, 'latin1');
      return out;
    }
    off += AR_HEADER_SIZE + h.size + (h.size % 2);
  }
  throw new Error(`fixture: no member ${name}`);
}

async function refused(bytes: Buffer, name: string, message: RegExp): Promise<void> {
  const file = path.join(work, name);
  await writeFile(file, bytes);
  await assert.rejects(readDeb(file), (err: unknown) => {
    assert.ok(err instanceof FormatError, `${name}: a FormatError, not ${String(err)}`);
    assert.match(err.message, new RegExp(`^cannot (read|parse the control file of) ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( at byte \\d+)?: `), name);
    assert.match(err.message, message, name);
    return true;
  });
}

test('lxl\'s own .debs read as before, small (read whole) and big (read by offsets)', async () => {
  const small = await readDeb(good);
  assert.equal(small.record.name, 'ingest-test');
  assert.ok(small.bytes, 'a small .deb is read whole');
  const bigFile = path.join(work, 'big-ok.deb');
  await writeFile(bigFile, await withData(BIG));
  const big = await readDeb(bigFile);
  assert.equal(big.record.control, small.record.control);
  assert.equal(big.bytes, undefined, 'a big .deb is not held in memory');
});

test('an ar member that claims more bytes than the file has is refused as truncated, in small and big .debs', async () => {
  // 9,999,999,999 is the biggest size ar's field holds; 3,000,000,000 is past what one read(2) can be asked for.
  for (const [label, bytes] of [
    ['small', await readFile(good)],
    ['big', await withData(BIG)],
  ] as const) {
    for (const size of ['9999999999', '3000000000', '2147483648', String(bytes.length)]) {
      await refused(setArSize(bytes, 'control.tar.gz', size), `${label}-control-${size}.deb`, new RegExp(`truncated \\(member control\\.tar\\.gz needs ${size} bytes but only \\d+ remain\\)`));
    }
    await refused(setArSize(bytes, 'debian-binary', '9999999999'), `${label}-binary.deb`, /truncated \(member debian-binary needs 9999999999 bytes/);
    for (const size of ['1e3', '-5', '0x40']) {
      await refused(setArSize(bytes, 'control.tar.gz', size), `${label}-sizefield-${size}.deb`, new RegExp(`member "control\\.tar\\.gz" has a bad size field "${size}"`));
    }
  }
});

test('a control archive that unpacks to more than 64 MiB is refused (gzip and xz), and is not unpacked in full', { skip: missingTools('xz') }, async () => {
  const tar = await paddedControlTar(80 * 1024 * 1024);
  const base = members(await readFile(good));
  const gz = zlib.gzipSync(tar, { level: 1 });
  const xz = await compressBuffer('xz', tar, { level: 0 });
  for (const [name, body] of [
    ['control.tar.gz', gz],
    ['control.tar.xz', xz],
  ] as const) {
    const bytes = arOf(base.map((m) => (m.name === 'control.tar.gz' ? { name, body } : m)));
    const rss0 = process.memoryUsage().rss;
    await refused(bytes, `bomb-${name}.deb`, new RegExp(`${name.replaceAll('.', '\\.')} does not decompress: .*unpacks to more than 67108864 bytes`));
    // The 80 MiB were not all made: gzip stops at the cap, xz at the file-size limit of its output.
    assert.ok(process.memoryUsage().rss - rss0 < 150 * 1024 * 1024, `${name}: RSS grew by ${process.memoryUsage().rss - rss0} bytes`);
    // The server's reader streams the member, and stops at the same cap.
    const file = path.join(work, `bomb-${name}.deb`);
    await assert.rejects(inspectDeb(file), (err: unknown) => err instanceof FormatError && err.message === `cannot read ${file}: ${name} unpacks to more than 67108864 bytes (${body.length} packed); refused as a likely decompression bomb`);
  }
  // Under the cap, the same control archive in xz reads (the cap is no cap on ordinary .debs).
  const plainTar = zlib.gunzipSync(base.find((m) => m.name === 'control.tar.gz')!.body);
  const f = path.join(work, 'small-xz.deb');
  const xzBody = await compressBuffer('xz', plainTar);
  await writeFile(f, arOf(base.map((m) => (m.name === 'control.tar.gz' ? { name: 'control.tar.xz', body: xzBody } : m))));
  assert.equal((await readDeb(f)).record.name, 'ingest-test');
});

/** The pids of this process's `xz` children. */
async function xzChildren(): Promise<string[]> {
  return (await run('pgrep', ['-P', String(process.pid), '-x', 'xz'], { allowFail: true })).stdout.split('\n').filter(Boolean);
}

test('the server\'s reader holds data.tar to maxDataBytes (gzip and xz): a bomb is refused before it is unpacked in full, and its xz is stopped', { skip: missingTools('xz', 'pgrep') }, async () => {
  const base = members(await readFile(good));
  const data = base.find((m) => m.name.startsWith('data.tar'))!;
  // An ordinary payload reads up to its exact size, and not one byte less.
  const dataBytes = (await decompressBuffer(data.name.endsWith('.xz') ? 'xz' : data.name.endsWith('.gz') ? 'gzip' : 'none', data.body)).length;
  assert.equal((await inspectDeb(good, { maxDataBytes: dataBytes })).control.get('Package'), 'ingest-test');
  await assert.rejects(inspectDeb(good, { maxDataBytes: dataBytes - 1 }), new RegExp(`unpacks to more than ${dataBytes - 1} bytes`));
  for (const [name, kind] of [
    ['data.tar.gz', 'gzip'],
    ['data.tar.xz', 'xz'],
  ] as const) {
    // 320 MiB of zeros in ~50 KB (xz) or ~1.5 MB (gzip).
    const body = await zeroBomb(kind, './boot/zeros', 320 * 1024 * 1024);
    const file = path.join(work, `bomb-${name}.deb`);
    await writeFile(file, arOf(base.map((m) => (m.name.startsWith('data.tar') ? { name, body } : m))));
    const limit = 32 * 1024 * 1024;
    await assert.rejects(inspectDeb(file, { maxDataBytes: limit }), (err: unknown) => {
      assert.ok(err instanceof UnpackLimitError && err.code === 'E_FORMAT', String(err));
      assert.equal(err.message, `cannot read ${file}: ${name} unpacks to more than ${limit} bytes (${body.length} packed); refused as a likely decompression bomb`);
      return true;
    });
    // The refused xz is not left running through the rest of its 320 MiB.
    for (let i = 0; i < 50 && (await xzChildren()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await xzChildren(), [], `${name}: an xz child still runs`);
    // Without a limit the same file unpacks in full and then reads as cut short (its tar has no end): what stopped it above was the limit.
    await assert.rejects(inspectDeb(file), (err: unknown) => err instanceof FormatError && !/decompression bomb/.test(err.message));
  }
});

test('a control file with a line of only spaces or tabs is refused by the add and by the server\'s reader, as dpkg-deb refuses to build it', async () => {
  const base = members(await readFile(good));
  for (const control of ['Package: ws\nVersion: 1.0\nMaintainer: M <m@example.invalid>\nDescription: d\nArchitecture: amd64\n \n', 'Package: ws\nVersion: 1.0\nArchitecture: amd64\nDescription: d\n long\n\t\n more\n']) {
    const body = Buffer.from(control);
    const tar = Buffer.concat([ustarHeader('./control', body.length), body, Buffer.alloc(Math.ceil(body.length / 512) * 512 - body.length), Buffer.alloc(1024)]);
    const bytes = arOf(base.map((m) => (m.name === 'control.tar.gz' ? { name: m.name, body: zlib.gzipSync(tar) } : m)));
    const name = `blank-line-${control.length}.deb`;
    await refused(bytes, name, /a line of only spaces or tabs in the value of field (Architecture|Description) \(dpkg-deb refuses it too/);
    await assert.rejects(inspectDeb(path.join(work, name)), (err: unknown) => err instanceof FormatError && /bad control file: .*a line of only spaces or tabs/.test(err.message));
  }
});

test('decompressBuffer\'s maxBytes: output up to it comes back, more is a FormatError, for gzip, xz and none', { skip: missingTools('xz') }, async () => {
  const text = Buffer.from('lxl '.repeat(50_000));
  for (const kind of ['gzip', 'xz', 'none'] as const) {
    const packed = await compressBuffer(kind, text);
    assert.deepEqual(await decompressBuffer(kind, packed, { maxBytes: text.length }), text, kind);
    await assert.rejects(decompressBuffer(kind, packed, { maxBytes: text.length - 1 }), (err: unknown) => err instanceof FormatError && err.message === `cannot decompress with ${kind}: the data unpacks to more than ${text.length - 1} bytes`, kind);
  }
});

test('seeded mutations of small and big .debs: every refusal, by the add\'s reader and the server\'s, is an lxl error, and the process lives', async () => {
  let x = 0x2545f491;
  const rnd = (n: number): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return Math.floor((x / 0x1_0000_0000) * n);
  };
  const seeds = [await readFile(good), await withData(BIG)];
  const sizes = ['0', '1', '59', '2147483647', '4294967295', '9999999999', '1e9', '-5', ' '];
  const counts = { read: 0, refused: 0 };
  for (let i = 0; i < 160; i++) {
    const seed = seeds[i % 2];
    let m: Buffer = Buffer.from(seed);
    const kind = rnd(4);
    if (kind === 0) {
      // Bit flips in the ar and tar headers.
      for (let k = 0; k <= rnd(4); k++) m[rnd(400)] ^= 1 << rnd(8);
    } else if (kind === 1) {
      m = m.subarray(0, rnd(Math.min(m.length, 6000)));
    } else if (kind === 2) {
      const ms = members(seed);
      m = setArSize(m, ms[rnd(ms.length)].name, sizes[rnd(sizes.length)]);
    } else {
      const at = 60 + rnd(200);
      m.fill(rnd(256), at, at + 1 + rnd(40));
    }
    const file = path.join(work, `mutant-${i}.deb`);
    await writeFile(file, m);
    for (const [reader, read] of [
      ['readDeb', readDeb],
      ['inspectDeb', inspectDeb],
    ] as const) {
      try {
        await read(file);
        counts.read++;
      } catch (err) {
        assert.ok(err instanceof LxlError, `${reader}, mutant ${i} (kind ${kind}): ${String(err)}`);
        counts.refused++;
      }
    }
  }
  assert.ok(counts.refused > 160, `most mutants are refused (${JSON.stringify(counts)})`);
});

test('headerSum is the POSIX tar checksum (checksum field as spaces) of any 512 bytes, at any alignment, and 0 only for zeros', () => {
  const naive = (h: Uint8Array): number => h.reduce((sum, b, i) => sum + (i >= 148 && i < 156 ? 32 : b), 0);
  const backing = randomBytes(512 * 9 + 3);
  for (let off = 0; off < 8; off++) {
    const h = backing.subarray(off * 513 + (off % 4), off * 513 + (off % 4) + 512);
    assert.equal(headerSum(h), naive(h), `offset ${h.byteOffset}`);
  }
  assert.equal(headerSum(Buffer.alloc(512, 0xff)), naive(Buffer.alloc(512, 0xff)), 'every byte at its largest');
  assert.equal(headerSum(Buffer.alloc(512)), 0);
  const one = Buffer.alloc(512);
  one[150] = 7;
  assert.equal(headerSum(one), 256, 'a block whose only byte is in the checksum field is not zeros');
  const good = ustarHeader('./control', 10);
  assert.equal(headerSum(good), parseInt(good.toString('latin1', 148, 156), 8), 'a header tar wrote');
});
