// The archive page renderer (server/archive-page.ts), the tarball index
// (repo-layout/tarball/tarball-index.ts) and the build-prerequisite check
// (builders/prereqs.ts): pure functions, checked on fixed data.

import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { renderArchivePage, type ArchivePageData } from '../../server/archive-page.js';
import { formatTarballIndex, tarballIndex, tarballVersionDir, type TarballEntry } from '../../repo-layout/tarball/tarball-index.js';
import { BUILD_PREREQS, checkLineSources, describeMissing, ensurePrereqs, installCommand, missingPrereqs, prereqsFor, type Prereq } from '../../builders/prereqs.js';
import { KERNEL_LINES_DIR, loadKernelLine } from '../../builders/kernel-line.js';
import { lxl } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

const SHA = (c: string) => c.repeat(64);

function pageData(over: Partial<ArchivePageData> = {}): ArchivePageData {
  return {
    baseUrl: 'http://repo.example.org',
    keyName: 'linux-xen-legacy',
    fingerprint: 'E1D15D733EE576D9283F48A400DAB29B10019E22',
    generated: new Date('2025-01-02T03:04:05Z'),
    version: '0.1.0',
    repos: [
      {
        name: 'linux-xen-legacy',
        lastPublish: { state: 'succeeded', at: Date.parse('2025-01-02T03:00:00Z') },
        kernels: [
          {
            version: '6.1.192-1', krel: '6.1.192-xen-legacy', arch: 'x86_64', flavour: 'full', line: '6.1', status: 'published', channel: 'stable', date: Date.parse('2025-01-01T10:00:00Z'),
            sha256sums: 'tarballs/linux-xen-legacy/6.1.192-xen-legacy/SHA256SUMS',
            packages: [
              { kind: 'deb', name: 'linux-xen-legacy', filename: 'linux-xen-legacy_6.1.192-1_amd64.deb', href: 'apt/linux-xen-legacy/pool/main/l/linux-xen-legacy/linux-xen-legacy_6.1.192-1_amd64.deb', sha256: SHA('a'), size: 700 },
              { kind: 'tarball', name: 'linux-xen-legacy.tar.xz', filename: 'linux-xen-legacy-6.1.192-xen-legacy-x86_64.tar.xz', href: 'tarballs/linux-xen-legacy/6.1.192-xen-legacy/linux-xen-legacy-6.1.192-xen-legacy-x86_64.tar.xz', sha256: SHA('b'), size: 2_500_000 },
            ],
          },
          { version: '6.1.193 (next)', arch: 'i386', flavour: 'full', line: '6.1', status: 'failed', detail: 'compile: make exited 2 <script>alert(1)</script>', date: Date.parse('2025-01-02T00:00:00Z'), packages: [] },
        ],
      },
    ],
    ...over,
  };
}

test('archive page: phone-ready HTML without scripts, versions per arch with status, date, links, checksums and install lines', () => {
  const html = renderArchivePage(pageData());
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
  assert.match(html, /@media \(max-width:40rem\)/, 'a narrow-screen layout');
  assert.doesNotMatch(html, /<script/i, 'no JavaScript, and the failure text is escaped');
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.ok(html.indexOf('<h3>x86_64</h3>') < html.indexOf('<h3>i386</h3>'), 'x86_64 first');
  assert.match(html, /<strong>6\.1\.192-1<\/strong><br><code>6\.1\.192-xen-legacy<\/code>/);
  assert.match(html, /class="status published">published<\/span><span class="chan">stable<\/span>/);
  assert.match(html, /class="status failed">failed<\/span>/);
  assert.match(html, /2025-01-01 10:00 UTC/);
  assert.match(html, /href="http:\/\/repo\.example\.org\/apt\/linux-xen-legacy\/pool\/main\/l\/linux-xen-legacy\/linux-xen-legacy_6\.1\.192-1_amd64\.deb"/);
  assert.match(html, new RegExp(`sha256 ${SHA('b')}`));
  assert.match(html, /\(2\.4 MiB\)/);
  assert.match(html, /href="http:\/\/repo\.example\.org\/tarballs\/linux-xen-legacy\/6\.1\.192-xen-legacy\/SHA256SUMS\.asc"/);
  assert.match(html, /E1D15D733EE576D9283F48A400DAB29B10019E22/);
  for (const line of [
    'deb [signed-by=/etc/apt/keyrings/linux-xen-legacy.gpg] http://repo.example.org/apt/linux-xen-legacy stable main',
    'curl -fsSL -o /etc/yum.repos.d/linux-xen-legacy.repo http://repo.example.org/yum/linux-xen-legacy.repo',
    'zypper addrepo http://repo.example.org/yum/linux-xen-legacy linux-xen-legacy',
    'gpgv --keyring ./linux-xen-legacy.gpg SHA256SUMS.asc SHA256SUMS &amp;&amp; sha256sum -c --ignore-missing SHA256SUMS',
    'curl -fsSLO http://repo.example.org/tarballs/linux-xen-legacy/6.1.192-xen-legacy/linux-xen-legacy-6.1.192-xen-legacy-x86_64.tar.xz',
  ]) assert.ok(html.includes(line), `install line missing: ${line}`);
});

