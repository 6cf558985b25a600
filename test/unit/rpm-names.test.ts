// Version, arch and dependency mapping from the Debian-style spec to rpm, and
// rpm version ordering checked against rpm's own rpm.vercmp.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpecError } from '../../repo-layout/errors.js';
import { parseDependency } from '../../repo-layout/model.js';
import { RPM_ARCH, rpmDep, rpmEvr } from '../../repo-layout/rpm/rpm-names.js';
import { Sense } from '../../repo-layout/rpm/rpm-tags.js';
import { compareEvr, rpmvercmp } from '../../repo-layout/rpm/rpm-vercmp.js';
import { missingTools, run } from '../support/exec.js';

test('spec versions split into epoch, version and release at the last dash', () => {
  assert.deepEqual(rpmEvr('6.1.192-1'), { epoch: undefined, version: '6.1.192', release: '1' });
  assert.throws(() => rpmEvr('1:6.1.192+1~legacy1-2-3'), SpecError, 'a "-" left in the rpm version is rejected');
  assert.deepEqual(rpmEvr('2:6.1.192+1~legacy1-3'), { epoch: 2, version: '6.1.192+1~legacy1', release: '3' });
  assert.deepEqual(rpmEvr('6.1.192'), { epoch: undefined, version: '6.1.192', release: '1' });
  assert.throws(() => rpmEvr('6.1~rc1-1', { profile: 'el5' }), SpecError);
  assert.deepEqual(RPM_ARCH, { x86_64: 'x86_64', i386: 'i686', all: 'noarch' });
});

test('deb relations map to rpm flags; alternatives need rich deps (modern only)', () => {
  const dep = (s: string, rich = true) => rpmDep(parseDependency(s, 'depends[0]'), { field: 'depends[0]', rich });
  assert.deepEqual(dep('kmod (>= 29)'), { name: 'kmod', flags: Sense.GREATER | Sense.EQUAL, version: '29' });
  assert.deepEqual(dep('a (<< 2.0-3)'), { name: 'a', flags: Sense.LESS, version: '2.0-3' });
  assert.deepEqual(dep('a (>> 1:2.0)'), { name: 'a', flags: Sense.GREATER, version: '1:2.0' });
  assert.deepEqual(dep('a (= 1.0-1)'), { name: 'a', flags: Sense.EQUAL, version: '1.0-1' });
  assert.deepEqual(dep('a (<= 1.0)'), { name: 'a', flags: Sense.LESS | Sense.EQUAL, version: '1.0' });
  assert.deepEqual(dep('dracut | initramfs-tools (>= 0.130)'), { name: '(dracut or initramfs-tools >= 0.130)', flags: 0, version: '' });
  assert.throws(() => dep('dracut | initramfs-tools', false), SpecError);
});

const PAIRS: Array<[string, string]> = [
  ['1.0', '1.0'], ['1.0', '1.1'], ['1.0~rc1', '1.0'], ['1.0~rc1', '1.0~rc2'], ['1.0^1', '1.0'], ['1.0^1', '1.0.1'], ['1a', '1'], ['a', '1'],
  ['1.01', '1.1'], ['6.1.192', '6.1.20'], ['1.0~~', '1.0~'], ['2.0', '2_0'], ['xyz', 'xyz.1'], ['6.1.192+1~legacy1', '6.1.192+1'], ['10', '9'], ['1.0.0', '1.0'],
];

test('rpmvercmp agrees with rpm.vercmp', { skip: missingTools('rpm') }, async () => {
  const lua = PAIRS.map(([a, b]) => `t[#t+1]=rpm.vercmp('${a}','${b}')`).join(' ');
  const r = await run('rpm', ['--eval', `%{lua: local t={} ${lua} print(table.concat(t, ' '))}`]);
  const theirs = r.stdout.trim().split(/\s+/).map(Number);
  assert.equal(theirs.length, PAIRS.length);
  assert.deepEqual(PAIRS.map(([a, b]) => rpmvercmp(a, b)), theirs);
  assert.equal(compareEvr({ epoch: 1, version: '1', release: '1' }, { version: '9', release: '9' }), 1);
  assert.equal(compareEvr({ version: '1', release: '2' }, { version: '1', release: '10' }), -1);
});
