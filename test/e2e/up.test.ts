// `lxl up` (npm start): the first run creates the signing key and serves the
// embedded server; a second run reuses the key (--no-build: serving only).
// Missing build prerequisites are named with the apt-get command that
// installs them. A build left leased by an `lxl up` that died is requeued at
// once and redone (with the tests' kernel cache, so only packaging runs).
// Changed build inputs (a patch) with the same kernel version give revision 2
// under a new kernel release, which dnf installs beside revision 1. With
// --ccache, that rebuild compiles only the patched file; the other comes from
// the cache in <var>/cache/ccache.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildCacheKey } from '../../builders/build-cache.js';
import { loadKernelLine } from '../../builders/kernel-line.js';
import { defaultRepoSettings } from '../../server/metadata-store.js';
import { SqliteStore } from '../../server/sqlite-store.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { makeFakeLine } from '../unit/builder-fixtures.js';
import { packRpm, shellSpec } from './rpm-fixture.js';
import { ccacheLinks } from '../../builders/kernel-build.js';
import { kernelBuildUnavailable, KERNEL_CACHE } from '../support/kernel-cache.js';
import { tempDir } from '../support/tmp.js';

const BIN = new URL('../../bin/lxl.mjs', import.meta.url).pathname;

/** Starts `lxl up`, waits for "ready", returns the banner, stderr and a stop function. */
async function up(varDir: string, args: string[] = ['--no-build']): Promise<{ out: string; err: () => string; url: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'up', '--var', varDir, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lxl up did not start:\n${out}\n${err}`)), 600_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && out.includes('lxl up: ready')) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    });
    child.on('exit', (code) => reject(new Error(`lxl up exited ${code}:\n${out}\n${err}`)));
  });
  return {
    out,
    err: () => err,
    url,
    stop: () =>
      new Promise((resolve) => {
        child.removeAllListeners('exit');
        child.on('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

test('lxl up: first run makes the signing key and serves; the second run reuses the key', { timeout: 600_000 }, async () => {
  const varDir = path.join(await tempDir('lxl-up-'), 'var');
  const first = await up(varDir);
  try {
    for (const f of ['linux-xen-legacy.secret.asc', 'linux-xen-legacy.asc', 'linux-xen-legacy.gpg']) assert.ok(existsSync(path.join(varDir, 'keys', f)), `${f} was written`);
    assert.equal(((await (await fetch(`${first.url}/healthz`)).json()) as { status: string }).status, 'ok');
    const repos = (await (await fetch(`${first.url}/api/v1/repos`)).json()) as { repos: Array<{ name: string }> };
    assert.deepEqual(repos.repos.map((r) => r.name), ['linux-xen-legacy']);
    // The guest lines are true: the key, the .sources and .repo files they name are served.
    for (const p of ['/keys/linux-xen-legacy.gpg', '/apt/linux-xen-legacy/linux-xen-legacy.sources', '/yum/linux-xen-legacy.repo', '/apt/linux-xen-legacy/dists/stable/InRelease', '/tarballs/linux-xen-legacy/index.json']) {
      assert.equal((await fetch(`${first.url}${p}`)).status, 200, p);
      assert.ok(first.out.includes(`${first.url}${p.replace(/\/dists\/.*|\/index\.json/, '')}`), `the banner names ${p}`);
    }
    const page = await fetch(`${first.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /No kernels built yet/);
  } finally {
    assert.equal(await first.stop(), 0, 'SIGTERM stops lxl up cleanly');
  }
  const fpr = /Signing key ([0-9A-F]{40})/.exec(first.out)?.[1];
  assert.ok(fpr, 'the banner names the key fingerprint');
  const second = await up(varDir);
  try {
    assert.match(second.out, new RegExp(`Signing key ${fpr}`), 'the second run reuses the key');
  } finally {
    await second.stop();
  }
});

