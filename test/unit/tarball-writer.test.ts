// Tarballs against GNU tar (root/root, sorted, clamped mtimes, same bytes as
// staged), the pigz-style gzip against gzip(1), and SHA256SUMS against
// sha256sum(1).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { formatSha256Sums, parseSha256Sums } from '../../repo-layout/sums/sha256sums.js';
import { ParallelGzip } from '../../repo-layout/tar-compress.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { makeSpecDir } from './deb-fixtures.js';

for (const [compression, flag] of [['gzip', '-z'], ['xz', '-J']] as const) {
  test(`tarball (${compression}): tar -tv shows ./-prefixed, sorted, root/root entries with clamped mtimes; -x gives the staged tree`, { skip: missingTools('tar', 'xz', 'diff') }, async () => {
    const dir = await tempDir();
    const specPath = await makeSpecDir(dir);
    const file = (await lxl(['pack', 'tar', '--compression', compression, '--spec', specPath, '--out', path.join(dir, 'out')])).stdout.trim();
    assert.equal(path.basename(file), `hello-legacy-1.0+1~x1-x86_64.tar.${compression === 'gzip' ? 'gz' : 'xz'}`);
    const lines = (await run('tar', [flag, '--full-time', '-tvf', file], { env: { ...process.env, TZ: 'UTC' } })).stdout.trim().split('\n');
    const names = lines.map((l) => l.split(/\s+/)[5]);
    assert.equal(names[0], './');
    assert.deepEqual(names, [...names].sort());
    for (const l of lines) assert.match(l, /^\S+ root\/root\s+\d+ 2023-11-14 22:13:20 \.\//, l);
    const x = path.join(dir, 'x');
    await run('mkdir', [x]);
    await run('tar', [flag, '-xf', file, '-C', x]);
    const diff = await run('diff', ['-r', '--no-dereference', path.join(dir, 'tree'), x], { allowFail: true });
    assert.equal(diff.code, 0, diff.stdout);
  });
}

async function pgzip(data: Buffer, jobs: number, blockSize?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([data]), new ParallelGzip({ level: 6, jobs, blockSize }), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

test('parallel gzip: one member that gzip -t accepts and gunzip restores, the same bytes for any job count', { skip: missingTools('gzip') }, async () => {
  const dir = await tempDir();
  const text = Buffer.from('lxl parallel gzip '.repeat(200_000));
  const cases: Array<[string, Buffer, number]> = [
    ['empty', Buffer.alloc(0), 4096],
    ['smaller than a block', Buffer.from('hello\n'), 4096],
    ['exact multiple of the block size', Buffer.concat([randomBytes(8192), text.subarray(0, 8192)]), 4096],
    ['many blocks, mixed data', Buffer.concat([text, randomBytes(100_000), text]), 64 * 1024],
  ];
  for (const [what, data, block] of cases) {
    const one = await pgzip(data, 1, block);
    const three = await pgzip(data, 3, block);
    assert.ok(one.equals(three), `${what}: identical for 1 and 3 jobs`);
    const f = path.join(dir, 'x.gz');
    await writeFile(f, one);
    await run('gzip', ['-t', f]);
    const list = (await run('gzip', ['-lv', f])).stdout;
    assert.match(list, new RegExp(`\\s${data.length}\\s+`), `${what}: the trailer's size is right:\n${list}`);
    const back = (await run('sh', ['-c', 'gzip -dc "$1" | base64 -w0', 'sh', f])).stdout;
    assert.equal(back, data.toString('base64'), `${what}: round trip`);
  }
});

test('SHA256SUMS: sorted "<hex>  <name>" lines that sha256sum -c accepts; parse inverts format', { skip: missingTools('sha256sum') }, async () => {
  const dir = await tempDir();
  const names = ['linux-xen-legacy-6.1.192-x86_64.tar.xz', 'b+c~d.tar.gz', 'a.tar.gz'];
  const entries = [];
  for (const n of names) {
    await writeFile(path.join(dir, n), randomBytes(1000));
    const sha = (await run('sha256sum', [n], { cwd: dir })).stdout.split(' ')[0];
    entries.push({ name: n, sha256: sha });
  }
  const text = formatSha256Sums(entries);
  assert.deepEqual(
    text.trim().split('\n').map((l) => l.split('  ')[1]),
    ['a.tar.gz', 'b+c~d.tar.gz', 'linux-xen-legacy-6.1.192-x86_64.tar.xz'],
  );
  await writeFile(path.join(dir, 'SHA256SUMS'), text);
  const r = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
  assert.equal(r.stdout.match(/: OK$/gm)?.length, 3);
  assert.deepEqual(parseSha256Sums(await readFile(path.join(dir, 'SHA256SUMS'), 'utf8')), [...entries].sort((a, b) => (a.name < b.name ? -1 : 1)));
  assert.throws(() => parseSha256Sums('nothex  file\n'), /line 1/);
  assert.throws(() => formatSha256Sums([{ name: 'x', sha256: 'abc' }]), /bad sha256/);
});
