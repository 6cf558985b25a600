// Debian version ordering (deb-version(7), dpkg's lib/dpkg/version.c):
// `[epoch:]upstream[-revision]`, compared epoch first (numerically), then
// upstream and revision with the same rule: alternating non-digit runs (where
// `~` sorts before everything, even the end of the string, and letters sort
// before other characters) and digit runs compared numerically.

import { FormatError } from '../errors.js';

/** A version split into its three parts. */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** Splits `[epoch:]upstream[-revision]`; throws FormatError for a version dpkg would refuse. */
export function parseDebianVersion(text: string): DebianVersion {
  const v = text.trim();
  const colon = v.indexOf(':');
  let epoch = 0;
  if (colon >= 0) {
    const e = v.slice(0, colon);
    if (!/^[0-9]+$/.test(e)) throw new FormatError(`cannot parse version ${JSON.stringify(text)}: the epoch must be a number`);
    epoch = Number(e);
  }
  const rest = v.slice(colon + 1);
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : '';
  if (upstream === '' || !/^[0-9]/.test(upstream)) throw new FormatError(`cannot parse version ${JSON.stringify(text)}: it must start with a digit`);
  if (!/^[A-Za-z0-9.+~:-]+$/.test(upstream) || (revision !== '' && !/^[A-Za-z0-9.+~]+$/.test(revision)) || (dash >= 0 && revision === '')) {
    throw new FormatError(`cannot parse version ${JSON.stringify(text)}: it has characters dpkg does not allow`);
  }
  return { epoch, upstream, revision };
}

/** Sort weight of one non-digit character: `~` first, then the end of the string, then letters, then the rest. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp: compares two upstream (or revision) strings. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(i < a.length && !isDigit(a[i]) ? a[i] : undefined);
      const bc = order(j < b.length && !isDigit(b[j]) ? b[j] : undefined);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (i < a.length && isDigit(a[i]) && j < b.length && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a[i])) return 1;
    if (j < b.length && isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Compares two Debian versions: negative when a < b, 0 when equal, positive when a > b (like `dpkg --compare-versions`). */
export function compareDebianVersions(a: string, b: string): number {
  const va = parseDebianVersion(a);
  const vb = parseDebianVersion(b);
  if (va.epoch !== vb.epoch) return va.epoch < vb.epoch ? -1 : 1;
  const u = compareFragment(va.upstream, vb.upstream);
  if (u !== 0) return Math.sign(u);
  return Math.sign(compareFragment(va.revision, vb.revision));
}
