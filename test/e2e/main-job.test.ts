// The main job end to end, from the README's own command: `npm start` (lxl up)
// on a fresh state folder, with the minimal flavour and the build cache the
// other kernel tests fill (LXL_BUILD_CACHE=$LXL_TEST_CACHE/kernels, so no extra
// kernel is built here). It checks prerequisites, makes the key, builds and
// publishes x86_64 and i386, prints the guest lines and keeps serving. Then,
// with signature checks on, as guests would:
//   - a bookworm chroot installs linux-xen-legacy with apt-get;
//   - dnf --installroot installs kernel-xen-legacy from the served .repo file;
//   - curl fetches each tarball with its folder's SHA256SUMS(.asc): gpgv and
//     sha256sum -c pass, it unpacks to boot/ + lib/modules/<krel>/, depmod -b works;
//   - headless Chromium shows the archive page (versions, install lines) and saves a screenshot.
// A second `npm start` on the same folder resumes: nothing is rebuilt.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { missingTools, run } from '../support/exec.js';
import { cachedKernel, kernelBuildUnavailable, KERNEL_CACHE } from '../support/kernel-cache.js';
import { tempDir } from '../support/tmp.js';
import { packRpm, shellSpec } from './rpm-fixture.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const skip = kernelBuildUnavailable() ?? missingTools('npm', 'curl', 'gpgv', 'sha256sum', 'tar', 'xz', 'depmod');

interface Up {
  child: ChildProcess;
  out: string;
  err: () => string;
  url: string;
  /** SIGTERM to npm and lxl; resolves to npm's exit code, or the signal npm re-raised on itself after lxl exited. */
  stop: () => Promise<number | string | null>;
}

const ups: Up[] = [];
after(async () => {
  for (const u of ups) await u.stop();
});

/** The README's main-job command, `npm start`, with the test's folder, port, flavour and build cache in the environment. */
async function npmStart(varDir: string): Promise<Up> {
  const env = { ...process.env, LXL_VAR: varDir, LXL_LISTEN: '127.0.0.1:0', LXL_FLAVOUR: 'minimal', LXL_BUILD_CACHE: KERNEL_CACHE };
  // Its own process group, so stopping it stops npm and lxl alike.
  const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b));
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start was not ready in 25 min:\n${out}\n${err.slice(-5000)}`)), 25 * 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && /lxl up: ready/.test(out)) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited ${code}:\n${out}\n${err.slice(-5000)}`));
    });
  });
  let stopped: Promise<number | string | null> | undefined;
  const up: Up = {
    child,
    get out() {
      return out;
    },
    err: () => err,
    url,
    stop: () => {
      stopped ??= (async () => {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          /* already gone */
        }
        return exited;
      })();
      return stopped;
    },
  };
  ups.push(up);
  return up;
}

async function fetchTo(url: string, file: string): Promise<void> {
  await run('curl', ['-fsSL', '-o', file, url]);
}

