// Mirror trace files, as Debian mirrors keep them (`project/trace/<host>`):
// the first line is the time of the last completed publish in `date -u`
// form, which mirror checkers compare; the fields after it follow
// archvsync's trace files. Written last in a publish, after InRelease.

import { CACHE_INDEX, type PublishedStorage } from './storage.js';

export interface TraceInfo {
  /** Host name of the publisher; also the file name. */
  host: string;
  /** When the publish began. */
  started: Date;
  /** When the publish completed. */
  finished: Date;
  /** Program and version, for example `lxl 0.1.0`. */
  creator: string;
  /** Architectures published, for example ['amd64', 'i386']. */
  architectures?: string[];
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');
const hms = (d: Date): string => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;

/** `date -u` output (C locale): `Sat Nov 28 01:36:27 UTC 2026`, day padded with a space. */
export function formatDateU(d: Date): string {
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${hms(d)} UTC ${d.getUTCFullYear()}`;
}

/** RFC 2822 date as in Release files: `Sat, 28 Nov 2026 01:36:27 +0000`. */
export function formatRfc2822(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${hms(d)} +0000`;
}

/** Archive serial YYYYMMDDNN-style from the finish time (NN = hour, so it grows within a day). */
export function archiveSerial(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}`;
}

/** The trace file's text. */
export function formatTrace(t: TraceInfo): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(t.host)) throw new RangeError(`trace host must be a host name, got ${JSON.stringify(t.host)}`);
  const lines = [
    formatDateU(t.finished),
    `Date: ${formatRfc2822(t.finished)}`,
    `Date-Started: ${formatRfc2822(t.started)}`,
    `Archive serial: ${archiveSerial(t.finished)}`,
    `Creator: ${t.creator}`,
    `Running on host: ${t.host}`,
  ];
  if (t.architectures?.length) lines.push(`Architectures: ${t.architectures.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** Key of the trace file under `root` (for example `apt` gives `apt/project/trace/<host>`). */
export function traceKey(root: string, host: string): string {
  return `${root ? `${root.replace(/\/+$/, '')}/` : ''}project/trace/${host}`;
}

/** Writes the trace file; call it last, once the publish has completed. Resolves the key written. */
export async function writeTrace(storage: PublishedStorage, root: string, t: TraceInfo): Promise<string> {
  const key = traceKey(root, t.host);
  await storage.put(key, formatTrace(t), { contentType: 'text/plain; charset=utf-8', cacheControl: CACHE_INDEX });
  return key;
}
