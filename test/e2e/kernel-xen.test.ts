// Runtime proof of both legacy patches: the patched minimal x86_64 kernel runs
// as a Xen PV domU (Debian's Xen 4.17 under QEMU TCG, DESIGN.md §8) with a
// partitioned disk on vdev sda and `console=tty1`. With the legacy defaults
// the guest sees sda/sda1 on major 202 and its console on tty1 (4:1); with
// `console=tty1 xencons=hvc xen_blkfront.legacy_names=0` the same kernel behaves as
// upstream: xvda/xvda1 and hvc0 (229:0). On by default wherever the tools are
// (xenUnavailable says why not; LXL_XEN_TESTS=0 turns it off). The one-off
// set-up (hypervisor and dom0 kernel downloads, dom0 userland) is cached under
// $LXL_TEST_CACHE/xen; each boot then takes 25-60 s of QEMU TCG.
// The published-package variant (issue 8) is in worker-kernel.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cachedKernel } from '../support/kernel-cache.js';
import { runXenGuest, type XenGuestReport } from '../support/xen-guest.js';
import { xenUnavailable } from '../support/xen-host.js';

const skip = xenUnavailable();

// The guest's own report and dom0's step times, for the test log.
function show(t: TestContext, r: XenGuestReport): void {
  t.diagnostic(`boot to report in ${r.seconds} s; dom0 steps: ${r.steps.join(', ')}`);
  for (const l of r.report.split('\n')) t.diagnostic(`guest ${l}`);
}

function explain(r: XenGuestReport): string {
  return `blocks ${JSON.stringify([...r.blocks])}\nconsoles ${JSON.stringify(r.consoles)}\n--- guest console log\n${r.guestLog.split('\n').slice(-60).join('\n')}`;
}

test('legacy defaults: the PV guest sees sda/sda1 on major 202 and its console on tty1 (4:1)', { skip, timeout: 60 * 60_000 }, async (t) => {
  const k = await cachedKernel({ arch: 'x86_64', flavour: 'minimal' });
  const r = await runXenGuest({ kernel: k.bzImage, extra: 'console=tty1' });
  show(t, r);
  const why = explain(r);
  assert.equal(r.blocks.get('sda'), '202:0', why);
  assert.equal(r.blocks.get('sda1'), '202:1', why);
  assert.ok(![...r.blocks.keys()].some((b) => b.startsWith('xvd')), why);
  assert.equal(r.consoles.length, 1, why);
  assert.match(r.consoles[0]!, /^hvc0 .* 4:1$/, why);
  assert.match(r.nodes, /^c.* 4,\s+1 .*\/dev\/tty1$/m, why);
  assert.doesNotMatch(r.nodes, /\/dev\/hvc0$/m, why);
  assert.match(r.guestLog, /legacy_names: 1/, why);
});

test('legacy off at boot (xencons=hvc xen_blkfront.legacy_names=0): the same kernel gives xvda and hvc0', { skip, timeout: 60 * 60_000 }, async (t) => {
  const k = await cachedKernel({ arch: 'x86_64', flavour: 'minimal' });
  const r = await runXenGuest({ kernel: k.bzImage, extra: 'console=tty1 xencons=hvc xen_blkfront.legacy_names=0' });
  show(t, r);
  const why = explain(r);
  assert.equal(r.blocks.get('xvda'), '202:0', why);
  assert.equal(r.blocks.get('xvda1'), '202:1', why);
  assert.ok(![...r.blocks.keys()].some((b) => b.startsWith('sd')), why);
  assert.match(r.consoles[0] ?? '', /^hvc0 .* 229:0$/, why);
  assert.match(r.nodes, /^c.* 229,\s+0 .*\/dev\/hvc0$/m, why);
  assert.match(r.guestLog, /legacy_names: 0/, why);
});
