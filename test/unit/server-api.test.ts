// The HTTP API against a real server in this process: auth scopes, uploads
// (a .deb made by dpkg-deb, an .rpm made by rpmbuild, a tarball made by tar),
// every bad-input case with its precise 4xx JSON error and nothing stored,
// decompression bombs held to limits.maxUnpackRatio, the publish lock, the job API, embedded serving and the OpenAPI document.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, truncate, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { api, artifactFiles, httpRequest, sha256File, startTestServer, uploadFile, type TestServer } from '../support/server-harness.js';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { zeroBomb } from '../support/tar-fixture.js';
import { unpackBudget } from '../../server/package-inspect.js';
import { serverConfigSchema } from '../../server/config.js';
import type { Publisher } from '../../server/publisher.js';
import type { RepoRecord } from '../../server/metadata-store.js';

const noDpkg = missingTools('dpkg-deb');
const noRpmbuild = missingTools('rpmbuild');
const noTar = missingTools('tar', 'xz');

/** A publisher the test releases by hand, to hold the repo lock open. */
class GatedPublisher implements Publisher {
  calls: string[] = [];
  private release: (() => void) | undefined;
  gate(): void {
    this.gated = new Promise<void>((r) => (this.release = r));
  }
  open(): void {
    this.release?.();
  }
  private gated: Promise<void> = Promise.resolve();
  async publish(repo: RepoRecord, signal: AbortSignal): Promise<Record<string, unknown>> {
    this.calls.push(repo.name);
    await Promise.race([this.gated, new Promise((_, rej) => signal.addEventListener('abort', () => rej(signal.reason)))]);
    return { published: repo.name };
  }
}

let srv: TestServer;
let fx: string;
const publisher = new GatedPublisher();

async function makeDeb(dir: string, name: string, version: string, arch: string, fill = 7): Promise<string> {
  const root = path.join(dir, `${name}_${arch}_${fill}`);
  await mkdir(path.join(root, 'DEBIAN'), { recursive: true });
  await mkdir(path.join(root, 'boot'), { recursive: true });
  await writeFile(path.join(root, 'boot', `vmlinuz-test`), Buffer.alloc(64 * 1024, fill));
  await writeFile(path.join(root, 'DEBIAN', 'control'), `Package: ${name}\nVersion: ${version}\nArchitecture: ${arch}\nMaintainer: lxl tests <t@example.org>\nDescription: test kernel\n`);
  await mkdir(path.join(dir, String(fill)), { recursive: true });
  const out = path.join(dir, String(fill), `${name}_${version}_${arch}.deb`);
  await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, out]);
  return out;
}

async function makeRpm(dir: string): Promise<string> {
  const spec = path.join(dir, 'k.spec');
  await writeFile(
    spec,
    'Name: kernel-xen-legacy\nVersion: 6.1.192\nRelease: 1\nSummary: test kernel\nLicense: GPL-2.0-only\n%description\ntest\n%install\nmkdir -p %{buildroot}/boot\necho kernel > %{buildroot}/boot/vmlinuz-6.1.192-xen-legacy\n%files\n/boot/vmlinuz-6.1.192-xen-legacy\n',
  );
  await run('rpmbuild', ['-bb', '--target', 'x86_64', '--define', `_topdir ${path.join(dir, 'rpmtop')}`, '--define', 'debug_package %{nil}', spec]);
  return path.join(dir, 'rpmtop', 'RPMS', 'x86_64', 'kernel-xen-legacy-6.1.192-1.x86_64.rpm');
}

async function makeTarball(dir: string, krel: string, entries: Record<string, string>, compress = 'J'): Promise<string> {
  const root = path.join(dir, `tree-${krel}`);
  for (const [p, content] of Object.entries(entries)) {
    await mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await writeFile(path.join(root, p), content);
  }
  const out = path.join(dir, `linux-xen-legacy-${krel}-x86_64.tar.${compress === 'J' ? 'xz' : 'gz'}`);
  await run('tar', ['-C', root, `-c${compress}f`, out, '--owner=0', '--group=0', '.']);
  return out;
}

/** What the server holds: artifact files and catalogued packages. */
async function holdings(): Promise<{ files: string[]; packages: number }> {
  const res = await api(srv.url, 'GET', '/api/v1/repos/main/packages');
  return { files: await artifactFiles(srv.varDir), packages: res.json.packages.length };
}

