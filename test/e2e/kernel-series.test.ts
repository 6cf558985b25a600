// The 6.1 patch series against Debian's linux-source-6.1: it applies with
// patch(1) and git apply, passes checkpatch, and the configured tree keeps
// every requested option. Against a tree it does not fit it fails loudly,
// naming the patch and the hunk; a fragment set that loses CONFIG_XEN fails
// listing what olddefconfig dropped. Cheap: no compile, about a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { prepareKernelTree, buildEnv } from '../../builders/kernel-build.js';
import { configureKernel } from '../../builders/kernel-config.js';
import { ConfigDroppedError, PatchRejectError } from '../../builders/kernel-errors.js';
import { fragmentsFor, loadKernelLine } from '../../builders/kernel-line.js';
import { applySeries, parseSeries } from '../../builders/kernel-patches.js';
import { run, missingTools } from '../support/exec.js';
import { CACHE_DIR } from '../support/chroot.js';
import { kernelBuildUnavailable } from '../support/kernel-cache.js';
import { tempDir } from '../support/tmp.js';

const skip = kernelBuildUnavailable() ?? missingTools('git', 'perl', 'patch');
const line = await loadKernelLine('6.1');
const seriesDir = path.dirname(line.series);
const TARBALL = '/usr/src/linux-source-6.1.tar.xz';

