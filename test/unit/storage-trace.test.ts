import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDateU, formatRfc2822, formatTrace, traceKey, writeTrace } from '../../storage/trace.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

const instants = [Date.UTC(2026, 10, 28, 1, 36, 27), Date.UTC(2024, 1, 29, 23, 59, 59), Date.UTC(2025, 0, 5, 0, 0, 0)];

test('formatDateU and formatRfc2822 match GNU date', { skip: missingTools('date') }, async () => {
  for (const ms of instants) {
    const env = { ...process.env, LC_ALL: 'C', TZ: 'UTC' };
    const u = (await run('date', ['-u', '-d', `@${ms / 1000}`], { env })).stdout.trim();
    const r = (await run('date', ['-u', '-R', '-d', `@${ms / 1000}`], { env })).stdout.trim();
    assert.equal(formatDateU(new Date(ms)), u);
    assert.equal(formatRfc2822(new Date(ms)), r);
  }
});

test('formatTrace: the first line is the finish time, fields follow; bad hosts are refused', () => {
  const t = { host: 'mirror1.example.org', started: new Date(instants[1]!), finished: new Date(instants[0]!), creator: 'lxl 0.1.0', architectures: ['amd64', 'i386'] };
  const lines = formatTrace(t).trimEnd().split('\n');
  assert.equal(lines[0], formatDateU(t.finished));
  assert.ok(lines.includes(`Date: ${formatRfc2822(t.finished)}`));
  assert.ok(lines.includes(`Date-Started: ${formatRfc2822(t.started)}`));
  assert.ok(lines.includes('Running on host: mirror1.example.org'));
  assert.ok(lines.includes('Architectures: amd64 i386'));
  assert.throws(() => formatTrace({ ...t, host: '../etc' }), RangeError);
  assert.equal(traceKey('apt', 'h'), 'apt/project/trace/h');
  assert.equal(traceKey('', 'h'), 'project/trace/h');
});

test('writeTrace writes project/trace/<host> through the storage', async () => {
  const st = new FsStorage({ root: await tempDir() });
  const finished = new Date();
  const key = await writeTrace(st, 'apt', { host: 'h1', started: finished, finished, creator: 'lxl test' });
  assert.equal(key, 'apt/project/trace/h1');
  assert.equal((await st.getBytes(key)).toString().split('\n')[0], formatDateU(finished));
});