fx = await tempDir('lxl-server-fx-');
before(async () => {
  srv = await startTestServer({ publisher });
});
after(() => srv?.close());

test('auth: no token 401, bad token 401, wrong scope 403, all as JSON errors', async () => {
  const noTok = await api(srv.url, 'POST', '/api/v1/repos', { body: { name: 'x1' } });
  assert.equal(noTok.status, 401);
  assert.equal(noTok.json.error.code, 'E_UNAUTHORIZED');
  assert.match(noTok.json.error.message, /no Authorization header/);
  const bad = await api(srv.url, 'POST', '/api/v1/repos', { token: 'lxl.tok_000000000000000000000000.' + 'A'.repeat(43), body: { name: 'x1' } });
  assert.equal(bad.status, 401);
  assert.match(bad.json.error.message, /not known/);
  const wrongScope = await api(srv.url, 'POST', '/api/v1/repos', { token: srv.builder, body: { name: 'x1' } });
  assert.equal(wrongScope.status, 403);
  assert.equal(wrongScope.json.error.code, 'E_FORBIDDEN');
  const pub = await api(srv.url, 'POST', '/api/v1/repos/main/publish', { token: srv.builder });
  assert.equal(pub.status, 403, 'builders may not publish');
  const up = await httpRequest(`${srv.url}/api/v1/repos/main/uploads`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--\r\n' });
  assert.equal(up.status, 401, 'uploads need a token');
  const lease = await api(srv.url, 'POST', '/api/v1/jobs/lease', { body: { owner: 'w' } });
  assert.equal(lease.status, 401);
  const ok = await api(srv.url, 'POST', '/api/v1/repos', { token: srv.admin, body: { name: 'x1' } });
  assert.equal(ok.status, 201);
  const tokens = await api(srv.url, 'GET', '/api/v1/tokens', { token: srv.admin });
  assert.equal(tokens.status, 200);
  assert.ok(tokens.json.tokens.every((t: Record<string, unknown>) => !('hash' in t)), 'token hashes are never shown');
  assert.ok(!tokens.text.includes(srv.admin.split('.')[2]));
});

test('malformed JSON is 400, schema errors name the field, unknown routes and repos are 404', async () => {
  const malformed = await api(srv.url, 'POST', '/api/v1/repos', { token: srv.admin, rawBody: '{"name": "x2",' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.json.error.code, 'E_BAD_JSON');
  const shape = await api(srv.url, 'POST', '/api/v1/repos', { token: srv.admin, body: { name: 'Bad Name!' } });
  assert.equal(shape.status, 400);
  assert.match(shape.json.error.message, /name: must be/);
  const extra = await api(srv.url, 'POST', '/api/v1/repos', { token: srv.admin, body: { name: 'ok', surprise: 1 } });
  assert.equal(extra.status, 400);
  const route = await api(srv.url, 'GET', '/api/v1/nothing-here');
  assert.equal(route.status, 404);
  assert.equal(route.json.error.code, 'E_ROUTE_NOT_FOUND');
  const repo = await api(srv.url, 'GET', '/api/v1/repos/nope/packages');
  assert.equal(repo.status, 404);
  assert.equal(repo.json.error.code, 'E_NOT_FOUND');
  const dup = await api(srv.url, 'POST', '/api/v1/repos', { token: srv.admin, body: { name: 'main' } });
  assert.equal(dup.status, 409);
});

test('uploads of a .deb (dpkg-deb), an .rpm (rpmbuild) and a tarball are stored by content address', { skip: noDpkg ?? noRpmbuild ?? noTar }, async () => {
  const deb = await makeDeb(fx, 'linux-image-6.1.192-xen-legacy', '6.1.192-1', 'amd64');
  const rpm = await makeRpm(fx);
  const tarball = await makeTarball(fx, '6.1.192-xen-legacy', { 'boot/vmlinuz-6.1.192-xen-legacy': 'k', 'lib/modules/6.1.192-xen-legacy/modules.dep': '' });
  for (const [file, kind] of [[deb, 'deb'], [rpm, 'rpm'], [tarball, 'tarball']] as const) {
    const res = await uploadFile(srv.url, 'main', file, { token: srv.builder, line: '6.1' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.package.kind, kind);
    const sha = await sha256File(file);
    assert.equal(res.json.package.sha256, sha);
    const stored = path.join(srv.varDir, 'artifacts', 'sha256', sha.slice(0, 2), sha);
    assert.equal(await sha256File(stored), sha, 'the stored artifact has the uploaded bytes');
    const again = await uploadFile(srv.url, 'main', file, { token: srv.builder, line: '6.1' });
    assert.equal(again.status, 200, 'the same upload again is idempotent');
    assert.equal(again.json.created, false);
  }
  const pkgs = (await api(srv.url, 'GET', '/api/v1/repos/main/packages')).json.packages as Array<Record<string, unknown>>;
  assert.deepEqual(pkgs.map((p) => `${p.kind} ${p.name} ${p.version} ${p.arch}`).sort(), [
    'deb linux-image-6.1.192-xen-legacy 6.1.192-1 amd64',
    'rpm kernel-xen-legacy 6.1.192-1 x86_64',
    'tarball linux-xen-legacy.tar.xz 6.1.192-xen-legacy x86_64',
  ]);
  const debRec = pkgs.find((p) => p.kind === 'deb')!;
  assert.match(String((debRec.meta as Record<string, unknown>).control), /^Package: linux-image-6\.1\.192-xen-legacy$/m);
  // Other bytes under the same name, version and arch: immutable, refused.
  const other = await makeDeb(fx, 'linux-image-6.1.192-xen-legacy', '6.1.192-1', 'amd64', 9);
  assert.notEqual(await sha256File(other), await sha256File(deb));
  const before = await holdings();
  const conflict = await uploadFile(srv.url, 'main', other, { token: srv.builder, line: '6.1' });
  assert.equal(conflict.status, 409, conflict.text);
  assert.equal(conflict.json.error.code, 'E_CONFLICT');
  assert.deepEqual(await holdings(), before);
});

test('bad uploads get a precise 4xx JSON error and leave nothing stored', { skip: noDpkg ?? noTar }, async () => {
  const good = await makeTarball(fx, '6.1.200-xen-legacy', { 'boot/vmlinuz-6.1.200-xen-legacy': 'x'.repeat(5000) });
  const deb = await makeDeb(fx, 'linux-image-6.1.201-xen-legacy', '6.1.201-1', 'amd64');
  const truncatedDeb = path.join(fx, 'linux-image-6.1.201-xen-legacy_6.1.201-1_amd64.deb.cut');
  await copyFile(deb, truncatedDeb);
  await truncate(truncatedDeb, (await stat(deb)).size - 200);
  const arm = await makeDeb(fx, 'linux-image-6.1.202-xen-legacy', '6.1.202-1', 'arm64');
  const wrongLine = await makeDeb(fx, 'linux-image-6.2.1-xen-legacy', '6.2.1-1', 'amd64');
  const stranger = await makeDeb(fx, 'hello', '6.1.1-1', 'amd64');
  const evilRoot = path.join(fx, 'evil');
  await mkdir(evilRoot, { recursive: true });
  const evil = path.join(fx, 'linux-xen-legacy-6.1.203-xen-legacy-x86_64.tar.gz');
  // GNU tar keeps a leading ../ with -P; that is the attack a client could send.
  await writeFile(path.join(evilRoot, 'x'), 'pwned');
  await run('tar', ['-C', evilRoot, '-czPf', evil, '--transform', 's,^x$,../../etc/cron.d/x,', 'x']);
  const truncatedTar = path.join(fx, 'linux-xen-legacy-6.1.204-xen-legacy-x86_64.tar.xz');
  const bigTar = await makeTarball(fx, '6.1.204-xen-legacy', { 'boot/vmlinuz': (await readFile(deb)).toString('base64').repeat(20) });
  await copyFile(bigTar, truncatedTar + '.full');
  await writeFile(truncatedTar, (await readFile(bigTar)).subarray(0, Math.floor((await stat(bigTar)).size / 2)));
  const badRpm = path.join(fx, 'kernel-xen-legacy-6.1.205-1.x86_64.rpm');
  const lead = Buffer.alloc(96);
  Buffer.from([0xed, 0xab, 0xee, 0xdb, 3, 0]).copy(lead);
  await writeFile(badRpm, Buffer.concat([lead, Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]), Buffer.alloc(300, 0x41)]));

  const goodSha = await sha256File(good);
  const cases: Array<{ what: string; file: string; opts?: Record<string, unknown>; status: number; code: string; message: RegExp }> = [
    { what: 'wrong sha256', file: good, opts: { sha256: goodSha.replace(/^./, goodSha[0] === '0' ? '1' : '0') }, status: 422, code: 'E_DIGEST_MISMATCH', message: /stated but the bytes hash to/ },
    { what: 'wrong size', file: good, opts: { size: 12 }, status: 422, code: 'E_SIZE_MISMATCH', message: /12 bytes were stated/ },
    { what: 'truncated .deb', file: truncatedDeb, opts: { filename: path.basename(deb) }, status: 422, code: 'E_FORMAT', message: /linux-image-6\.1\.201.*(truncat|end|short|ends)/i },
    { what: 'rpm with a bad header', file: badRpm, status: 422, code: 'E_FORMAT', message: /rpm/i },
    { what: 'tar with ../', file: evil, status: 422, code: 'E_FORMAT', message: /\.\.\/\.\.\/etc\/cron\.d\/x.*unsafe path/ },
    { what: 'truncated tarball', file: truncatedTar, status: 422, code: 'E_FORMAT', message: /truncated|end/i },
    { what: 'unknown arch', file: arm, status: 422, code: 'E_PACKAGE_REFUSED', message: /unknown arch "arm64"/ },
    { what: 'name outside the kernel line', file: wrongLine, status: 422, code: 'E_PACKAGE_REFUSED', message: /kernel 6\.2\.1-xen-legacy, which is not in kernel line 6\.1/ },
    { what: 'a package that is not a kernel', file: stranger, status: 422, code: 'E_PACKAGE_REFUSED', message: /"hello" is not a linux-xen-legacy kernel package/ },
    { what: 'a line the repo does not carry', file: good, opts: { line: '5.10' }, status: 422, code: 'E_PACKAGE_REFUSED', message: /carries kernel lines 6\.1, not 5\.10/ },
    { what: 'no line', file: good, opts: { line: undefined }, status: 400, code: 'E_BAD_REQUEST', message: /kernel line/ },
    { what: 'unknown file type', file: good, opts: { filename: 'kernel.zip' }, status: 422, code: 'E_FORMAT', message: /only \.deb, \.rpm/ },
    { what: 'a hidden file name', file: good, opts: { filename: '.x.deb' }, status: 422, code: 'E_FORMAT', message: /plain base name/ },
    { what: 'unknown build', file: good, opts: { build: 'bld_nope' }, status: 404, code: 'E_NOT_FOUND', message: /no such build/ },
    { what: 'unknown repo', file: good, opts: { repo: 'nope' }, status: 404, code: 'E_NOT_FOUND', message: /no such repo/ },
  ];
  for (const c of cases) {
    const before = await holdings();
    const { repo, ...rest } = { repo: 'main', line: '6.1', token: srv.builder, ...c.opts } as Record<string, unknown> & { repo: string };
    const res = await uploadFile(srv.url, repo, c.file, rest);
    assert.equal(res.status, c.status, `${c.what}: ${res.text}`);
    assert.equal(res.json?.error?.code, c.code, `${c.what}: ${res.text}`);
    assert.match(res.json.error.message, c.message, c.what);
    assert.deepEqual(await holdings(), before, `${c.what}: something was stored`);
  }
  // No file part at all.
  const empty = await httpRequest(`${srv.url}/api/v1/repos/main/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${srv.builder}`, 'content-type': 'multipart/form-data; boundary=b' },
    body: '--b\r\nContent-Disposition: form-data; name="sha256"\r\n\r\nabc\r\n--b--\r\n',
  });
  assert.equal(empty.status, 400);
  assert.match(empty.json.error.message, /no file/);
  assert.deepEqual(await artifactFiles(srv.varDir).then((f) => f.filter((x) => x.startsWith('tmp/'))), [], 'no temp files left');
});

