// Fuzzing: 1,200 malformed JSON and multipart requests (seeded, so a failure
// replays), each must get a 4xx JSON error; afterwards the server is still
// healthy, its catalogue and artifact store are exactly as before, and a good
// upload still works.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { api, artifactFiles, httpRequest, startTestServer, uploadStream, type TestServer } from '../support/server-harness.js';
import { Readable } from 'node:stream';
import { ustarHeader } from '../support/tar-fixture.js';

/** xorshift32: a small seeded PRNG, so every run sends the same requests. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
  return {
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)],
    bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
  };
}

interface FuzzCase {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | string;
}

let srv: TestServer;
before(async () => {
  srv = await startTestServer({ config: { limits: { maxUploadBytes: 64 * 1024, maxJsonBytes: 16 * 1024 } } });
});
after(() => srv?.close());

/** JSON bodies that can never be valid for their endpoint: broken syntax, wrong types, missing or extra fields. */
function jsonCases(r: ReturnType<typeof rng>, n: number, tokens: { admin: string; builder: string }): FuzzCase[] {
  const endpoints = [
    { path: '/api/v1/repos', token: tokens.admin, valid: { name: 'fuzzrepo', settings: { lines: ['6.1'] } } },
    { path: '/api/v1/jobs', token: tokens.admin, valid: { repo: 'main', kind: 'build', params: {} } },
    { path: '/api/v1/jobs/lease', token: tokens.builder, valid: { owner: 'w', kinds: ['fuzz-never'] } },
    { path: '/api/v1/repos/main/builds', token: tokens.builder, valid: { line: '6.1', version: '1', arch: 'x86_64' } },
    { path: '/api/v1/tokens', token: tokens.admin, valid: { name: 'n', scopes: ['builder'] } },
    { path: '/api/v1/jobs/job_000000000000000000000000/heartbeat', token: tokens.builder, valid: { leaseId: 'x' } },
    { path: '/api/v1/repos/main/builds/bld_000000000000000000000000/promote', token: tokens.admin, valid: { to: 'stable' } },
  ];
  const breakers: Array<[string, (v: Record<string, unknown>) => string]> = [
    ['truncated', (v) => JSON.stringify(v).slice(0, Math.max(1, r.int(JSON.stringify(v).length - 1)))],
    ['trailing garbage', (v) => `${JSON.stringify(v)}${r.pick(['}', ',', 'x', ']', '"'])}`],
    ['random bytes', () => r.bytes(1 + r.int(200)).toString('latin1')],
    ['array not object', (v) => JSON.stringify([v])],
    ['null', () => 'null'],
    ['number', () => String(r.int(1e9))],
    ['string', () => JSON.stringify('x'.repeat(r.int(50)))],
    ['extra field', (v) => JSON.stringify({ ...v, [`x${r.int(1e6)}`]: r.int(9) })],
    ['proto pollution', (v) => `{"__proto__":{"admin":true},${JSON.stringify(v).slice(1, -1)},"constructor":{"prototype":{"x":1}}}`],
    ['wrong types', (v) => JSON.stringify(Object.fromEntries(Object.keys(v).map((k) => [k, r.pick([null, 12, [], { a: 1 }, true])])))],
    ['empty object', () => '{}'],
    ['deep nesting', () => `${'['.repeat(2000)}${']'.repeat(2000)}`],
    ['oversized', (v) => JSON.stringify({ ...v, pad: 'x'.repeat(20 * 1024) })],
    ['bad unicode', (v) => JSON.stringify(v).replace(/"$/, '\\ud800"').replace(/^\{/, '{"\\u0000":1,')],
    ['duplicate key wrong type', (v) => `${JSON.stringify(v).slice(0, -1)},"${Object.keys(v)[0]}":[1,2]}`],
  ];
  return Array.from({ length: n }, () => {
    const e = r.pick(endpoints);
    const [what, make] = r.pick(breakers);
    // 'empty object' on lease and promote is valid: force a wrong type there instead.
    let body = make(e.valid as Record<string, unknown>);
    if (body === '{}' && (e.path.endsWith('/lease') || e.path.endsWith('/promote'))) body = '{"owner":5,"to":5}';
    const ct = r.pick(['application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin7']);
    return { what: `json ${what} → ${e.path}`, method: 'POST', path: e.path, headers: { authorization: `Bearer ${e.token}`, 'content-type': ct }, body };
  });
}

/** Multipart uploads that must be refused: broken framing, limits, missing or contradicting fields, garbage packages. */
function multipartCases(r: ReturnType<typeof rng>, n: number, builder: string): FuzzCase[] {
  const b = `fz${r.int(1e9)}`;
  const part = (name: string, value: string | Buffer, filename?: string) =>
    Buffer.concat([Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="${name}"${filename !== undefined ? `; filename="${filename}"` : ''}\r\n${filename !== undefined ? 'Content-Type: application/octet-stream\r\n' : ''}\r\n`), Buffer.from(value), Buffer.from('\r\n')]);
  const end = Buffer.from(`--${b}--\r\n`);
  const names = ['linux-image-6.1.1-xen-legacy_6.1.1-1_amd64.deb', 'kernel-xen-legacy-6.1.1-1.x86_64.rpm', 'linux-xen-legacy-6.1.1-xen-legacy-x86_64.tar.xz', 'linux-xen-legacy-6.1.1-xen-legacy-x86_64.tar.gz', 'x.exe', '', 'a"b.deb'];
  const shapes: Array<[string, () => { body: Buffer; ct?: string }]> = [
    ['garbage package with true digest', () => {
      const data = r.bytes(1 + r.int(4000));
      const sha = createHash('sha256').update(data).digest('hex');
      return { body: Buffer.concat([part('file', data, r.pick(names.slice(0, 4))), part('sha256', sha), part('size', String(data.length)), part('line', '6.1'), end]) };
    }],
    ['magic then garbage', () => {
      const magic = r.pick([Buffer.from('!<arch>\ndebian-binary   '), Buffer.from([0xed, 0xab, 0xee, 0xdb, 3, 0]), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]), Buffer.from([0x1f, 0x8b, 8, 0])]);
      const data = Buffer.concat([magic, r.bytes(r.int(3000))]);
      const sha = createHash('sha256').update(data).digest('hex');
      const name = magic[0] === 0x21 ? names[0] : magic[0] === 0xed ? names[1] : magic[0] === 0xfd ? names[2] : names[3];
      return { body: Buffer.concat([part('file', data, name), part('sha256', sha), part('size', String(data.length)), part('line', '6.1'), end]) };
    }],
    ['truncated framing', () => {
      const full = Buffer.concat([part('file', r.bytes(500), names[2]), part('sha256', '0'.repeat(64)), part('size', '500'), end]);
      return { body: full.subarray(0, 1 + r.int(full.length - 10)) };
    }],
    ['no boundary', () => ({ body: r.bytes(200), ct: 'multipart/form-data' })],
    ['wrong boundary', () => ({ body: Buffer.concat([part('file', 'abc', names[0]), end]), ct: 'multipart/form-data; boundary=other' })],
    ['not multipart', () => ({ body: r.bytes(100), ct: r.pick(['application/octet-stream', 'text/plain', 'application/json']) })],
    ['two files', () => ({ body: Buffer.concat([part('file', 'a', names[0]), part('file', 'b', names[1]), end]) })],
    ['wrong file field', () => ({ body: Buffer.concat([part('upload', 'a', names[0]), part('sha256', '0'.repeat(64)), part('size', '1'), end]) })],
    ['too many parts', () => ({ body: Buffer.concat([...Array.from({ length: 12 + r.int(20) }, (_, i) => part(`f${i}`, 'x')), end]) })],
    ['huge field', () => ({ body: Buffer.concat([part('sha256', 'a'.repeat(2000 + r.int(5000))), part('file', 'x', names[2]), end]) })],
    ['bad digest text', () => ({ body: Buffer.concat([part('file', 'abc', names[2]), part('sha256', r.pick(['zz', '0'.repeat(63), 'g'.repeat(64), ''])), part('size', '3'), part('line', '6.1'), end]) })],
    ['bad size', () => ({ body: Buffer.concat([part('file', 'abc', names[2]), part('sha256', createHash('sha256').update('abc').digest('hex')), part('size', r.pick(['-1', '3.5', 'three', '99999999999999999', '4'])), part('line', '6.1'), end]) })],
    ['bad line', () => ({ body: Buffer.concat([part('file', 'abc', names[2]), part('sha256', createHash('sha256').update('abc').digest('hex')), part('size', '3'), part('line', r.pick(['6', 'six', '6.1.1', '../6.1', '5.10'])), end]) })],
    ['duplicated field', () => ({ body: Buffer.concat([part('file', 'abc', names[2]), part('sha256', '0'.repeat(64)), part('sha256', '1'.repeat(64)), part('size', '3'), end]) })],
    ['over the size limit', () => {
      const data = Buffer.alloc(64 * 1024 + 1 + r.int(10_000), 1);
      return { body: Buffer.concat([part('file', data, names[2]), part('sha256', createHash('sha256').update(data).digest('hex')), part('size', String(data.length)), part('line', '6.1'), end]) };
    }],
    ['bad file name', () => {
      const data = Buffer.from('abc');
      return { body: Buffer.concat([part('file', data, r.pick(names.slice(4))), part('sha256', createHash('sha256').update(data).digest('hex')), part('size', '3'), part('line', '6.1'), end]) };
    }],
  ];
  return Array.from({ length: n }, () => {
    const [what, make] = r.pick(shapes);
    const { body, ct } = make();
    const repo = r.int(10) === 0 ? 'no-such-repo' : 'main';
    return { what: `multipart ${what}`, method: 'POST', path: `/api/v1/repos/${repo}/uploads`, headers: { authorization: `Bearer ${builder}`, 'content-type': ct ?? `multipart/form-data; boundary=${b}` }, body };
  });
}

test('1,200 malformed JSON and multipart requests all get 4xx JSON errors; the server stays healthy and intact', async () => {
  const r = rng(0x6c786c);
  // Something to keep intact: one good package.
  const good = Buffer.from('good');
  const goodTar = await import('node:zlib').then((z) => z.gzipSync(Buffer.concat([ustarHeader('boot/vmlinuz-6.1.1-xen-legacy', good.length), good, Buffer.alloc(512 - good.length), Buffer.alloc(1024)])));
  const goodSha = createHash('sha256').update(goodTar).digest('hex');
  const up = await uploadStream(srv.url, 'main', () => Readable.from([goodTar]), { token: srv.builder, filename: 'linux-xen-legacy-6.1.1-xen-legacy-x86_64.tar.gz', sha256: goodSha, size: goodTar.length, line: '6.1' });
  assert.equal(up.status, 201, up.text);
  const beforePkgs = (await api(srv.url, 'GET', '/api/v1/repos/main/packages')).text;
  const beforeFiles = await artifactFiles(srv.varDir);
  const beforeRepos = (await api(srv.url, 'GET', '/api/v1/repos')).text;

  const cases = [...jsonCases(r, 600, srv), ...multipartCases(r, 600, srv.builder)];
  const failures: string[] = [];
  const byStatus = new Map<number, number>();
  for (let i = 0; i < cases.length; i += 16) {
    await Promise.all(
      cases.slice(i, i + 16).map(async (c) => {
        let res;
        try {
          res = await httpRequest(`${srv.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body });
        } catch (err) {
          // The server may close a connection it refused early (413 mid-body); that must still have been a 4xx answer.
          failures.push(`${c.what}: connection error ${(err as Error).message}`);
          return;
        }
        byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
        if (res.status < 400 || res.status > 499) failures.push(`${c.what}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
        else if (typeof res.json?.error?.code !== 'string' || typeof res.json?.error?.message !== 'string') failures.push(`${c.what}: not a JSON error: ${res.text.slice(0, 200)}`);
      }),
    );
  }
  assert.equal(cases.length, 1200);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} requests were not answered with a 4xx JSON error`);
  assert.ok((byStatus.get(400) ?? 0) > 100 && (byStatus.get(422) ?? 0) > 50 && (byStatus.get(413) ?? 0) > 0, `status spread: ${JSON.stringify([...byStatus])}`);

  assert.equal((await api(srv.url, 'GET', '/healthz')).status, 200);
  assert.equal((await api(srv.url, 'GET', '/readyz')).status, 200);
  assert.equal((await api(srv.url, 'GET', '/api/v1/repos/main/packages')).text, beforePkgs, 'catalogue changed');
  assert.equal((await api(srv.url, 'GET', '/api/v1/repos')).text, beforeRepos, 'repos changed');
  assert.deepEqual(await artifactFiles(srv.varDir), beforeFiles, 'artifact store changed (or temp files left)');
  assert.equal((await api(srv.url, 'GET', '/api/v1/jobs')).json.jobs.length, 0, 'a job was enqueued');
  const again = await uploadStream(srv.url, 'main', () => Readable.from([goodTar]), { token: srv.builder, filename: 'linux-xen-legacy-6.1.1-xen-legacy-x86_64.tar.gz', sha256: goodSha, size: goodTar.length, line: '6.1' });
  assert.equal(again.status, 200, 'uploads still work');
});