test('lxl up: missing build prerequisites are named with the exact apt-get command, and nothing starts', { timeout: 120_000 }, async () => {
  const dir = await tempDir('lxl-up-prereqs-');
  // A line whose source package is not installed.
  const real = await loadKernelLine('6.1');
  const lineDir = path.join(dir, 'lines', '9.9');
  await mkdir(lineDir, { recursive: true });
  const json = JSON.parse(await readFile(path.join(real.dir, 'line.json'), 'utf8'));
  json.line = '9.9';
  json.source = { tarball: '/nonexistent/linux-source-9.9.tar.xz', debianPackage: 'linux-source-9.9' };
  json.series = real.series;
  json.common = real.common;
  json.arches = Object.fromEntries(Object.entries(real.arches).map(([a, v]) => [a, { fragments: v!.fragments }]));
  json.flavours = Object.fromEntries(Object.entries(real.flavours).map(([n, f]) => [n, { ...f, fragments: f.fragments }]));
  await writeFile(path.join(lineDir, 'line.json'), JSON.stringify(json));
  const varDir = path.join(dir, 'var');
  const r = await lxl(['up', '--var', varDir, '--listen', '127.0.0.1:0', '--line', lineDir, '--flavour', 'minimal'], { allowFail: true, timeoutMs: 60_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Debian package.* missing/);
  assert.match(r.stderr, /linux-source-9\.9 +\(the 9\.9 kernel source\)/);
  assert.match(r.stderr, /apt-get install -y --no-install-recommends (\S+ )*linux-source-9\.9/);
  assert.match(r.stderr, /--install-prereqs/);
  assert.ok(!existsSync(path.join(varDir, 'lxl.db')), 'no server was started');
});

test('lxl up: a build left leased by a dead lxl up is requeued at once and redone, then published', { skip: kernelBuildUnavailable(), timeout: 30 * 60_000 }, async () => {
  const varDir = path.join(await tempDir('lxl-up-resume-'), 'var');
  await mkdir(varDir, { recursive: true });
  // The job a killed `lxl up` was building: leased for an hour by a pid that no longer exists.
  const gone = spawn('true');
  const deadPid = await new Promise<number>((resolve) => gone.on('exit', () => resolve(gone.pid!)));
  const line = await loadKernelLine('6.1');
  const inputs = await buildCacheKey({ line, arch: 'x86_64', flavour: 'minimal' });
  const store = new SqliteStore({ file: path.join(varDir, 'lxl.db') });
  let jobId: string;
  try {
    await store.migrate();
    await store.createRepo('linux-xen-legacy', defaultRepoSettings({ lines: ['6.1'] }), 'test');
    jobId = (await store.enqueueJob({ repo: 'linux-xen-legacy', kind: 'build', params: { line: '6.1', flavour: 'minimal', arch: 'x86_64', inputs } }, 'test')).id;
    const leased = await store.leaseJob({ owner: `${hostname()}:${deadPid}`, ttlMs: 3_600_000 }, 'test');
    assert.equal(leased?.id, jobId);
  } finally {
    await store.close();
  }
  const u = await up(varDir, ['--flavour', 'minimal', '--arch', 'x86_64', '--build-cache', KERNEL_CACHE]);
  try {
    assert.match(u.err(), new RegExp(`requeued job ${jobId}: its worker \\(pid ${deadPid}\\) is gone`));
    assert.match(u.err(), new RegExp(`x86_64: resuming job ${jobId}`));
    assert.doesNotMatch(u.err(), /queued build job/, 'no second job for the same inputs');
    assert.match(u.out, /Kernels: x86_64 6\.1\.\d+-xen-legacy; publish succeeded/);
    const job = ((await (await fetch(`${u.url}/api/v1/jobs/${jobId}`)).json()) as { job: { state: string; attempts: number } }).job;
    assert.equal(job.state, 'succeeded');
    assert.equal(job.attempts, 2, 'the interrupted attempt and the redone one');
    const log = await (await fetch(`${u.url}/api/v1/jobs/${jobId}/log`)).text();
    assert.match(log, /reusing the cached build/);
    const packages = await (await fetch(`${u.url}/apt/linux-xen-legacy/dists/stable/main/binary-amd64/Packages`)).text();
    assert.match(packages, /^Package: linux-xen-legacy$/m, 'promoted to stable and published');
    const token = await readFile(path.join(varDir, 'worker.token'), 'utf8');
    assert.match(token, /^lxl\.tok_/);
    assert.equal(((await run('stat', ['-c', '%a', path.join(varDir, 'worker.token')])).stdout.trim()), '600');
  } finally {
    assert.equal(await u.stop(), 0);
  }
});

type Up = Awaited<ReturnType<typeof up>>;

/**
 * Runs `lxl up` on a fake line (test/unit/builder-fixtures.ts: its "kernel" builds in a second and its release
 * follows CONFIG_LOCALVERSION), changes the line's patch (the kernel version stays), and runs it again; `first` and
 * `second` check each run while it serves.
 */
async function upAroundPatchChange(prefix: string, opts: { gcc?: boolean; args?: string[]; first: (u: Up) => Promise<void>; second: (u: Up, dir: string) => Promise<void> }): Promise<void> {
  const dir = await tempDir(prefix);
  const lineDir = path.join(await makeFakeLine(dir, 'ok', { krel: 'config', gcc: opts.gcc }), '6.1');
  const varDir = path.join(dir, 'var');
  const args = ['--line', lineDir, '--flavour', 'minimal', '--arch', 'x86_64', '--build-cache', path.join(dir, 'kernels'), ...(opts.args ?? [])];
  const first = await up(varDir, args);
  try {
    assert.match(first.out, /Kernels: x86_64 6\.1\.999-xen-legacy; publish succeeded/);
    await opts.first(first);
  } finally {
    assert.equal(await first.stop(), 0);
  }
  const patch = path.join(lineDir, 'patches', '0001-hvc_xen-legacy-tty1.patch');
  await writeFile(patch, (await readFile(patch, 'utf8')).replace('+int b = 43;', '+int b = 44;'));
  const second = await up(varDir, args);
  try {
    assert.match(second.out, /Kernels: x86_64 6\.1\.999-2-xen-legacy; publish succeeded/, second.out + second.err());
    await opts.second(second, dir);
  } finally {
    assert.equal(await second.stop(), 0);
  }
}

test('lxl up: changed build inputs give revision 2 under a new kernel release; dnf installs it beside revision 1', { skip: missingTools('tar', 'xz', 'patch', 'make'), timeout: 10 * 60_000 }, async (t) => {
  // The patch changes; the kernel version does not. Same names with other bytes would be refused: a new revision.
  await upAroundPatchChange('lxl-up-revision-', {
    first: async () => {},
    second: async (second, dir) => {
      assert.match(second.err(), /x86_64: queued build job \S+ \(6\.1 minimal, inputs [0-9a-f]{12}, revision 2: the inputs changed since the last build\)/);
      const packages = await (await fetch(`${second.url}/apt/linux-xen-legacy/dists/stable/main/binary-amd64/Packages`)).text();
      const stanzas = packages.split('\n\n').filter(Boolean).map((s) => `${/^Package: (.*)$/m.exec(s)?.[1]} ${/^Version: (.*)$/m.exec(s)?.[1]}`).sort();
      assert.deepEqual(stanzas, ['linux-image-6.1.999-2-xen-legacy 6.1.999-2', 'linux-image-6.1.999-xen-legacy 6.1.999-1', 'linux-xen-legacy 6.1.999-1', 'linux-xen-legacy 6.1.999-2']);
      const index = (await (await fetch(`${second.url}/tarballs/linux-xen-legacy/index.json`)).json()) as { versions: Array<{ version: string }> };
      assert.deepEqual(index.versions.map((v) => v.version).sort(), ['6.1.999-2-xen-legacy', '6.1.999-xen-legacy']);
      if (missingTools('dnf', 'rpm')) {
        t.diagnostic(`dnf part skipped: ${missingTools('dnf', 'rpm')}`);
        return;
      }
      // rpm keeps installonly kernels side by side: the two revisions must not share a file.
      const root = path.join(dir, 'dnf');
      const reposdir = path.join(root, 'repos');
      await mkdir(reposdir, { recursive: true });
      await writeFile(path.join(reposdir, 'lxl.repo'), await (await fetch(`${second.url}/yum/linux-xen-legacy.repo`)).text());
      const shell = await packRpm(await shellSpec(root, '/bin/busybox'), path.join(root, 'shell-rpm'));
      const dnf = (...a: string[]) =>
        run('dnf', ['-y', '--installroot', path.join(root, 'root'), '--releasever', '9', '--setopt', `reposdir=${reposdir}`, '--setopt', `cachedir=${path.join(root, 'cache')}`, '--setopt', 'install_weak_deps=0', '--nodocs', ...a], { timeoutMs: 300_000 });
      await dnf('install', 'kernel-xen-legacy-6.1.999-1', shell);
      await dnf('upgrade', 'kernel-xen-legacy');
      const installed = (await run('rpm', ['--root', path.join(root, 'root'), '-q', '--qf', '%{VERSION}-%{RELEASE}\\n', 'kernel-xen-legacy'])).stdout.trim().split('\n').sort();
      assert.deepEqual(installed, ['6.1.999-1', '6.1.999-2']);
      for (const krel of ['6.1.999-xen-legacy', '6.1.999-2-xen-legacy']) assert.ok(existsSync(path.join(root, 'root', 'boot', `vmlinuz-${krel}`)), `vmlinuz-${krel} installed`);
    },
  });
});

test('lxl up --ccache: the rebuild after a patch change compiles only the patched file, the other comes from <var>/cache/ccache', { skip: missingTools('tar', 'xz', 'patch', 'make', 'gcc') || (ccacheLinks() ? false : 'ccache is not installed (apt-get install ccache)'), timeout: 10 * 60_000 }, async () => {
  // The fake line's `make bzImage` compiles hvc_xen.c (which the patch changes) and lib/legacy.c with gcc, as kbuild does.
  let ccacheDir = '';
  const buildLog = async (u: Up): Promise<string> => {
    const id = /x86_64: queued build job (\S+)/.exec(u.err())?.[1];
    assert.ok(id, u.err());
    return (await fetch(`${u.url}/api/v1/jobs/${id}/log`)).text();
  };
  await upAroundPatchChange('lxl-up-ccache-', {
    gcc: true,
    args: ['--ccache'],
    first: async (first) => {
      const log = await buildLog(first);
      ccacheDir = /compiling through ccache \(\/usr\/lib(?:64)?\/ccache\), cache (\S+)/.exec(log)?.[1] ?? '';
      assert.match(ccacheDir, /\/var\/cache\/ccache$/, `${log}\nthe cache is <var>/cache/ccache`);
      assert.ok(existsSync(ccacheDir));
      assert.ok(log.includes(`ccache: 0 of 2 compiles came from the cache (${ccacheDir})`), `${log}\na cold cache: both compiled`);
    },
    // Another work tree (a fresh unpack); CCACHE_BASEDIR makes the untouched file's compile a hit all the same.
    second: async (second) => assert.ok((await buildLog(second)).includes(`ccache: 1 of 2 compiles came from the cache (${ccacheDir})`)),
  });
});
