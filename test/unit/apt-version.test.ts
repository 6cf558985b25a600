// Debian version ordering, checked against the real `dpkg --compare-versions`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, missingTools } from '../support/exec.js';
import { compareDebianVersions, parseDebianVersion } from '../../repo-layout/apt/debian-version.js';
import { applyRetention } from '../../repo-layout/apt/apt-retention.js';

const VERSIONS = [
  '6.1.192+1~legacy1', '6.1.192+1', '6.1.192', '6.1.192~rc1', '6.1.192+1~legacy2', '6.1.192+2~legacy1',
  '6.1.193', '6.1.99', '1:6.1.1', '0:6.1.192', '1.0', '1.0-1', '1.0-1~bpo1', '1.0~', '1.0~~', '1.0~~a', '1.0a', '1.0+',
  '1.0.0', '1.00', '1.0-0', '2.0-1+deb12u1', '2.0-1+b1', '2.0-1.1', '10', '9', '1a', '1A', '1.0-a', '1.0-A',
  '3.2.1-4ubuntu1', '3.2.1-4', '1:0', '2:0~', '1.2.3+git20240101.abc-1',
];

test('compareDebianVersions agrees with dpkg --compare-versions', { skip: missingTools('dpkg') }, async () => {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < VERSIONS.length; i++) for (let j = i + 1; j < VERSIONS.length; j += 3) pairs.push([VERSIONS[i], VERSIONS[j]]);
  for (const v of VERSIONS) pairs.push([v, v]);
  // One shell call for all pairs keeps this fast: print lt/eq/gt per pair.
  const script = pairs
    .map(([a, b]) => `if dpkg --compare-versions '${a}' lt '${b}'; then echo lt; elif dpkg --compare-versions '${a}' eq '${b}'; then echo eq; else echo gt; fi`)
    .join('\n');
  const expected = (await run('sh', ['-c', script])).stdout.trim().split('\n');
  assert.equal(expected.length, pairs.length);
  pairs.forEach(([a, b], i) => {
    const c = compareDebianVersions(a, b);
    const got = c < 0 ? 'lt' : c === 0 ? 'eq' : 'gt';
    assert.equal(got, expected[i], `${a} vs ${b}`);
    const back = compareDebianVersions(b, a);
    assert.equal(Math.sign(back) + Math.sign(c), 0, `antisymmetric for ${a} vs ${b}`);
  });
});

test('~ sorts before everything and + after the plain version', () => {
  assert.ok(compareDebianVersions('6.1.192+1~legacy1', '6.1.192+1') < 0);
  assert.ok(compareDebianVersions('6.1.192+1~legacy1', '6.1.192') > 0);
  assert.ok(compareDebianVersions('1.0~rc1', '1.0') < 0);
  assert.ok(compareDebianVersions('1:0.1', '9.9') > 0);
});

test('parseDebianVersion splits epoch, upstream and revision and refuses bad versions', () => {
  assert.deepEqual(parseDebianVersion('1:2.3-4-5'), { epoch: 1, upstream: '2.3-4', revision: '5' });
  assert.deepEqual(parseDebianVersion('6.1.192+1~legacy1'), { epoch: 0, upstream: '6.1.192+1~legacy1', revision: '' });
  for (const bad of ['', 'x1.0', '1.0-', 'a:1', '1.0 1', '1_0']) assert.throws(() => parseDebianVersion(bad), { code: 'E_FORMAT' }, bad);
});

test('applyRetention keeps the N newest versions of each name, every arch of them', () => {
  const recs = [
    { name: 'k', version: '6.1.190', arch: 'amd64' },
    { name: 'k', version: '6.1.192+1~legacy1', arch: 'amd64' },
    { name: 'k', version: '6.1.192+1~legacy1', arch: 'i386' },
    { name: 'k', version: '6.1.192+1', arch: 'amd64' },
    { name: 'm', version: '1', arch: 'all' },
  ];
  const { keep, drop } = applyRetention(recs, 2);
  assert.deepEqual(drop.map((r) => r.version), ['6.1.190']);
  assert.equal(keep.length, 4);
  assert.equal(applyRetention(recs, 0).keep.length, 5);
});
