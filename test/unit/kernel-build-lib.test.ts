// Unit tests of the kernel build library's pure parts: series parsing, patch
// reject reports, Kconfig merging and the option-survival check; the ccache
// environment, with a real ccache compile when it is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildEnv, ccacheLinks, ccacheTally } from '../../builders/kernel-build.js';
import { droppedOptions, mergeKconfig, parseKconfig, parseKconfigLines } from '../../builders/kernel-config.js';
import { ConfigDroppedError, KernelBuildError, PatchRejectError } from '../../builders/kernel-errors.js';
import { fragmentsFor, loadKernelLine } from '../../builders/kernel-line.js';
import { parseSeries, patchHunks, rejectedHunks } from '../../builders/kernel-patches.js';

const DIFF = `Subject: [PATCH] demo

---
diff --git a/drivers/x.c b/drivers/x.c
--- a/drivers/x.c
+++ b/drivers/x.c
@@ -1,3 +1,3 @@
 a
-b
+c
 d
@@ -10,2 +10,3 @@ int f(void)
 e
+f
diff --git a/drivers/y.c b/drivers/y.c
--- a/drivers/y.c
+++ b/drivers/y.c
@@ -5,1 +5,1 @@
-old
+new
-- 
2.39.5
`;

test('parseSeries reads names, comments and -pN', () => {
  assert.deepEqual(parseSeries('# comment\n0001-a.patch\n\n0002-b.patch -p0 # note\n'), [
    { patch: '0001-a.patch', strip: 1 },
    { patch: '0002-b.patch', strip: 0 },
  ]);
  assert.throws(() => parseSeries('../evil.patch\n'), KernelBuildError);
  assert.throws(() => parseSeries('a.patch --fuzz=3\n'), /unknown option/);
});

test('patchHunks numbers hunks per file and stops at the signature', () => {
  const h = patchHunks(DIFF);
  assert.deepEqual([...h.keys()], ['drivers/x.c', 'drivers/y.c']);
  assert.equal(h.get('drivers/x.c')!.length, 2);
  assert.match(h.get('drivers/x.c')![1]!, /^@@ -10,2 \+10,3 @@ int f\(void\)\n e\n\+f$/);
  assert.equal(h.get('drivers/y.c')![0], '@@ -5,1 +5,1 @@\n-old\n+new');
});