test('the series applies, passes git apply --check and checkpatch, and the legacy options survive olddefconfig', { skip, timeout: 15 * 60_000 }, async () => {
  const work = await tempDir('lxl-kseries-');
  const phases: string[] = [];
  const prepared = await prepareKernelTree({
    line, arch: 'x86_64', flavour: 'minimal', workDir: work, stageDir: path.join(work, 'stage'), cacheDir: CACHE_DIR,
    onPhase: (p) => phases.push(p),
  });
  assert.deepEqual(phases, ['fetch', 'unpack', 'patch', 'config']);
  assert.deepEqual(prepared.patches, parseSeries(await readFile(line.series, 'utf8')).map((e) => e.patch));
  for (const opt of ['CONFIG_HVC_XEN_LEGACY_TTY', 'CONFIG_XEN_BLKDEV_FRONTEND_LEGACY_NAMES', 'CONFIG_XEN_PV', 'CONFIG_XEN_BLKDEV_FRONTEND', 'CONFIG_HVC_XEN']) {
    assert.equal(prepared.config.get(opt), 'y', opt);
  }
  assert.equal(prepared.config.get('CONFIG_VT') ?? 'n', 'n');
  assert.equal(prepared.config.get('CONFIG_LOCALVERSION'), '"-xen-legacy"');
  const hvc = await readFile(path.join(prepared.tree, 'drivers/tty/hvc/hvc_xen.c'), 'utf8');
  assert.match(hvc, /__setup\("xencons=", xencons_setup\)/);

  // A pristine copy for git apply --check and checkpatch (from the same tarball).
  const pristine = path.join(work, 'pristine');
  await mkdir(pristine);
  await run('tar', ['-xf', TARBALL, '-C', pristine, '--strip-components=1']);
  for (const e of parseSeries(await readFile(line.series, 'utf8'))) {
    const file = path.join(seriesDir, e.patch);
    await run('git', ['apply', '--check', '-v', file], { cwd: pristine });
    const cp = await run('perl', ['scripts/checkpatch.pl', '--no-tree', '--no-color', file], { cwd: pristine, allowFail: true });
    assert.match(cp.stdout, /total: 0 errors/, `${e.patch}: checkpatch\n${cp.stdout}`);
    const patch = await readFile(file, 'utf8');
    assert.match(patch, /^Signed-off-by: .+ <.+@.+>$/m, `${e.patch} has a Signed-off-by`);
    assert.match(patch, /^Subject: \[PATCH \d\/\d\] /m, `${e.patch} has a subject`);
  }

  // The full flavour is not built in CI, but its fragments must survive too.
  const fullEnv = buildEnv(prepared.tree, 'x86_64', prepared.sourceDateEpoch);
  const full = await configureKernel(prepared.tree, { arch: 'x86_64', base: 'defconfig', fragments: fragmentsFor(line, 'x86_64', 'full'), localversion: '-xen-legacy', env: fullEnv });
  assert.equal(full.get('CONFIG_XFS_FS'), 'm');
  assert.equal(full.get('CONFIG_HVC_XEN_LEGACY_TTY'), 'y');
  assert.equal(full.get('CONFIG_XEN_PCIDEV_FRONTEND'), 'm');
  // `lxl up` builds the full flavour for i386 too (PVHVM, PAE).
  const fullI386 = await configureKernel(prepared.tree, { arch: 'i386', base: 'defconfig', fragments: fragmentsFor(line, 'i386', 'full'), localversion: '-xen-legacy', env: buildEnv(prepared.tree, 'i386', prepared.sourceDateEpoch) });
  assert.equal(fullI386.get('CONFIG_X86_PAE'), 'y');
  assert.equal(fullI386.get('CONFIG_XEN_PVHVM_GUEST'), 'y');
  assert.equal(fullI386.get('CONFIG_XEN_BLKDEV_FRONTEND_LEGACY_NAMES'), 'y');

  // i386: the real fragments keep CONFIG_XEN; without X86_LOCAL_APIC (no SMP,
  // no X86_UP_APIC) olddefconfig drops CONFIG_XEN and every Xen driver, and the
  // check must name them.
  const env = buildEnv(prepared.tree, 'i386', prepared.sourceDateEpoch);
  const good = await configureKernel(prepared.tree, { arch: 'i386', base: 'tinyconfig', fragments: [...line.arches.i386!.fragments, ...line.flavours.minimal!.fragments, ...line.common], localversion: '-xen-legacy', env });
  assert.equal(good.get('CONFIG_XEN'), 'y');
  assert.equal(good.get('CONFIG_X86_32'), 'y');
  assert.equal(good.get('CONFIG_X86_PAE'), 'y');
  assert.equal(good.get('CONFIG_HVC_XEN_LEGACY_TTY'), 'y');
  const broken = path.join(work, 'i386-no-apic.config');
  const base = await readFile(line.arches.i386!.fragments[0]!, 'utf8');
  await writeFile(broken, base.split('\n').filter((l) => !/^CONFIG_(SMP|X86_LOCAL_APIC)=/.test(l)).join('\n'));
  await appendFile(broken, '# CONFIG_SMP is not set\n');
  const err = await configureKernel(prepared.tree, { arch: 'i386', base: 'tinyconfig', fragments: [broken, ...line.flavours.minimal!.fragments, ...line.common], localversion: '-xen-legacy', env }).then(
    () => assert.fail('olddefconfig dropped CONFIG_XEN yet the check passed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigDroppedError, String(err));
  const names = err.dropped.map((d) => d.name);
  for (const n of ['CONFIG_XEN', 'CONFIG_HVC_XEN', 'CONFIG_XEN_BLKDEV_FRONTEND', 'CONFIG_HVC_XEN_LEGACY_TTY']) assert.ok(names.includes(n), `${n} listed in: ${err.message}`);
  assert.match(err.message, /^config: cannot keep requested options after olddefconfig: .*CONFIG_XEN=y \(got n, from i386-no-apic\.config\)/);
});

test('against a tree it does not fit, the series fails naming the patch and the hunk', { skip, timeout: 10 * 60_000 }, async () => {
  const work = await tempDir('lxl-kreject-');
  // Only the folders the patches touch: enough for patch(1), much cheaper than a full tree.
  await run('tar', ['-xf', TARBALL, '-C', work, '--strip-components=1', '--wildcards', '*/drivers/tty/hvc/*', '*/drivers/block/*']);
  const file = path.join(work, 'drivers/tty/hvc/hvc_xen.c');
  const src = await readFile(file, 'utf8');
  // Someone else changed the lines the console patch edits in xen_cons_init().
  const changed = src.replace(
    '\t\tif (r < 0)\n\t\t\treturn r;\n\t}\n\n\thvc_instantiate(HVC_COOKIE, 0, ops);',
    '\t\tif (r < 0) {\n\t\t\tpr_err("no Xen console\\n");\n\t\t\treturn r;\n\t\t}\n\t}\n\n\thvc_instantiate(HVC_COOKIE, 0, ops);',
  );
  assert.notEqual(changed, src, 'the test edit must hit hvc_xen.c');
  await writeFile(file, changed);
  const err = await applySeries(line.series, work).then(
    () => assert.fail('the series applied to a tree it does not fit'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PatchRejectError, String(err));
  assert.equal(err.patch, '0001-hvc_xen-legacy-tty1.patch');
  assert.equal(err.phase, 'patch');
  assert.ok(err.hunks.length >= 1);
  assert.equal(err.hunks[0]!.file, 'drivers/tty/hvc/hvc_xen.c');
  assert.match(err.hunks[0]!.text, /^@@ /);
  assert.match(err.message, /cannot apply 0001-hvc_xen-legacy-tty1\.patch: rejected drivers\/tty\/hvc\/hvc_xen\.c hunk #\d/);
  // Nothing was half applied: the dry run stopped before any file changed.
  assert.equal(await readFile(path.join(work, 'drivers/tty/hvc/hvc_console.c'), 'utf8').then((s) => s.includes('hvc_legacy_tty')), false);
});