test('an upload over limits.maxUploadBytes gets 413 and leaves nothing', { skip: noTar }, async () => {
  const small = await startTestServer({ config: { limits: { maxUploadBytes: 4096 } } });
  try {
    const big = await makeTarball(fx, '6.1.210-xen-legacy', { 'boot/vmlinuz-6.1.210-xen-legacy': (await readFile(process.execPath)).subarray(0, 200_000).toString('base64') });
    const res = await uploadFile(small.url, 'main', big, { token: small.builder, line: '6.1' });
    assert.equal(res.status, 413, res.text);
    assert.equal(res.json.error.code, 'E_TOO_LARGE');
    assert.deepEqual(await artifactFiles(small.varDir), []);
    assert.equal((await api(small.url, 'GET', '/healthz')).status, 200);
  } finally {
    await small.close();
  }
});

test('decompression bombs (a tarball in gzip and xz, a .deb\'s data.tar.xz) get 422 past limits.maxUnpackRatio; well-packed small uploads pass under the floor', { skip: noDpkg ?? noTar }, async () => {
  // The budget: the ratio times the upload's size, or the floor if more.
  assert.equal(unpackBudget(1e9, { maxUnpackRatio: 10, unpackFloorBytes: 1 }), 1e10);
  assert.equal(unpackBudget(1e6, { maxUnpackRatio: 10, unpackFloorBytes: 5e7 }), 5e7);
  const defaults = serverConfigSchema.parse({ var: fx }).limits;
  assert.deepEqual([defaults.maxUnpackRatio, defaults.unpackFloorBytes], [100, 1024 ** 3], 'defaults: 100x, past 1 GiB');
  const floor = 48 * 1024 * 1024;
  const strict = await startTestServer({ config: { limits: { maxUnpackRatio: 10, unpackFloorBytes: floor } } });
  try {
    const bombs: Array<{ file: string; message: RegExp }> = [];
    for (const kind of ['gzip', 'xz'] as const) {
      const file = path.join(fx, `linux-xen-legacy-6.1.220-xen-legacy-x86_64.tar.${kind === 'gzip' ? 'gz' : 'xz'}`);
      await writeFile(file, await zeroBomb(kind, './boot/vmlinuz-6.1.220-xen-legacy', 256 * 1024 * 1024));
      bombs.push({ file, message: new RegExp(`^cannot accept ${path.basename(file).replaceAll('.', '\\.')}: its tar unpacks to more than ${floor} bytes; refused as a likely decompression bomb`) });
    }
    const deb = await makeDeb(fx, 'linux-image-6.1.221-xen-legacy', '6.1.221-1', 'amd64', 9);
    const debBomb = path.join(fx, 'bomb', path.basename(deb));
    await mkdir(path.dirname(debBomb), { recursive: true });
    const bombData = await zeroBomb('xz', './boot/vmlinuz-6.1.221-xen-legacy', 256 * 1024 * 1024);
    // dpkg-deb's members with data.tar.gz swapped for the bomb (ar keeps the order: debian-binary, control, data).
    const parts = path.join(fx, 'bomb', 'parts');
    await mkdir(parts, { recursive: true });
    await run('ar', ['x', '--output', parts, deb]);
    await writeFile(path.join(parts, 'data.tar.xz'), bombData);
    await run('ar', ['rc', debBomb, ...['debian-binary', 'control.tar.gz', 'data.tar.xz'].map((m) => path.join(parts, m))]);
    bombs.push({ file: debBomb, message: new RegExp(`^cannot read ${path.basename(debBomb).replaceAll('.', '\\.')}: data\\.tar\\.xz unpacks to more than ${floor} bytes \\(${bombData.length} packed\\); refused as a likely decompression bomb`) });
    for (const b of bombs) {
      const res = await uploadFile(strict.url, 'main', b.file, { token: strict.builder, line: '6.1' });
      assert.equal(res.status, 422, `${path.basename(b.file)}: ${res.text}`);
      assert.equal(res.json.error.code, 'E_FORMAT');
      assert.match(res.json.error.message, b.message);
      assert.match(res.json.error.hint, /raise limits\.maxUnpackRatio or limits\.unpackFloorBytes on the server/);
      assert.deepEqual(await artifactFiles(strict.varDir), [], `${path.basename(b.file)}: something was stored`);
    }
    assert.equal((await api(strict.url, 'GET', '/healthz')).status, 200);
    // Far above 10x but under the floor: a .deb of 64 KiB of one byte, and a tarball of 4 MiB of zeros.
    const zeros = await makeTarball(fx, '6.1.222-xen-legacy', { 'boot/vmlinuz-6.1.222-xen-legacy': '\0'.repeat(4 * 1024 * 1024) });
    assert.ok((await stat(zeros)).size * 10 < 4 * 1024 * 1024, 'the tarball packs to less than a tenth');
    for (const file of [deb, zeros]) {
      const res = await uploadFile(strict.url, 'main', file, { token: strict.builder, line: '6.1' });
      assert.equal(res.status, 201, `${path.basename(file)}: ${res.text}`);
    }
  } finally {
    await strict.close();
  }
});