test('rejectedHunks maps patch(1) output to files, hunk numbers and hunk text', () => {
  const out = 'checking file drivers/x.c\nHunk #2 FAILED at 10.\n1 out of 2 hunks FAILED\nchecking file drivers/y.c\n';
  const r = rejectedHunks(out, DIFF);
  assert.equal(r.length, 1);
  assert.equal(r[0]!.file, 'drivers/x.c');
  assert.equal(r[0]!.hunk, 2);
  assert.match(r[0]!.text, /\+f/);
  const err = new PatchRejectError('0001-demo.patch', r, out);
  assert.match(err.message, /^patch: cannot apply 0001-demo\.patch: rejected drivers\/x\.c hunk #2/);
  assert.equal(err.phase, 'patch');
  assert.equal(err.code, 'E_BUILD');
});

test('Kconfig parsing, merging (later wins) and the survival check', () => {
  const frag = parseKconfigLines('# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S="x y"\n', 'f.config');
  assert.deepEqual(frag.map((r) => [r.name, r.value]), [['CONFIG_A', 'y'], ['CONFIG_B', 'n'], ['CONFIG_S', '"x y"']]);
  assert.throws(() => parseKconfigLines('CONFIG_A y\n', 'bad.config'), /bad\.config line 1/);
  const merged = parseKconfig(mergeKconfig('CONFIG_A=m\nCONFIG_B=y\nCONFIG_C=y\n', frag));
  assert.equal(merged.get('CONFIG_A'), 'y');
  assert.equal(merged.get('CONFIG_B'), 'n');
  assert.equal(merged.get('CONFIG_C'), 'y');
  // An unset request is met by an absent option; a y request is not.
  const final = parseKconfig('CONFIG_S="x y"\n');
  const dropped = droppedOptions(frag, final);
  assert.deepEqual(dropped.map((d) => [d.name, d.got]), [['CONFIG_A', 'n']]);
  assert.match(new ConfigDroppedError(dropped).message, /CONFIG_A=y \(got n, from f\.config\)/);
});

test('the 6.1 line loads, and each arch/flavour has its fragments in merge order', async () => {
  const line = await loadKernelLine('6.1');
  assert.equal(line.localversion, '-xen-legacy');
  assert.equal(line.source.kind, 'tarball');
  const f = fragmentsFor(line, 'i386', 'minimal').map((p) => p.split('/').pop());
  assert.deepEqual(f, ['xen-domu-i386.config', 'minimal.config', 'legacy.config']);
  assert.ok(line.flavours.full);
  assert.throws(() => fragmentsFor(line, 'x86_64', 'nope'), /known flavours are minimal, full/);
  // The legacy options are requested by every build of the line.
  const legacy = parseKconfigLines(await import('node:fs/promises').then((fs) => fs.readFile(line.common[0]!, 'utf8')), 'legacy');
  assert.deepEqual(legacy.map((r) => `${r.name}=${r.value}`).sort(), ['CONFIG_HVC_XEN_LEGACY_TTY=y', 'CONFIG_VT=n', 'CONFIG_XEN_BLKDEV_FRONTEND_LEGACY_NAMES=y']);
});

test('ccacheTally counts each compile of a ccache stats log once, as a hit or a miss', () => {
  // The records ccache 4.7 writes to CCACHE_STATSLOG: a miss, a direct hit, a preprocessed hit, a preprocessor-only call.
  const log = [
    '# init/main.c', 'cache_miss', 'direct_cache_miss', 'local_storage_miss', 'local_storage_write', 'preprocessed_cache_miss',
    '# kernel/fork.c', 'direct_cache_hit', 'local_storage_hit', 'local_storage_read_hit',
    '# mm/slab.c', 'direct_cache_miss', 'preprocessed_cache_hit', 'local_storage_hit',
    '# scripts/probe.c', 'called_for_preprocessing',
    '',
  ].join('\n');
  assert.deepEqual(ccacheTally(log), { hits: 2, misses: 1 });
  assert.deepEqual(ccacheTally(''), { hits: 0, misses: 0 });
});

test('buildEnv puts ccache in front of gcc only when asked, with the tree as its base folder', () => {
  const plain = buildEnv('/w/a/linux', 'x86_64', 1700000000);
  assert.equal(plain.PATH, process.env.PATH);
  assert.equal(plain.CCACHE_BASEDIR, process.env.CCACHE_BASEDIR);
  const env = buildEnv('/w/a/linux', 'x86_64', 1700000000, { ccache: { links: '/usr/lib/ccache', dir: '/c/ccache', statsLog: '/w/a/stats' } });
  assert.equal(env.PATH, `/usr/lib/ccache:${process.env.PATH}`);
  assert.equal(env.CCACHE_DIR, '/c/ccache');
  assert.equal(env.CCACHE_BASEDIR, '/w/a/linux');
  assert.equal(env.CCACHE_STATSLOG, '/w/a/stats');
  assert.equal(env.CCACHE_DEPEND, '1');
  assert.equal(env.CCACHE_NOCOMPRESS, '1');
  assert.equal(env.KCFLAGS, '-fdebug-prefix-map=/w/a/linux=.');
  // The caller's own ccache choices stay.
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { CCACHE_NODEPEND: '1', CCACHE_COMPRESS: '1' });
    const theirs = buildEnv('/w/a/linux', 'x86_64', 1700000000, { ccache: { links: '/usr/lib/ccache', dir: '/c/ccache', statsLog: '/w/a/stats' } });
    assert.equal(theirs.CCACHE_DEPEND, undefined);
    assert.equal(theirs.CCACHE_NOCOMPRESS, undefined);
  } finally {
    delete process.env.CCACHE_NODEPEND;
    delete process.env.CCACHE_COMPRESS;
    Object.assign(process.env, saved);
  }
});

const links = ccacheLinks();
test('through buildEnv, a compile of the same tree in another folder is a ccache hit with the same object', { skip: links ? false : 'ccache is not installed (apt-get install ccache, as .ci/run does)' }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lxl-ccache-'));
  try {
    const cache = path.join(dir, 'cache');
    const compile = async (name: string): Promise<{ tally: { hits: number; misses: number }; object: Buffer }> => {
      const tree = path.join(dir, name, 'linux');
      await mkdir(path.join(tree, 'include'), { recursive: true });
      await writeFile(path.join(tree, 'include', 'v.h'), '#define V 42\n');
      await writeFile(path.join(tree, 'main.c'), '#include "v.h"\nint version(void) { return V; }\n');
      const statsLog = path.join(dir, name, 'stats');
      const env = buildEnv(tree, 'x86_64', 1700000000, { ccache: { links: links!, dir: cache, statsLog } });
      // As kbuild calls gcc: from the tree, with a dependency file (what depend mode reads), KCFLAGS' absolute
      // -fdebug-prefix-map, and (as objtool's compiles and out-of-tree modules do) an absolute include folder, which
      // only CCACHE_BASEDIR keeps out of the hash.
      const r = spawnSync('gcc', ['-Wp,-MMD,./.main.o.d', '-Os', `-I${tree}/include`, env.KCFLAGS!, '-c', 'main.c', '-o', 'main.o'], { cwd: tree, env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return { tally: ccacheTally(await readFile(statsLog, 'utf8')), object: await readFile(path.join(tree, 'main.o')) };
    };
    const first = await compile('a');
    const second = await compile('b');
    assert.deepEqual(first.tally, { hits: 0, misses: 1 });
    assert.deepEqual(second.tally, { hits: 1, misses: 0 });
    assert.ok(first.object.equals(second.object));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
