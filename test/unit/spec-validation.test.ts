// Bad specs fail through the real CLI with one line naming the field and the
// rule, and leave nothing at --out (neither a missing --out nor files in an
// existing one). A failure in the middle of writing (xz missing) cleans up too.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { lxl, pathWithOnlyNode } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { makeSpecDir } from './deb-fixtures.js';

interface BadCase {
  what: string;
  edit: (spec: Record<string, unknown>) => void;
  field: string;
  rule: RegExp;
}

const CASES: BadCase[] = [
  { what: 'missing name', edit: (s) => delete s.name, field: 'name', rule: /is required/ },
  { what: 'version with spaces', edit: (s) => (s.version = '1.0 beta'), field: 'version', rule: /must not contain spaces/ },
  { what: 'absolute file path', edit: (s) => (s.files = [{ path: '/etc/evil', content: 'x' }]), field: 'files[0].path', rule: /must be relative/ },
  { what: '".." in a file path', edit: (s) => (s.files = [{ path: 'boot/../../evil', content: 'x' }]), field: 'files[0].path', rule: /must not contain "\.\."/ },
  { what: 'file missing on disk', edit: (s) => (s.files = [{ path: 'boot/extra', source: 'does-not-exist' }]), field: 'files[0].source', rule: /file not found/ },
  { what: 'staged tree missing', edit: (s) => (s.root = 'no-such-tree'), field: 'root', rule: /cannot read staged tree/ },
  { what: 'maintainer script missing', edit: (s) => (s.scripts = { postinst: 'scripts/nope' }), field: 'scripts.postinst', rule: /file not found/ },
  { what: 'unknown arch', edit: (s) => (s.arch = 'amd64'), field: 'arch', rule: /must be one of x86_64, i386, all/ },
];

for (const format of ['deb', 'tar']) {
  for (const c of CASES) {
    test(`lxl pack ${format}: ${c.what} fails naming ${c.field} and leaves nothing at --out`, async () => {
      const dir = await tempDir();
      const specPath = await makeSpecDir(dir);
      const spec = JSON.parse(await readFile(specPath, 'utf8')) as Record<string, unknown>;
      c.edit(spec);
      await writeFile(specPath, JSON.stringify(spec));

      const fresh = path.join(dir, 'out-new');
      const r = await lxl(['pack', format, '--spec', specPath, '--out', fresh], { allowFail: true });
      assert.notEqual(r.code, 0);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one clear line, got:\n${r.stderr}`);
      assert.match(lines[0], /^lxl: invalid package spec: /);
      assert.ok(lines[0].includes(`${c.field}: `), `names the field ${c.field}: ${lines[0]}`);
      assert.match(lines[0], c.rule);
      assert.equal(r.stdout, '');
      assert.equal(existsSync(fresh), false, '--out was not created');

      const existing = path.join(dir, 'out-existing');
      await mkdir(existing);
      const r2 = await lxl(['pack', format, '--spec', specPath, '--out', existing], { allowFail: true });
      assert.notEqual(r2.code, 0);
      assert.deepEqual(await readdir(existing), []);
    });
  }
}

test('lxl pack deb: a failure while writing (xz not on PATH) removes the temp files and the --out it created', async () => {
  const dir = await tempDir();
  const specPath = await makeSpecDir(dir);
  const out = path.join(dir, 'a', 'b');
  const env = { ...process.env, PATH: await pathWithOnlyNode(dir) };
  const r = await lxl(['pack', 'deb', '--compression', 'xz', '--spec', specPath, '--out', out], { allowFail: true, env });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^lxl: cannot (run|compress).*xz/);
  assert.equal(existsSync(path.join(dir, 'a')), false);

  await mkdir(out, { recursive: true });
  const r2 = await lxl(['pack', 'tar', '--compression', 'xz', '--spec', specPath, '--out', out], { allowFail: true, env });
  assert.notEqual(r2.code, 0);
  assert.deepEqual(await readdir(out), []);
});

test('lxl pack: unknown format and bad --level fail with one line', async () => {
  const dir = await tempDir();
  const specPath = await makeSpecDir(dir);
  const r = await lxl(['pack', 'zip', '--spec', specPath, '--out', path.join(dir, 'o')], { allowFail: true });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^lxl: cannot pack "zip": unknown format/);
  const r2 = await lxl(['pack', 'deb', '--level', '12', '--spec', specPath, '--out', path.join(dir, 'o')], { allowFail: true });
  assert.notEqual(r2.code, 0);
  assert.match(r2.stderr, /--level must be an integer 1-9/);
  assert.equal(existsSync(path.join(dir, 'o')), false);
});

test('lxl pack --help lists the options', async () => {
  const r = await lxl(['pack', '--help']);
  for (const opt of ['--spec', '--out', '--compression', '--level', '--profile', '--key', '--passphrase-env', '--passphrase-file']) assert.ok(r.stdout.includes(opt), opt);
});