test('publish: 202 with an id to poll; a concurrent publish of the same repo gets 409', async () => {
  publisher.gate();
  const first = await api(srv.url, 'POST', '/api/v1/repos/main/publish', { token: srv.admin });
  assert.equal(first.status, 202, first.text);
  const id = first.json.publish.id as string;
  assert.equal(first.headers.location, `/api/v1/publishes/${id}`);
  const second = await api(srv.url, 'POST', '/api/v1/repos/main/publish', { token: srv.admin });
  assert.equal(second.status, 409, second.text);
  assert.equal(second.json.error.code, 'E_LOCKED');
  assert.match(second.json.error.message, new RegExp(id));
  const other = await api(srv.url, 'POST', '/api/v1/repos/x1/publish', { token: srv.admin });
  assert.equal(other.status, 202, 'another repo publishes in parallel');
  assert.equal((await api(srv.url, 'GET', `/api/v1/publishes/${id}`)).json.publish.state, 'running');
  publisher.open();
  let state = 'running';
  for (let i = 0; i < 100 && state === 'running'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    state = (await api(srv.url, 'GET', `/api/v1/publishes/${id}`)).json.publish.state;
  }
  assert.equal(state, 'succeeded');
  const done = (await api(srv.url, 'GET', `/api/v1/publishes/${id}`)).json.publish;
  assert.deepEqual(done.report, { published: 'main' });
  const third = await api(srv.url, 'POST', '/api/v1/repos/main/publish', { token: srv.admin });
  assert.equal(third.status, 202, 'the lock was released');
  await srv.running.ctx.publishes.idle();
});

