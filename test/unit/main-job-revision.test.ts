// The build revision `lxl up` gives a job (cli/main-job.ts nextRevision) and
// the kernel release it builds under (builders/job-runner.ts withRevision).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextRevision } from '../../cli/main-job.js';
import { withRevision } from '../../builders/job-runner.js';
import { loadKernelLine } from '../../builders/kernel-line.js';
import type { JobRecord } from '../../server/metadata-store.js';

const job = (params: Record<string, unknown>, state = 'succeeded', kind = 'build'): JobRecord => ({ kind, state, params }) as unknown as JobRecord;
const want = { line: '6.1', arch: 'x86_64', flavour: 'full', inputs: 'aaaaaaaaaaaa' };

test('nextRevision: 1 at first, kept for the same inputs, one above every other build of the line and arch', () => {
  assert.equal(nextRevision([], want), 1);
  assert.equal(nextRevision([job({ ...want, revision: 3 }, 'failed')], want), 3, 'a retried build of the same inputs keeps its revision');
  assert.equal(nextRevision([job({ ...want, inputs: 'bbbbbbbbbbbb' })], want), 2, 'jobs without a revision were revision 1');
  assert.equal(nextRevision([job({ ...want, inputs: 'b', revision: 4 }, 'failed'), job({ ...want, inputs: 'c', revision: 2 })], want), 5, 'failed jobs may have uploaded files');
  assert.equal(nextRevision([job({ ...want, flavour: 'minimal' })], want), 2, 'another flavour makes packages of the same names');
  assert.equal(nextRevision([job({ ...want, arch: 'i386', inputs: 'b', revision: 7 }), job({ ...want, line: '6.12', inputs: 'b' }), job({ ...want, inputs: 'b' }, 'succeeded', 'other')], want), 1, 'other arches, lines and kinds do not count');
});

test('withRevision: revision 1 keeps the line; above 1 the revision goes before LOCALVERSION', async () => {
  const line = await loadKernelLine('6.1');
  assert.equal(withRevision(line, 1), line);
  assert.equal(withRevision(line, 2).localversion, '-2-xen-legacy');
  assert.equal(line.localversion, '-xen-legacy', 'the loaded line is not changed');
});