test('archive page: every value is HTML-escaped (repo names, URLs, versions)', () => {
  const evil = '"><img src=x onerror=alert(1)>';
  const d = pageData({ baseUrl: `http://h${evil}` });
  d.repos[0].kernels[0].version = evil;
  d.repos[0].kernels[0].packages[0].filename = evil;
  const html = renderArchivePage(d);
  assert.doesNotMatch(html, /<img/);
  assert.doesNotMatch(html, /"><img/);
  assert.match(html, /&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;/);
});

test('archive page: empty server says so', () => {
  const html = renderArchivePage(pageData({ repos: [] }));
  assert.match(html, /No repositories yet/);
  const none = renderArchivePage(pageData({ repos: [{ name: 'r', kernels: [] }] }));
  assert.match(none, /No kernels built yet/);
  assert.match(none, /Not published yet/);
});

const entry = (krel: string, arch: string, ext: string, channel: 'testing' | 'stable', c: string, createdAt = 1_700_000_000_000): TarballEntry => ({
  krel, arch, line: '6.1', filename: `linux-xen-legacy-${krel}-${arch}.tar.${ext}`, sha256: SHA(c), size: 100, channel, createdAt,
});

test('tarball index: versions newest first, arches with channel and files, latest per channel and arch', () => {
  const idx = tarballIndex({
    repo: 'main',
    generated: new Date('2025-01-01T00:00:00Z'),
    keyPath: 'keys/linux-xen-legacy.asc',
    entries: [
      entry('6.1.9-xen-legacy', 'x86_64', 'xz', 'stable', 'a'),
      entry('6.1.10-xen-legacy', 'x86_64', 'xz', 'testing', 'b', 1_700_000_100_000),
      entry('6.1.10-xen-legacy', 'x86_64', 'gz', 'testing', 'c'),
      entry('6.1.10-xen-legacy', 'i386', 'xz', 'stable', 'd'),
      entry('6.1.9-xen-legacy', 'i386', 'xz', 'stable', 'e'),
    ],
  });
  assert.deepEqual(idx.versions.map((v) => v.version), ['6.1.10-xen-legacy', '6.1.9-xen-legacy'], 'dpkg order: 6.1.10 > 6.1.9');
  const v10 = idx.versions[0];
  assert.equal(v10.dir, '6.1.10-xen-legacy/');
  assert.equal(v10.sha256sums, '6.1.10-xen-legacy/SHA256SUMS');
  assert.equal(v10.signature, '6.1.10-xen-legacy/SHA256SUMS.asc');
  assert.equal(v10.date, new Date(1_700_000_100_000).toISOString());
  assert.deepEqual(Object.keys(v10.arches), ['i386', 'x86_64']);
  assert.equal(v10.arches.x86_64.channel, 'testing');
  assert.deepEqual(v10.arches.x86_64.files.map((f) => [f.name, f.compression]), [['linux-xen-legacy-6.1.10-xen-legacy-x86_64.tar.gz', 'gzip'], ['linux-xen-legacy-6.1.10-xen-legacy-x86_64.tar.xz', 'xz']]);
  assert.equal(v10.arches.x86_64.files[1].path, '6.1.10-xen-legacy/linux-xen-legacy-6.1.10-xen-legacy-x86_64.tar.xz');
  assert.deepEqual(idx.latest, { stable: { i386: '6.1.10-xen-legacy', x86_64: '6.1.9-xen-legacy' }, testing: { i386: '6.1.10-xen-legacy', x86_64: '6.1.10-xen-legacy' } });
  const text = formatTarballIndex(idx);
  assert.ok(text.endsWith('}\n'));
  assert.deepEqual(JSON.parse(text), idx);
  assert.equal(formatTarballIndex(tarballIndex({ repo: 'main', generated: new Date(0), keyPath: 'k', entries: [...[entry('6.1.9-xen-legacy', 'x86_64', 'xz', 'stable', 'a')]] })), formatTarballIndex(tarballIndex({ repo: 'main', generated: new Date(0), keyPath: 'k', entries: [entry('6.1.9-xen-legacy', 'x86_64', 'xz', 'stable', 'a')] })), 'deterministic');
});

test('tarball index: a version folder name must be a kernel release', () => {
  assert.equal(tarballVersionDir('main', '6.1.192+1~x-xen-legacy'), 'tarballs/main/6.1.192+1~x-xen-legacy');
  for (const bad of ['../etc', '6.1/../../x', '.hidden', '']) assert.throws(() => tarballVersionDir('main', bad), /not a kernel release/);
});

test('prereqs: missing packages are named with the exact apt-get command', async () => {
  const line = await loadKernelLine('6.1');
  const all = prereqsFor([line]);
  assert.ok(all.some((p) => p.package === 'linux-source-6.1' && p.probes.includes('/usr/src/linux-source-6.1.tar.xz')));
  assert.deepEqual(missingPrereqs(all, () => true), []);
  const missing = missingPrereqs(all, (f) => !f.includes('bison') && !f.includes('linux-source'));
  assert.deepEqual(missing.map((p) => p.package), ['bison', 'linux-source-6.1']);
  assert.equal(installCommand(missing, true), 'apt-get update && apt-get install -y --no-install-recommends bison linux-source-6.1');
  assert.equal(installCommand(missing, false), 'sudo apt-get update && sudo apt-get install -y --no-install-recommends bison linux-source-6.1');
  const msg = describeMissing(missing);
  assert.match(msg, /2 Debian packages are missing/);
  assert.match(msg, /--install-prereqs/);
});

test('prereqs: --ccache adds ccache, probed by the gcc link a build puts first on PATH', async () => {
  const line = await loadKernelLine('6.1');
  assert.ok(!prereqsFor([line]).some((p) => p.package === 'ccache'), 'not without --ccache');
  const withCcache = prereqsFor([line], { ccache: true });
  const cc = withCcache.find((p) => p.package === 'ccache');
  assert.deepEqual(cc?.probes, ['/usr/lib/ccache/gcc', '/usr/lib64/ccache/gcc']);
  // Installed when either folder has the link (here only /usr/lib64, as on Fedora), as ccacheLinks() sees it.
  assert.deepEqual(missingPrereqs(withCcache, (f) => f === '/usr/lib64/ccache/gcc' || !f.includes('ccache')), []);
  const missing = missingPrereqs(withCcache, (f) => !f.includes('ccache'));
  assert.deepEqual(missing.map((p) => p.package), ['ccache']);
  assert.match(describeMissing(missing), /ccache +\(compiler cache \(--ccache\)\)/);
  assert.equal(installCommand(missing, true), 'apt-get update && apt-get install -y --no-install-recommends ccache');
});

test('prereqs: ensurePrereqs says all is there, refuses with the install command, or installs and checks again', async () => {
  const needed = prereqsFor([], { ccache: true });
  const said: string[] = [];
  const say = (m: string) => said.push(m);
  await ensurePrereqs(needed, { exists: () => true, say });
  assert.deepEqual(said, ['build prerequisites: all installed']);
  // Missing, not installing: a ConfigError naming the package and the command; the installer is never called.
  const installed = new Set<string>();
  const exists = (f: string) => !f.includes('ccache') || installed.has('ccache');
  let calls = 0;
  const installer = async (missing: readonly Prereq[]) => {
    calls++;
    for (const p of missing) installed.add(p.package);
  };
  await assert.rejects(ensurePrereqs(needed, { exists, installer }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'E_CONFIG');
    assert.match(err.message, /1 Debian package is missing:\n {2}ccache/);
    assert.match(err.message, /apt-get install -y --no-install-recommends ccache/);
    return true;
  });
  assert.equal(calls, 0);
  // Installing: the installer gets exactly what is missing, and the check is made again.
  said.length = 0;
  await ensurePrereqs(needed, { exists, installer, install: true, say });
  assert.equal(calls, 1);
  assert.deepEqual(said, ['installing ccache ...']);
  // An install that leaves a package missing still fails, naming it.
  await assert.rejects(ensurePrereqs(needed, { exists: (f) => !f.includes('bison'), installer: async () => {}, install: true }), /bison/);
});

