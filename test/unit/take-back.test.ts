// linkedNow: which keys a linking add made, from its keys and what linkFiles found existing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkedNow } from '../../repo-layout/take-back.js';

test('linkedNow: a key is made when the batch has it more often than linkFiles found it existing', () => {
  assert.deepEqual(linkedNow(['a', 'b', 'c'], []), ['a', 'b', 'c']);
  assert.deepEqual(linkedNow(['a', 'b', 'c'], ['b']), ['a', 'c'], 'b was there before');
  assert.deepEqual(linkedNow(['a', 'a', 'b'], ['a']), ['a', 'b'], 'a given twice: linked once, found existing once');
  assert.deepEqual(linkedNow(['a', 'a'], ['a', 'a']), [], 'a was there before and given twice');
  assert.deepEqual(linkedNow([], []), []);
});
