import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msUntilNewSecond } from '../../storage/fresh-mtime.js';

test('a rewrite waits until the clock leaves the second of the previous copy', () => {
  assert.equal(msUntilNewSecond(undefined, 10_500), 0, 'no previous copy: no wait');
  assert.equal(msUntilNewSecond(9_999, 10_000), 0, 'previous copy in an earlier second: no wait');
  const wait = msUntilNewSecond(10_100, 10_400);
  assert.ok(wait > 0 && 10_400 + wait >= 11_000 && wait <= 605, `same second: waits into the next one (got ${wait} ms)`);
  assert.ok(msUntilNewSecond(11_900, 10_000) > 1_900, 'a copy stamped in the future (clock skew) is waited out');
});
