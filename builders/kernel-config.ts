// Kernel configuration: start from a Kconfig target (tinyconfig, defconfig),
// merge the fragments (later ones win), run `make olddefconfig`, and check
// that every requested option survived. olddefconfig silently drops options
// whose dependencies are unmet: an i386 fragment without X86_LOCAL_APIC loses
// CONFIG_XEN and every Xen driver yet still builds and boots.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigDroppedError, KernelBuildError, type DroppedOption } from './kernel-errors.js';
import type { KconfigBase, KernelBuildArch } from './kernel-line.js';
import { runTool } from './kernel-tools.js';

/** One option a fragment asks for; `value` is `y`, `m`, `n` (for `# CONFIG_X is not set`) or the literal value. */
export interface KconfigRequest {
  name: string;
  value: string;
  fragment: string;
}

const SET = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

/** Parses .config (or fragment) text into option → value; `# X is not set` gives `n`; other comments are skipped. */
export function parseKconfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of parseKconfigLines(text, '')) out.set(r.name, r.value);
  return out;
}

/** The requests of one fragment's text, in file order; throws on lines that are neither options nor comments. */
export function parseKconfigLines(text: string, fragment: string): KconfigRequest[] {
  const out: KconfigRequest[] = [];
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    const set = SET.exec(l);
    const unset = UNSET.exec(l);
    if (set) out.push({ name: set[1]!, value: set[2]!, fragment });
    else if (unset) out.push({ name: unset[1]!, value: 'n', fragment });
    else if (l && !l.startsWith('#')) throw new KernelBuildError('config', `cannot read ${fragment || 'config'} line ${i + 1}: "${l}" is not CONFIG_X=value or # CONFIG_X is not set`);
  });
  return out;
}

/** Merges requests over a base .config text; later requests win. Returns the new .config text. */
export function mergeKconfig(base: string, requests: KconfigRequest[]): string {
  const merged = parseKconfig(base);
  for (const r of requests) merged.set(r.name, r.value);
  return [...merged].map(([k, v]) => (v === 'n' ? `# ${k} is not set` : `${k}=${v}`)).join('\n') + '\n';
}

/** The requests whose final value differs; a request for `n` is met by an absent option. The last request per option counts. */
export function droppedOptions(requests: KconfigRequest[], final: Map<string, string>): DroppedOption[] {
  const last = new Map<string, KconfigRequest>();
  for (const r of requests) last.set(r.name, r);
  const out: DroppedOption[] = [];
  for (const r of last.values()) {
    const got = final.get(r.name) ?? 'n';
    if (got !== r.value) out.push({ name: r.name, wanted: r.value, got, fragment: r.fragment });
  }
  return out;
}

/** What to configure. */
export interface ConfigureOptions {
  arch: KernelBuildArch;
  base: KconfigBase;
  /** Fragment files in merge order. */
  fragments: string[];
  /** Goes into CONFIG_LOCALVERSION, e.g. `-xen-legacy`. */
  localversion: string;
  /** Environment for make (reproducibility variables). */
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

/** Writes `tree/.config` from base + fragments, runs olddefconfig and checks every request survived (ConfigDroppedError lists the rest). */
export async function configureKernel(tree: string, opts: ConfigureOptions): Promise<Map<string, string>> {
  const requests: KconfigRequest[] = [];
  for (const f of opts.fragments) requests.push(...parseKconfigLines(await readFile(f, 'utf8'), path.basename(f)));
  requests.push(
    { name: 'CONFIG_LOCALVERSION', value: JSON.stringify(opts.localversion), fragment: 'localversion' },
    { name: 'CONFIG_LOCALVERSION_AUTO', value: 'n', fragment: 'localversion' },
  );
  const make = (target: string) =>
    runTool('config', 'make', [`ARCH=${opts.arch}`, target], { cwd: tree, env: opts.env, signal: opts.signal, onLine: opts.onLine, what: `make ${target}` });
  await make(opts.base);
  const dotConfig = path.join(tree, '.config');
  await writeFile(dotConfig, mergeKconfig(await readFile(dotConfig, 'utf8'), requests));
  await make('olddefconfig');
  const final = parseKconfig(await readFile(dotConfig, 'utf8'));
  const dropped = droppedOptions(requests, final);
  if (dropped.length) throw new ConfigDroppedError(dropped);
  return final;
}
