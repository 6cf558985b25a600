// Boots a kernel under qemu-system-x86_64 with TCG (no KVM here) and collects
// the serial console until a marker appears, the VM exits, or the timeout
// hits. On failure the error carries the console's tail.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** One QEMU boot. */
export interface QemuBootOptions {
  kernel: string;
  /** Initrd path; several are joined with commas (multiboot modules). */
  initrd?: string;
  append: string;
  /** QEMU -cpu model; Nehalem works for Xen and 32-bit PAE kernels under TCG. */
  cpu?: string;
  memoryMb?: number;
  /** Resolve as soon as the console matches this. */
  until: RegExp;
  timeoutMs: number;
}

/** The console output of a boot. */
export interface QemuBootResult {
  console: string;
  seconds: number;
}

/** Why QEMU boots cannot run here, or undefined. */
export function qemuUnavailable(): string | undefined {
  return existsSync('/usr/bin/qemu-system-x86_64') ? undefined : 'qemu-system-x86_64 is missing (apt-get install qemu-system-x86, as .ci/run does)';
}

/** Boots and waits for `until`; throws with the console tail if QEMU exits or times out first. */
export function bootQemu(opts: QemuBootOptions): Promise<QemuBootResult> {
  const args = [
    '-accel', 'tcg', '-cpu', opts.cpu ?? 'Nehalem', '-m', String(opts.memoryMb ?? 512), '-smp', '1',
    '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio', '-display', 'none',
    '-kernel', opts.kernel, '-append', opts.append,
    ...(opts.initrd ? ['-initrd', opts.initrd] : []),
  ];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      const seconds = Math.round((Date.now() - started) / 1000);
      if (err) reject(err);
      else resolve({ console: out, seconds });
    };
    const fail = (why: string) =>
      finish(new Error(`${why} after ${Math.round((Date.now() - started) / 1000)} s; qemu ${args.join(' ')}\n--- console tail\n${out.split('\n').slice(-60).join('\n')}`));
    const timer = setTimeout(() => fail(`no ${opts.until} on the console`), opts.timeoutMs);
    const take = (b: Buffer) => {
      out += b.toString().replace(/\r/g, '');
      if (opts.until.test(out)) finish();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e) => finish(e));
    child.on('close', (code) => {
      if (!done) fail(`qemu exited ${code} before ${opts.until} appeared`);
    });
  });
}
