// Typed failures of a kernel build. Each names the phase it happened in, so
// the worker (and `lxl build`) can report "phase: reason" without parsing text.

import { LxlError } from '../repo-layout/errors.js';

/** The phases of a kernel build, in order. */
export type KernelBuildPhase = 'line' | 'fetch' | 'unpack' | 'patch' | 'config' | 'compile' | 'install';

/** A kernel build failed in `phase`; `logTail` holds the last lines the tool printed. */
export class KernelBuildError extends LxlError {
  readonly phase: KernelBuildPhase;
  readonly logTail: string;

  constructor(phase: KernelBuildPhase, message: string, options?: { cause?: unknown; logTail?: string }) {
    super('E_BUILD', `${phase}: ${message}`, options);
    this.phase = phase;
    this.logTail = options?.logTail ?? '';
  }
}

/** One hunk that patch(1) could not apply. */
export interface RejectedHunk {
  file: string;
  hunk: number;
  /** The hunk's text from the patch, `@@` line included. */
  text: string;
}

/** A patch of the series does not apply; names the patch and every rejected hunk. */
export class PatchRejectError extends KernelBuildError {
  readonly patch: string;
  readonly hunks: RejectedHunk[];

  constructor(patch: string, hunks: RejectedHunk[], output: string) {
    const where = hunks.length ? hunks.map((h) => `${h.file} hunk #${h.hunk}`).join(', ') : 'see the patch output';
    const shown = hunks.map((h) => `--- ${h.file} hunk #${h.hunk}:\n${h.text}`).join('\n');
    super('patch', `cannot apply ${patch}: rejected ${where}; refresh the patch for this tree\n${shown}`, { logTail: output });
    this.patch = patch;
    this.hunks = hunks;
  }
}

/** One requested Kconfig option whose final value differs from the request. */
export interface DroppedOption {
  name: string;
  wanted: string;
  /** The value after olddefconfig, or `n` when unset or absent. */
  got: string;
  /** The fragment that asked for it. */
  fragment: string;
}

/** `make olddefconfig` dropped or changed requested options (usually unmet dependencies). */
export class ConfigDroppedError extends KernelBuildError {
  readonly dropped: DroppedOption[];

  constructor(dropped: DroppedOption[]) {
    const list = dropped.map((d) => `${d.name}=${d.wanted} (got ${d.got}, from ${d.fragment})`).join(', ');
    super('config', `cannot keep requested options after olddefconfig: ${list}; enable their dependencies in the fragments`);
    this.dropped = dropped;
  }
}