test('builds: create, attach uploads, promote testing → stable', { skip: noTar }, async () => {
  const b = await api(srv.url, 'POST', '/api/v1/repos/main/builds', { token: srv.builder, body: { line: '6.1', version: '6.1.220-1', flavour: 'minimal', arch: 'x86_64' } });
  assert.equal(b.status, 201, b.text);
  const id = b.json.build.id as string;
  const tarball = await makeTarball(fx, '6.1.220-xen-legacy', { 'boot/vmlinuz-6.1.220-xen-legacy': 'k' });
  const up = await uploadFile(srv.url, 'main', tarball, { token: srv.builder, build: id });
  assert.equal(up.status, 201, up.text);
  assert.equal(up.json.package.buildId, id);
  assert.equal(up.json.package.channel, 'testing');
  assert.equal((await api(srv.url, 'POST', `/api/v1/repos/main/builds/${id}/promote`, { token: srv.builder, body: { to: 'stable' } })).status, 403);
  const pr = await api(srv.url, 'POST', `/api/v1/repos/main/builds/${id}/promote`, { token: srv.admin, body: { to: 'stable' } });
  assert.equal(pr.status, 200, pr.text);
  assert.equal(pr.json.build.channel, 'stable');
  const stable = (await api(srv.url, 'GET', '/api/v1/repos/main/packages?channel=stable')).json.packages;
  assert.deepEqual(stable.map((p: { id: string }) => p.id), [up.json.package.id]);
  const audit = (await api(srv.url, 'GET', '/api/v1/audit?target=repo:main', { token: srv.admin })).json.entries.map((e: { action: string }) => e.action);
  assert.ok(audit.includes('build.promote') && audit.includes('package.add'));
});

