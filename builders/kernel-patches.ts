// Applies a quilt-style patch series to a kernel tree. Each patch is first
// tried with `patch --dry-run --fuzz=0` (a hunk that fits only with fuzz may
// land in the wrong place, so it counts as a reject). A reject stops the build
// and names the patch, the file and the hunk (with its text); nothing is ever
// half applied.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KernelBuildError, PatchRejectError, type RejectedHunk } from './kernel-errors.js';
import { runTool } from './kernel-tools.js';

/** One series entry: the patch file name and its strip level. */
export interface SeriesEntry {
  patch: string;
  strip: number;
}

/** Parses a quilt series file: one patch per line, `#` comments, optional `-pN`. */
export function parseSeries(text: string): SeriesEntry[] {
  const out: SeriesEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const [patch, ...opts] = line.split(/\s+/);
    let strip = 1;
    for (const o of opts) {
      const m = /^-p(\d+)$/.exec(o);
      if (!m) throw new KernelBuildError('patch', `cannot read series entry "${line}": unknown option ${o}`);
      strip = Number(m[1]);
    }
    if (patch!.includes('..')) throw new KernelBuildError('patch', `cannot read series entry "${line}": patch names must stay in the series folder`);
    out.push({ patch: patch!, strip });
  }
  return out;
}

/** The hunks of a unified diff, keyed by target path with `strip` leading components removed, numbered from 1 per file. */
export function patchHunks(diff: string, strip = 1): Map<string, string[]> {
  const files = new Map<string, string[]>();
  let hunks: string[] | undefined;
  let inHunk = false;
  const lines = diff.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      inHunk = false;
    } else if (l.startsWith('+++ ') && lines[i - 1]?.startsWith('--- ')) {
      const name = l.slice(4).split('\t')[0]!.split('/').slice(strip).join('/');
      hunks = files.get(name) ?? [];
      files.set(name, hunks);
    } else if (l.startsWith('@@') && hunks) {
      hunks.push(l);
      inHunk = true;
    } else if (inHunk && hunks && l !== '-- ' && /^[ +\-\\]/.test(l)) {
      hunks[hunks.length - 1] += `\n${l}`;
    } else {
      inHunk = false;
    }
  }
  return files;
}

/** The rejected hunks named in patch(1)'s output, with their text taken from the patch. */
export function rejectedHunks(output: string, diff: string, strip = 1): RejectedHunk[] {
  const hunks = patchHunks(diff, strip);
  const out: RejectedHunk[] = [];
  let file = '';
  for (const l of output.split('\n')) {
    const f = /^(?:checking|patching) file (.+)$/.exec(l);
    if (f) file = f[1]!.replace(/^'(.*)'$/, '$1');
    const h = /^Hunk #(\d+) FAILED/.exec(l);
    if (h) {
      const n = Number(h[1]);
      out.push({ file, hunk: n, text: hunks.get(file)?.[n - 1] ?? '(hunk text not found in the patch)' });
    }
    if (/Reversed \(or previously applied\) patch detected/.test(l)) {
      for (const [i, text] of (hunks.get(file) ?? []).entries()) out.push({ file, hunk: i + 1, text: `(already applied?)\n${text}` });
    }
    if (/can't find file to patch/.test(l)) out.push({ file: '(unknown)', hunk: 0, text: l });
  }
  return out;
}

/** Options for applying a series. */
export interface ApplySeriesOptions {
  signal?: AbortSignal;
  onLine?: (line: string) => void;
}

/** Applies every patch of `seriesFile` to `tree` in order; throws PatchRejectError on the first that does not fit. Returns the patch names applied. */
export async function applySeries(seriesFile: string, tree: string, opts: ApplySeriesOptions = {}): Promise<string[]> {
  const dir = path.dirname(seriesFile);
  const entries = parseSeries(await readFile(seriesFile, 'utf8'));
  for (const e of entries) {
    const file = path.join(dir, e.patch);
    const diff = await readFile(file, 'utf8').catch((err) => {
      throw new KernelBuildError('patch', `cannot read ${file} listed in ${seriesFile}: ${(err as Error).message}`, { cause: err });
    });
    const args = [`-p${e.strip}`, '--fuzz=0', '--forward', '--batch', '--no-backup-if-mismatch', '-i', file];
    const dry = await runTool('patch', 'patch', ['--dry-run', ...args], { cwd: tree, signal: opts.signal, allowFail: true });
    if (dry.code !== 0) throw new PatchRejectError(e.patch, rejectedHunks(dry.output, diff, e.strip), dry.output);
    opts.onLine?.(`applying ${e.patch}`);
    await runTool('patch', 'patch', ['--silent', ...args], { cwd: tree, signal: opts.signal, onLine: opts.onLine, what: `apply ${e.patch}` });
  }
  return entries.map((e) => e.patch);
}
