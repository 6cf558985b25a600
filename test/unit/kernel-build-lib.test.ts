// Unit tests of the kernel build library's pure parts: series parsing, patch
// reject reports, Kconfig merging and the option-survival check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