test('jobs over HTTP: enqueue (admin), lease, log while running, heartbeat, complete', async () => {
  assert.equal((await api(srv.url, 'POST', '/api/v1/jobs/lease', { token: srv.builder, body: { owner: 'w1' } })).status, 204, 'empty queue');
  assert.equal((await api(srv.url, 'POST', '/api/v1/jobs', { token: srv.builder, body: { repo: 'main', params: {} } })).status, 403);
  const q = await api(srv.url, 'POST', '/api/v1/jobs', { token: srv.admin, body: { repo: 'main', kind: 'build', params: { line: '6.1', version: '6.1.192', flavour: 'minimal', arch: 'x86_64' } } });
  assert.equal(q.status, 201, q.text);
  const lease = await api(srv.url, 'POST', '/api/v1/jobs/lease', { token: srv.builder, body: { owner: 'w1', ttlSeconds: 30 } });
  assert.equal(lease.status, 200);
  const { leaseId } = lease.json;
  const jobId = lease.json.job.id as string;
  assert.equal(lease.json.job.params.flavour, 'minimal');
  const pub = await api(srv.url, 'GET', `/api/v1/jobs/${jobId}`);
  assert.equal(pub.json.job.state, 'leased');
  assert.ok(!pub.text.includes(leaseId), 'the read API never shows the lease id');
  for (const line of ['[fetch] ok\n', '[patch] 2 applied\n']) {
    const r = await httpRequest(`${srv.url}/api/v1/jobs/${jobId}/log`, { method: 'POST', headers: { authorization: `Bearer ${srv.builder}`, 'x-lxl-lease': leaseId, 'content-type': 'text/plain' }, body: line });
    assert.equal(r.status, 200, r.text);
  }
  const log = await httpRequest(`${srv.url}/api/v1/jobs/${jobId}/log`);
  assert.equal(log.text, '[fetch] ok\n[patch] 2 applied\n');
  const tail = await httpRequest(`${srv.url}/api/v1/jobs/${jobId}/log?offset=11`);
  assert.equal(tail.text, '[patch] 2 applied\n');
  assert.equal(tail.headers['x-lxl-log-next'], String(Buffer.byteLength(log.text)));
  const wrongLease = await api(srv.url, 'POST', `/api/v1/jobs/${jobId}/heartbeat`, { token: srv.builder, body: { leaseId: 'lease_bogus' } });
  assert.equal(wrongLease.status, 409);
  assert.equal(wrongLease.json.error.code, 'E_LOCKED');
  assert.equal((await api(srv.url, 'POST', `/api/v1/jobs/${jobId}/heartbeat`, { token: srv.builder, body: { leaseId } })).status, 200);
  const done = await api(srv.url, 'POST', `/api/v1/jobs/${jobId}/complete`, { token: srv.builder, body: { leaseId, result: { packages: 3 } } });
  assert.equal(done.json.job.state, 'succeeded');
  const listed = await api(srv.url, 'GET', '/api/v1/jobs?state=succeeded');
  assert.ok(listed.json.jobs.some((j: { id: string }) => j.id === jobId));
  assert.equal((await api(srv.url, 'GET', '/api/v1/jobs?state=bogus')).status, 400);
});