test('prereqs: lxl worker checks the build toolchain before it leases a job (not with --stage-from)', async () => {
  // Port 9 (discard) refuses the connection: the worker gets as far as its first lease and stops there.
  const args = ['worker', '--server', 'http://127.0.0.1:9', '--token', 't', '--once', '--ccache', '--poll', '1'];
  const missing = missingPrereqs(prereqsFor([], { ccache: true }));
  const r = await lxl(args, { allowFail: true });
  assert.notEqual(r.code, 0);
  if (missing.length === 0) {
    assert.match(r.stderr, /lxl worker: build prerequisites: all installed/);
  } else {
    // On a machine without them (not CI, which installs .ci/apt-packages.txt): refused before any lease.
    assert.match(r.stderr, new RegExp(`cannot build kernels: ${missing.length} Debian package`));
    for (const p of missing) assert.ok(r.stderr.includes(p.package), p.package);
  }
  const staged = await lxl([...args, '--stage-from', '/nonexistent'], { allowFail: true });
  assert.doesNotMatch(staged.stderr, /build prerequisites|cannot build kernels/);
});

test('prereqs: a worker warns about each line whose source package is missing, or installs it with --install-prereqs', async () => {
  const line = await loadKernelLine('6.1');
  const warned: string[] = [];
  const said: string[] = [];
  const installed = new Set<string>();
  const exists = (f: string) => !f.includes('linux-source') || installed.has('linux-source-6.1');
  const installer = async (missing: readonly Prereq[]) => missing.forEach((p) => installed.add(p.package));
  const opts = { exists, installer, warn: (m: string) => warned.push(m), say: (m: string) => said.push(m) };
  // Not installing: a warning naming the line, the package, its file and the command; nothing thrown.
  assert.deepEqual((await checkLineSources([line], opts)).map((p) => p.package), ['linux-source-6.1']);
  assert.deepEqual(warned, [
    'jobs of kernel line 6.1 will fail here: linux-source-6.1 is not installed (no /usr/src/linux-source-6.1.tar.xz); install it with: ' +
      `${installCommand([{ package: 'linux-source-6.1', probes: [], why: '' }])} (or start with --install-prereqs)`,
  ]);
  assert.equal(installed.size, 0);
  // Installing: exactly the missing source package, then checked again.
  warned.length = 0;
  assert.deepEqual(await checkLineSources([line], { ...opts, install: true }), []);
  assert.deepEqual([...installed], ['linux-source-6.1']);
  assert.deepEqual(warned, []);
  assert.deepEqual(said, ['installing linux-source-6.1 ...', 'kernel sources: linux-source-6.1 installed']);
});