test('npm start: the main job builds, publishes and serves; guests install with signature checks; the archive page shows it', { skip, timeout: 60 * 60_000 }, async (t) => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /^npm ci && npm start$/m, 'the README gives the main-job command');
  // Fill the shared cache first (normally the other kernel tests already did): lxl up then only packages.
  const kernels = { x86_64: await cachedKernel({ arch: 'x86_64' }), i386: await cachedKernel({ arch: 'i386' }) };
  const krel = kernels.x86_64.krel;

  // Not tempDir(): the state folder must outlive the subtests' own cleanup.
  const varDir = path.join(await tempDir('lxl-main-job-'), 'var');
  const started = Date.now();
  const up = await npmStart(varDir);
  t.diagnostic(`npm start was ready in ${Math.round((Date.now() - started) / 1000)} s`);
  const out = up.out;
  const err = up.err();
  assert.match(err, /build prerequisites: all installed/);
  assert.match(err, /first run: generating the repo signing key/);
  assert.match(err, /x86_64: queued build job/);
  assert.match(err, /i386: queued build job/);
  assert.match(err, /"phase":"package"|% package/, 'build progress is shown');
  assert.match(out, new RegExp(`Kernels: x86_64 ${krel.replace(/\./g, '\\.')}, i386 ${krel.replace(/\./g, '\\.')}; publish succeeded`));
  const fpr = /Signing key ([0-9A-F]{40})/.exec(out)?.[1];
  assert.ok(fpr, out);
  const url = up.url;

  // The printed lines are the published files.
  const listLine = /sources\.list: (deb \[signed-by=\S+\] \S+ stable main)/.exec(out)?.[1];
  assert.ok(listLine, out);
  assert.equal((await (await fetch(`${url}/apt/linux-xen-legacy/linux-xen-legacy.list`)).text()).trim(), listLine);
  assert.match(out, new RegExp(`${url}/apt/linux-xen-legacy/linux-xen-legacy\\.sources`));
  assert.match(out, new RegExp(`${url}/yum/linux-xen-legacy\\.repo`));
  const keyDir = await tempDir('lxl-main-job-key-');
  const keyring = path.join(keyDir, 'linux-xen-legacy.gpg');
  await fetchTo(`${url}/keys/linux-xen-legacy.gpg`, keyring);
  const shown = await run('gpg', ['--homedir', keyDir, '--with-colons', '--show-keys', keyring], { allowFail: true });
  if (shown.code === 0) assert.match(shown.stdout, new RegExp(`^fpr:+${fpr}:`, 'm'), 'the printed fingerprint is the published key');

  await t.test('apt-get installs linux-xen-legacy in a bookworm chroot from the printed .sources', { skip: chrootUnavailable() }, async () => {
    const c = await makeChroot('bookworm', { include: ['kmod'] });
    try {
      await rm(path.join(c.root, 'etc/apt/sources.list'), { force: true });
      await rm(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
      await mkdir(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true });
      await mkdir(path.join(c.root, 'etc/apt/keyrings'), { recursive: true });
      // The README's guest steps (curl runs on the host: the chroot shares its network and has no curl).
      await fetchTo(`${url}/keys/linux-xen-legacy.gpg`, path.join(c.root, 'etc/apt/keyrings/linux-xen-legacy.gpg'));
      await fetchTo(`${url}/apt/linux-xen-legacy/linux-xen-legacy.sources`, path.join(c.root, 'etc/apt/sources.list.d/linux-xen-legacy.sources'));
      const upd = await c.run(['apt-get', 'update']);
      assert.doesNotMatch(`${upd.stdout}${upd.stderr}`, /^(W|E):/m, upd.stdout + upd.stderr);
      await c.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', '--no-install-recommends', 'linux-xen-legacy']);
      assert.deepEqual(await readFile(path.join(c.root, 'boot', `vmlinuz-${krel}`)), await readFile(kernels.x86_64.bzImage));
      assert.ok((await stat(path.join(c.root, 'lib/modules', krel, 'modules.dep'))).isFile(), 'depmod ran');
    } finally {
      await removeChroot(c);
    }
  });

  await t.test('dnf --installroot installs kernel-xen-legacy from the served .repo file', { skip: missingTools('dnf', 'rpm') }, async (st) => {
    const root = await tempDir('lxl-main-job-dnf-');
    const reposdir = path.join(root, 'repos');
    await mkdir(reposdir);
    const repoFile = path.join(reposdir, 'linux-xen-legacy.repo');
    await fetchTo(`${url}/yum/linux-xen-legacy.repo`, repoFile);
    const repoText = await readFile(repoFile, 'utf8');
    assert.match(repoText, /^gpgcheck=1$/m);
    assert.match(repoText, /^repo_gpgcheck=1$/m);
    const id = /^\[([^\]]+)\]$/m.exec(repoText)![1];
    // Is the published rpm signed (server-side rpm signing)? Then gpgcheck stays on.
    const rpmUrl = `${url}/yum/linux-xen-legacy/Packages/k/kernel-xen-legacy-${kernels.x86_64.version}-1.x86_64.rpm`;
    await fetchTo(rpmUrl, path.join(root, 'k.rpm'));
    const sig = (await run('rpm', ['-qp', '--nosignature', '--qf', '%{RSAHEADER:pgpsig}', path.join(root, 'k.rpm')])).stdout.trim();
    const signed = sig !== '(none)' && sig !== '';
    if (!signed) st.diagnostic('the published rpm is unsigned: gpgcheck=0 (repo_gpgcheck stays 1)');
    const shell = await packRpm(await shellSpec(root, '/bin/busybox'), path.join(root, 'shell-rpm'));
    const dnf = await run('dnf', ['-y', '--installroot', path.join(root, 'root'), '--releasever', '9', '--setopt', `reposdir=${reposdir}`, '--setopt', `cachedir=${path.join(root, 'cache')}`, '--setopt', 'install_weak_deps=0', '--nodocs',
      ...(signed ? [] : ['--setopt', `${id}.gpgcheck=0`]), 'install', 'kernel-xen-legacy', shell], { timeoutMs: 300_000 });
    assert.doesNotMatch(dnf.stdout + dnf.stderr, /scriptlet failure|scriptlet failed/i, dnf.stdout + dnf.stderr);
    assert.equal((await run('rpm', ['--root', path.join(root, 'root'), '-q', '--qf', '%{VERSION}-%{RELEASE}', 'kernel-xen-legacy'])).stdout, `${kernels.x86_64.version}-1`);
    assert.deepEqual(await readFile(path.join(root, 'root', 'boot', `vmlinuz-${krel}`)), await readFile(kernels.x86_64.bzImage));
    st.diagnostic(`rpm signature checked by dnf: ${signed ? 'yes (gpgcheck=1)' : 'no (unsigned rpm)'}`);
  });

  await t.test('curl + gpgv + sha256sum -c: each tarball of the index verifies, unpacks to boot/ and lib/modules/<krel>/, depmod -b works', async () => {
    const index = (await (await fetch(`${url}/tarballs/linux-xen-legacy/index.json`)).json()) as {
      latest: { stable: Record<string, string> };
      versions: Array<{ version: string; dir: string; arches: Record<string, { channel: string; files: Array<{ name: string; path: string; sha256: string }> }> }>;
    };
    assert.deepEqual(index.latest.stable, { i386: krel, x86_64: krel });
    const v = index.versions.find((x) => x.version === krel)!;
    assert.deepEqual(Object.keys(v.arches).sort(), ['i386', 'x86_64']);
    for (const arch of ['x86_64', 'i386'] as const) {
      const dir = await tempDir(`lxl-main-job-tar-${arch}-`);
      const file = v.arches[arch].files.find((f) => f.name.endsWith('.tar.xz'))!;
      const base = `${url}/tarballs/linux-xen-legacy/${v.dir}`;
      await run('curl', ['-fsSLO', `${url}/tarballs/linux-xen-legacy/${file.path}`, '-O', `${base}SHA256SUMS`, '-O', `${base}SHA256SUMS.asc`], { cwd: dir });
      await fetchTo(`${url}/keys/linux-xen-legacy.gpg`, path.join(dir, 'linux-xen-legacy.gpg'));
      await run('gpgv', ['--keyring', './linux-xen-legacy.gpg', 'SHA256SUMS.asc', 'SHA256SUMS'], { cwd: dir });
      const sums = await readFile(path.join(dir, 'SHA256SUMS'), 'utf8');
      assert.match(sums, new RegExp(`^${file.sha256}  ${file.name.replace(/[.+]/g, '\\$&')}$`, 'm'));
      const check = await run('sha256sum', ['-c', '--ignore-missing', 'SHA256SUMS'], { cwd: dir });
      assert.match(check.stdout, new RegExp(`${file.name.replace(/[.+]/g, '\\$&')}: OK`));
      const x = path.join(dir, 'root');
      await mkdir(x);
      await run('tar', ['-xJf', path.join(dir, file.name), '-C', x]);
      assert.ok((await stat(path.join(x, 'boot', `vmlinuz-${krel}`))).isFile());
      assert.deepEqual(await readFile(path.join(x, 'boot', `vmlinuz-${krel}`)), await readFile(kernels[arch].bzImage));
      assert.ok((await stat(path.join(x, 'lib/modules', krel))).isDirectory());
      await run('depmod', ['-b', x, krel]);
      assert.ok(existsSync(path.join(x, 'lib/modules', krel, 'modules.dep')), 'depmod -b wrote modules.dep');
    }
  });

  await t.test('headless Chromium shows the archive page: versions per arch and install lines; screenshot saved', { skip: missingTools('chromium') }, async (st) => {
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--user-data-dir=${await tempDir('lxl-chromium-')}`];
    const dom = (await run('chromium', [...flags, '--dump-dom', `${url}/`], { timeoutMs: 120_000 })).stdout;
    for (const s of ['<h3>x86_64</h3>', '<h3>i386</h3>', `${kernels.x86_64.version}-1`, krel, 'published', `sha256 `,
      `deb [signed-by=/etc/apt/keyrings/linux-xen-legacy.gpg] ${url}/apt/linux-xen-legacy stable main`,
      `${url}/yum/linux-xen-legacy.repo`, 'dnf install kernel-xen-legacy', 'zypper addrepo', 'SHA256SUMS.asc', fpr]) {
      assert.ok(dom.includes(s), `the page lacks ${s}`);
    }
    assert.match(dom, /<meta name="viewport"/);
    // Kept after the test (not a tempDir) so the screenshot can be looked at.
    const shots = path.join(os.tmpdir(), 'lxl-main-job-screenshots');
    await mkdir(shots, { recursive: true });
    for (const [name, size] of [['archive-page-phone.png', '412,2600'], ['archive-page-desktop.png', '1280,1800']] as const) {
      const png = path.join(shots, name);
      await rm(png, { force: true });
      await run('chromium', [...flags, '--hide-scrollbars', `--window-size=${size}`, `--screenshot=${png}`, `${url}/`], { timeoutMs: 120_000 });
      const head = (await readFile(png)).subarray(0, 8);
      assert.deepEqual(head, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), `${png} is a PNG`);
      st.diagnostic(`screenshot: ${png}`);
      process.stdout.write(`# archive page screenshot: ${png}\n`);
    }
  });

  await stopCleanly(up, varDir);
  const jobsBefore = await jobCount(varDir);

  await t.test('a second npm start resumes: nothing is rebuilt, the repo is served again', async () => {
    const again = await npmStart(varDir);
    try {
      assert.match(again.err(), /x86_64: already built/);
      assert.match(again.err(), /i386: already built/);
      assert.doesNotMatch(again.err(), /queued build job|first run/);
      assert.match(again.out, new RegExp(`Signing key ${fpr}`));
      const jobs = (await (await fetch(`${again.url}/api/v1/jobs`)).json()) as { jobs: unknown[] };
      assert.equal(jobs.jobs.length, jobsBefore, 'no new jobs');
      assert.equal((await fetch(`${again.url}/apt/linux-xen-legacy/dists/stable/InRelease`)).status, 200);
    } finally {
      await stopCleanly(again, varDir);
    }
  });
});

/** npm forwards SIGTERM to lxl up and then re-raises it on itself; lxl's clean stop shows as its released state folder. */
async function stopCleanly(up: Up, varDir: string): Promise<void> {
  const r = await up.stop();
  assert.ok(r === 0 || r === 'SIGTERM', `npm start ended with ${r}:\n${up.err().slice(-3000)}`);
  // npm may exit before its child has finished closing: give lxl up the time to close.
  for (let i = 0; i < 600 && existsSync(path.join(varDir, 'server.pid')); i++) await new Promise((res) => setTimeout(res, 100));
  assert.ok(!existsSync(path.join(varDir, 'server.pid')), 'lxl up closed the server and released the state folder');
}

async function jobCount(varDir: string): Promise<number> {
  const { SqliteStore } = await import('../../server/sqlite-store.js');
  const store = new SqliteStore({ file: path.join(varDir, 'lxl.db') });
  try {
    await store.migrate();
    return (await store.listJobs()).length;
  } finally {
    await store.close();
  }
}