test('embedded serving: content types, Range, conditional GET, cache policy; no writes, no dotfiles', async () => {
  const pub = path.join(srv.varDir, 'public');
  const files: Record<string, string> = {
    'apt/dists/stable/InRelease': 'signed release\n',
    'apt/pool/main/l/linux/linux-image_1_amd64.deb': '0123456789abcdef',
    'apt/dists/stable/main/binary-amd64/by-hash/SHA256/abcd': 'idx',
    'yum/repodata/repomd.xml': '<repomd/>',
    'keys/linux-xen-legacy.asc': '-----BEGIN PGP PUBLIC KEY BLOCK-----\n',
    'apt/.lxl-tmp-123': 'partial',
  };
  for (const [k, v] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(pub, k)), { recursive: true });
    await writeFile(path.join(pub, k), v);
  }
  const rel = await httpRequest(`${srv.url}/apt/dists/stable/InRelease`);
  assert.equal(rel.status, 200);
  assert.equal(rel.text, 'signed release\n');
  assert.equal(rel.headers['cache-control'], 'no-cache');
  assert.match(String(rel.headers['content-type']), /^text\/plain/);
  const deb = await httpRequest(`${srv.url}/apt/pool/main/l/linux/linux-image_1_amd64.deb`, { headers: { range: 'bytes=4-7' } });
  assert.equal(deb.status, 206);
  assert.equal(deb.text, '4567');
  assert.equal(deb.headers['content-range'], 'bytes 4-7/16');
  assert.equal(deb.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(deb.headers['content-type'], 'application/vnd.debian.binary-package');
  const etag = String(rel.headers.etag);
  const cond = await httpRequest(`${srv.url}/apt/dists/stable/InRelease`, { headers: { 'if-none-match': etag } });
  assert.equal(cond.status, 304);
  const byHash = await httpRequest(`${srv.url}/apt/dists/stable/main/binary-amd64/by-hash/SHA256/abcd`);
  assert.equal(byHash.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal((await httpRequest(`${srv.url}/yum/repodata/repomd.xml`)).headers['content-type'], 'application/xml');
  assert.equal((await httpRequest(`${srv.url}/keys/linux-xen-legacy.asc`)).headers['content-type'], 'application/pgp-keys');
  const hidden = await httpRequest(`${srv.url}/apt/.lxl-tmp-123`);
  assert.equal(hidden.status, 404, 'temp files are never served');
  const put = await httpRequest(`${srv.url}/apt/dists/stable/InRelease`, { method: 'PUT', body: 'x' });
  assert.ok(put.status === 404 || put.status === 405, `PUT answered ${put.status}`);
  assert.equal(await readFile(path.join(pub, 'apt/dists/stable/InRelease'), 'utf8'), 'signed release\n');
  const escape = await httpRequest(`${srv.url}/apt/..%2f..%2flxl.db`);
  assert.ok(escape.status >= 400 && escape.status < 500);
});

