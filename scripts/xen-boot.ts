// Boots a given x86_64 bzImage as a Xen PV guest (Debian's Xen 4.17 under QEMU
// TCG, the tests' harness) and prints what the guest saw: block devices with
// their major:minor, /proc/consoles and the console device nodes. For checking
// a kernel the tests do not build, such as the full flavour:
//   npx tsx scripts/xen-boot.ts <bzImage> [guest command line, default console=tty1]
import { runXenGuest } from '../test/support/xen-guest.js';
import { xenUnavailable } from '../test/support/xen-host.js';

const [kernel, extra = 'console=tty1'] = process.argv.slice(2);
if (!kernel) {
  console.error('usage: npx tsx scripts/xen-boot.ts <bzImage> [guest command line]');
  process.exit(2);
}
const why = xenUnavailable();
if (why) {
  console.error(`cannot boot under Xen here: ${why}`);
  process.exit(1);
}
const r = await runXenGuest({ kernel, extra });
console.log(`booted in ${r.seconds} s`);
console.log(`blocks: ${[...r.blocks].map(([b, d]) => `${b} ${d}`).join(', ')}`);
console.log(`consoles: ${r.consoles.join(' | ')}`);
console.log(r.nodes);
