// Golden tests for the pure APT encoders (Release, per-arch Release, sources
// entries, one Packages stanza). UPDATE_GOLDEN=1 rewrites test/golden/apt/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { archReleaseFile, formatReleaseDate, releaseFile } from '../../repo-layout/apt/apt-release.js';
import { debSourcesFile, oneLineSourcesEntry } from '../../repo-layout/apt/apt-sources.js';
import { orderedStanza, packagesStanza, packagesStanzaGeneral, PACKAGES_FIELD_ORDER } from '../../repo-layout/apt/apt-packages.js';
import { poolPath, poolPrefix } from '../../repo-layout/apt/apt-pool.js';
import { parseControlParagraph, parseDeb822, parseSingleParagraph } from '../../repo-layout/deb822.js';
import { hashBytes } from '../../repo-layout/digests.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'apt');

async function golden(name: string, actual: string): Promise<void> {
  const file = path.join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    await mkdir(GOLDEN, { recursive: true });
    await writeFile(file, actual);
  }
  assert.equal(actual, await readFile(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to rewrite)`);
}

const entry = (p: string, body: string) => ({ path: p, ...hashBytes(body, ['md5', 'sha1', 'sha256', 'sha512']) });

test('Release: fields, RFC 2822 UTC date, Valid-Until, by-hash flag and four checksum sections', async () => {
  const text = releaseFile({
    origin: 'linux-xen-legacy',
    label: 'linux-xen-legacy',
    suite: 'stable',
    codename: 'stable',
    date: new Date('2026-01-02T03:04:05Z'),
    validUntil: new Date('2026-01-09T03:04:05Z'),
    architectures: ['amd64', 'i386'],
    components: ['main'],
    files: [entry('main/binary-amd64/Packages', 'Package: a\n'), entry('main/binary-amd64/Packages.gz', 'x'.repeat(1234)), entry('main/binary-i386/Packages', '')],
  });
  await golden('Release', text);
  const p = parseSingleParagraph(text, 'Release');
  assert.equal(p.get('Date'), 'Fri, 02 Jan 2026 03:04:05 UTC');
  assert.equal(p.get('Acquire-By-Hash'), 'yes');
  for (const h of ['MD5Sum', 'SHA1', 'SHA256', 'SHA512']) assert.equal(p.get(h)?.trim().split('\n').length, 3, h);
});

test('per-arch Release and client sources files', async () => {
  await golden('binary-amd64.Release', archReleaseFile({ origin: 'o', label: 'l', suite: 'stable', codename: 'stable', component: 'main', architecture: 'amd64' }));
  const info = { baseUrl: 'https://example.invalid/lxl/', prefix: 'apt', suite: 'stable', name: 'linux-xen-legacy' };
  await golden('linux-xen-legacy.sources', debSourcesFile(info));
  await golden('linux-xen-legacy.list', oneLineSourcesEntry(info));
});

test('Packages stanza: apt-ftparchive field order, unknown fields last, index fields refused in control', async () => {
  const control = 'Package: k\nVersion: 1:6.1.192+1~legacy1\nX-Custom: kept\nArchitecture: amd64\nMaintainer: M <m@example.invalid>\nInstalled-Size: 7\nDepends: kmod\nSection: kernel\nPriority: optional\nHomepage: https://example.invalid\nDescription: d\n long\n';
  const base = { name: 'k', version: '1:6.1.192+1~legacy1', arch: 'amd64', filename: 'pool/main/k/k/k_6.1.192+1~legacy1_amd64.deb', size: 10, md5: 'a', sha1: 'b', sha256: 'c', sha512: 'd' };
  await golden('stanza.txt', packagesStanza({ ...base, control }));
  assert.throws(() => packagesStanza({ ...base, control: `${control}SHA256: x\n` }), { code: 'E_FORMAT' });
});

test('Packages stanza: the fast path (clean field lines, any order) writes what the general path writes, for thousands of generated control files', () => {
  const base = { name: 'k', version: '1', arch: 'amd64', filename: 'pool/main/k/k/k_1_amd64.deb', size: 10, md5: 'a', sha1: 'b', sha256: 'c', sha512: 'd' };
  // A small deterministic generator (no Math.random: a failure must be reproducible).
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const names = ['Package', 'Version', 'Architecture', 'Maintainer', 'Installed-Size', 'Depends', 'Section', 'Priority', 'Homepage', 'Description', 'Source', 'Multi-Arch', 'Provides', 'X-Custom', 'Tag', 'package', 'DESCRIPTION', 'MSDOS-Filename', 'Built-Using', 'Task'];
  const values = ['v', 'a b', ' lead', 'trail ', 'tab\t', '\u00a0nbsp', 'x\r', '', 'colon: inside', 'ünï', 'last\u2028'];
  let fast = 0;
  let checked = 0;
  let crlf = 0;
  for (let n = 0; n < 4000; n++) {
    const lines: string[] = [];
    const count = 1 + rnd(8);
    // Half the cases with clean values in any order (the fast path's case), the rest anything.
    const ordered = n % 2 === 0;
    const picked = Array.from({ length: count }, () => names[rnd(ordered ? 14 : names.length)]);
    if (ordered && rnd(2)) picked.sort((a, b) => rankOf(a) - rankOf(b));
    for (const name of new Set(picked)) {
      const value = ordered ? `value${rnd(100)}` : values[rnd(values.length)];
      lines.push(`${name}:${ordered || rnd(4) ? ' ' : ''}${value}`);
      if (rnd(4) === 0) lines.push(ordered || rnd(2) ? ' more' : ' ');
      if (!ordered && rnd(20) === 0) lines.push('');
    }
    // One in eight with CRLF line ends (dpkg-deb builds such a control file).
    const eol = rnd(8) === 0 ? '\r\n' : '\n';
    const control = `${lines.join(eol)}${eol}`;
    const pkg = { ...base, control };
    let general: string | Error;
    try {
      general = packagesStanzaGeneral(pkg);
    } catch (err) {
      general = err as Error;
    }
    const quick = orderedStanza(pkg);
    if (quick !== undefined) {
      fast++;
      assert.equal(quick, general, `fast path differs for ${JSON.stringify(control)}`);
    }
    if (general instanceof Error) assert.throws(() => packagesStanza(pkg), { code: 'E_FORMAT' });
    else assert.equal(packagesStanza(pkg), general);
    // A control file the add accepts gives a stanza that every reader takes as one paragraph, with its fields.
    let accepted: ReturnType<typeof parseControlParagraph> | undefined;
    try {
      accepted = parseControlParagraph(control, 'control');
    } catch {
      accepted = undefined;
    }
    if (accepted && typeof general === 'string') {
      checked++;
      const read = parseDeb822(general);
      assert.equal(read.length, 1, `one paragraph from ${JSON.stringify(control)}:\n${general}`);
      for (const [k, v] of accepted.entries()) assert.equal(read[0].get(k), v, `${k} of ${JSON.stringify(control)}`);
      assert.equal(read[0].get('Filename'), base.filename);
      assert.doesNotMatch(general, /\r\n/, `no CR at a line end of the stanza of ${JSON.stringify(control)}`);
      if (eol === '\r\n') crlf++;
    }
  }
  assert.ok(crlf > 100, `${crlf} accepted CRLF control files`);
  assert.ok(checked > 1500, `${checked} accepted control files read back`);
  assert.ok(fast > 1500, `the fast path took ${fast} of 4000`);
  // What dpkg-deb and lxl's deb writer store (dpkg's order, not the index's) takes it.
  const dpkgOrder = 'Package: k\nVersion: 1\nArchitecture: amd64\nMaintainer: M <m@example.invalid>\nInstalled-Size: 7\nDepends: kmod\nSection: kernel\nPriority: optional\nDescription: d\n long\n .\n more\n';
  assert.ok(orderedStanza({ ...base, control: dpkgOrder }));
  // The same control file with CRLF line ends gives the same stanza, byte for byte.
  assert.equal(packagesStanza({ ...base, control: dpkgOrder.replaceAll('\n', '\r\n') }), packagesStanza({ ...base, control: dpkgOrder }));
});

/** Index rank of a field name, as the stanza orders them (unknown last). */
function rankOf(name: string): number {
  const i = PACKAGES_FIELD_ORDER.findIndex((f) => f.toLowerCase() === name.toLowerCase());
  return i < 0 ? PACKAGES_FIELD_ORDER.length : i;
}

test('pool paths: lib prefix, epoch dropped from the file name, bad names refused', () => {
  assert.equal(poolPrefix('linux'), 'l');
  assert.equal(poolPrefix('libxen'), 'libx');
  assert.equal(poolPath({ component: 'main', source: 'linux-signed', name: 'linux-image-x', version: '1:6.1+1~x', arch: 'amd64' }), 'pool/main/l/linux-signed/linux-image-x_6.1+1~x_amd64.deb');
  assert.throws(() => poolPath({ component: 'main', source: '../etc', name: 'x', version: '1', arch: 'amd64' }), { code: 'E_FORMAT' });
  assert.throws(() => formatReleaseDate(new Date('nope')), { code: 'E_FORMAT' });
});