test('health, readiness, metrics and the OpenAPI document', async () => {
  assert.deepEqual((await api(srv.url, 'GET', '/healthz')).json, { status: 'ok' });
  const ready = await api(srv.url, 'GET', '/readyz');
  assert.equal(ready.status, 200);
  assert.equal(ready.json.checks.store, 'ok');
  const metrics = await httpRequest(`${srv.url}/metrics`);
  assert.match(metrics.text, /^lxl_uploads_total\{result="rejected"\} \d+/m);
  assert.match(metrics.text, /^lxl_http_requests_total\{method="POST",route="\/api\/v1\/repos\/:repo\/uploads",status="422"\} \d+/m);
  assert.match(metrics.text, /^lxl_jobs\{state="succeeded"\} 1/m);
  const doc = (await api(srv.url, 'GET', '/api/v1/openapi.json')).json;
  assert.equal(doc.openapi, '3.1.0');
  for (const p of ['/api/v1/repos/{repo}/uploads', '/api/v1/repos/{repo}/publish', '/api/v1/jobs/lease', '/api/v1/publishes/{id}']) assert.ok(doc.paths[p], `OpenAPI lacks ${p}`);
  assert.ok(doc.paths['/api/v1/repos'].post.requestBody.content['application/json'].schema.properties.name, 'request schemas come from zod');
});

test('jobs over HTTP: a worker that stops heartbeating loses its lease and another worker retries the job', async () => {
  const q = await api(srv.url, 'POST', '/api/v1/jobs', { token: srv.admin, body: { repo: 'main', kind: 'expiry-test', params: {}, maxAttempts: 2 } });
  assert.equal(q.status, 201);
  const first = await api(srv.url, 'POST', '/api/v1/jobs/lease', { token: srv.builder, body: { owner: 'dying-worker', kinds: ['expiry-test'], ttlSeconds: 0.3 } });
  assert.equal(first.status, 200);
  assert.equal((await api(srv.url, 'POST', '/api/v1/jobs/lease', { token: srv.builder, body: { owner: 'w2', kinds: ['expiry-test'] } })).status, 204, 'not handed out twice');
  await new Promise((r) => setTimeout(r, 400));
  const second = await api(srv.url, 'POST', '/api/v1/jobs/lease', { token: srv.builder, body: { owner: 'w2', kinds: ['expiry-test'], ttlSeconds: 30 } });
  assert.equal(second.status, 200, 'the expired job went back to the queue');
  assert.equal(second.json.job.id, first.json.job.id);
  assert.equal(second.json.job.attempts, 2);
  assert.match(second.json.job.error, /lease of dying-worker expired/);
  const late = await api(srv.url, 'POST', `/api/v1/jobs/${first.json.job.id}/complete`, { token: srv.builder, body: { leaseId: first.json.leaseId } });
  assert.equal(late.status, 409, 'the first worker can no longer complete it');
  const failed = await api(srv.url, 'POST', `/api/v1/jobs/${first.json.job.id}/fail`, { token: srv.builder, body: { leaseId: second.json.leaseId, error: 'patch 0002 rejected', retry: true } });
  assert.equal(failed.json.job.state, 'failed', 'no attempts left: failed, not requeued');
  assert.equal(failed.json.job.error, 'patch 0002 rejected');
});
