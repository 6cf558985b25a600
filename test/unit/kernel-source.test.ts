// Source fetching: a URL source is downloaded once into the shared cache and
// checked against its sha256 (and a PGP signature made with a throwaway key,
// checked by the real gpgv); a wrong hash or signature is refused; a missing
// local tarball names the Debian package to install.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KernelBuildError } from '../../builders/kernel-errors.js';
import { fetchSource, unpackSource } from '../../builders/kernel-source.js';
import { missingTools, run } from '../support/exec.js';
import { serveStatic } from '../support/http-static.js';
import { tempDir } from '../support/tmp.js';

async function fakeTarball(dir: string): Promise<{ file: string; sha256: string }> {
  const tree = path.join(dir, 'tree', 'linux-9.9');
  await mkdir(tree, { recursive: true });
  await writeFile(path.join(tree, 'Makefile'), 'VERSION = 9\n');
  const file = path.join(dir, 'www', 'linux-9.9.tar.gz');
  await mkdir(path.dirname(file), { recursive: true });
  await run('tar', ['-czf', file, '-C', path.join(dir, 'tree'), 'linux-9.9']);
  return { file, sha256: createHash('sha256').update(await readFile(file)).digest('hex') };
}

test('a URL source is downloaded once, checked by sha256, and unpacked', { skip: missingTools('tar', 'gzip') }, async () => {
  const dir = await tempDir('lxl-ksrc-');
  const { file, sha256 } = await fakeTarball(dir);
  const srv = await serveStatic(path.dirname(file));
  try {
    const source = { kind: 'url', url: `${srv.url}/linux-9.9.tar.gz`, sha256, signedContent: 'file' } as const;
    const cacheDir = path.join(dir, 'cache');
    const got = await fetchSource(source, { cacheDir });
    assert.equal(createHash('sha256').update(await readFile(got)).digest('hex'), sha256);
    await fetchSource(source, { cacheDir });
    assert.equal(srv.requests.filter((r) => r.endsWith('.tar.gz')).length, 1, 'second fetch uses the cache');
    const tree = await unpackSource(got, path.join(dir, 'work'));
    assert.equal(path.basename(tree), 'linux-9.9');
    assert.equal(await readFile(path.join(tree, 'Makefile'), 'utf8'), 'VERSION = 9\n');

    const bad = { ...source, sha256: '0'.repeat(64) };
    await assert.rejects(fetchSource(bad, { cacheDir: path.join(dir, 'cache2') }), (e: unknown) => e instanceof KernelBuildError && e.phase === 'fetch' && /sha256 is [0-9a-f]{64}, the line expects 0{64}/.test(e.message));
  } finally {
    await srv.close();
  }
});

test('a PGP-signed URL source is checked with gpgv against the line keyring', { skip: missingTools('gpg', 'gpgv', 'tar') }, async () => {
  const dir = await tempDir('lxl-ksig-');
  const { file, sha256 } = await fakeTarball(dir);
  const home = path.join(dir, 'gnupg');
  await mkdir(home, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  await run('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'lxl test <t@example.org>', 'ed25519', 'sign', '1d'], { env });
  await run('gpg', ['--batch', '--detach-sign', '-o', `${file}.sign`, file], { env });
  const keyring = path.join(dir, 'keyring.gpg');
  await run('sh', ['-c', 'gpg --export > "$1"', 'sh', keyring], { env });
  const srv = await serveStatic(path.dirname(file));
  try {
    const source = { kind: 'url', url: `${srv.url}/linux-9.9.tar.gz`, sha256, signatureUrl: `${srv.url}/linux-9.9.tar.gz.sign`, keyring, signedContent: 'file' } as const;
    assert.ok(await fetchSource(source, { cacheDir: path.join(dir, 'c1') }));
    // A signature over other bytes is refused.
    await writeFile(`${file}.other`, 'other');
    await run('gpg', ['--batch', '--yes', '--detach-sign', '-o', `${file}.sign`, `${file}.other`], { env });
    await assert.rejects(fetchSource(source, { cacheDir: path.join(dir, 'c2') }), /fetch: cannot check the PGP signature/);
  } finally {
    await srv.close();
  }
});

test('a missing local tarball names the package that provides it', async () => {
  await assert.rejects(
    fetchSource({ kind: 'tarball', tarball: '/nonexistent/linux-source-9.9.tar.xz', debianPackage: 'linux-source-9.9' }, { cacheDir: '/tmp' }),
    /fetch: cannot find source tarball \/nonexistent\/linux-source-9\.9\.tar\.xz; install it with apt-get install linux-source-9\.9/,
  );
});