test('prereqs: lxl worker warns about the lines it cannot build (a missing source, a broken definition) and still leases', async () => {
  // A lines folder with line 9.9 (the shipped 6.1 with its paths made absolute and a source no package here installs)
  // and a line whose line.json is not JSON.
  const dir = await tempDir('lxl-worker-lines-');
  const shipped = path.join(KERNEL_LINES_DIR, '6.1');
  type Def = { series: string; common: string[]; arches: Record<string, { fragments: string[]; flavours?: Record<string, string[]> }>; flavours: Record<string, { fragments: string[] }> };
  const def = JSON.parse(await readFile(path.join(shipped, 'line.json'), 'utf8')) as Def;
  const abs = (files: string[]) => files.map((f) => path.resolve(shipped, f));
  def.series = path.resolve(shipped, def.series);
  def.common = abs(def.common);
  for (const a of Object.values(def.arches)) {
    a.fragments = abs(a.fragments);
    for (const [k, v] of Object.entries(a.flavours ?? {})) a.flavours![k] = abs(v);
  }
  for (const f of Object.values(def.flavours)) f.fragments = abs(f.fragments);
  Object.assign(def, { line: '9.9', source: { tarball: path.join(dir, 'no-such/linux-source-9.9.tar.xz'), debianPackage: 'linux-source-9.9' } });
  await mkdir(path.join(dir, '9.9'));
  await writeFile(path.join(dir, '9.9', 'line.json'), JSON.stringify(def));
  assert.equal((await loadKernelLine(path.join(dir, '9.9'))).line, '9.9', 'the copied definition loads');
  await mkdir(path.join(dir, 'broken'));
  await writeFile(path.join(dir, 'broken', 'line.json'), '{ not json');
  const r = await lxl(['worker', '--server', 'http://127.0.0.1:9', '--token', 't', '--once', '--poll', '1', '--lines-dir', dir], { allowFail: true });
  if (missingPrereqs(prereqsFor([])).length > 0) return assert.match(r.stderr, /cannot build kernels/, 'the toolchain check comes first');
  assert.match(r.stderr, /lxl worker: warning: jobs of kernel line 9\.9 will fail here: linux-source-9\.9 is not installed \(no \S+no-such\/linux-source-9\.9\.tar\.xz\); install it with: .*apt-get install -y --no-install-recommends linux-source-9\.9 \(or start with --install-prereqs\)/);
  assert.match(r.stderr, /lxl worker: warning: jobs of kernel line broken will fail here: cannot read kernel line \S+broken\/line\.json: /);
  // Warnings only: it went on to lease (and found no server).
  assert.match(r.stderr, /cannot lease a job: http:\/\/127\.0\.0\.1:9 is unreachable/);
});

test('prereqs: every package is in .ci/apt-packages.txt (so CI installs what lxl up checks)', async () => {
  const listed = new Set((await readFile(new URL('../../.ci/apt-packages.txt', import.meta.url), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  const line = await loadKernelLine('6.1');
  for (const p of prereqsFor([line], { ccache: true })) assert.ok(listed.has(p.package), `${p.package} is not in .ci/apt-packages.txt`);
  assert.ok(BUILD_PREREQS.length >= 10);
});
