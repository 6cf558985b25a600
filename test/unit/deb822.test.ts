// The deb822 parser and Paragraph: exact multi-line values (why lxl does not
// use debian-control), case-insensitive names, and errors that name the line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatParagraph, Paragraph, parseControlParagraph, parseCleanDeb822, parseDeb822, parseDeb822ByLine, parseSingleParagraph } from '../../repo-layout/deb822.js';
import { FormatError } from '../../repo-layout/errors.js';
import { seededRandom } from '../support/crash-trials.js';

test('fields keep their order, their names\' case and every continuation line; paragraphs split at blank or blank-looking lines', () => {
  const text =
    'Package: linux-xen-legacy\r\nVersion: 6.1.192+1~legacy1\nDescription: kernel\n  with legacy names\n .\n\tmore  \n \t \nPackage: b\nSHA256:\n 0123 1 Packages\n';
  const [a, b, ...rest] = parseDeb822(text);
  assert.equal(rest.length, 0);
  assert.deepEqual(a.keys(), ['Package', 'Version', 'Description']);
  assert.equal(a.get('version'), '6.1.192+1~legacy1', 'CR of a CRLF line dropped; lookup ignores case');
  assert.equal(a.get('DESCRIPTION'), 'kernel\n  with legacy names\n .\n\tmore', 'continuations kept as written (trailing blanks cut)');
  assert.equal(b.get('sha256'), '\n 0123 1 Packages', 'a value that starts on the next line');
  assert.equal(formatParagraph(b), 'Package: b\nSHA256:\n 0123 1 Packages\n');
  assert.equal(parseSingleParagraph('A: 1\n', 'x').get('a'), '1');
  assert.throws(() => parseSingleParagraph('A: 1\n\nB: 2\n', 'the control file'), /cannot parse the control file: expected one paragraph, found 2/);
});

test('malformed input is a FormatError naming the line', () => {
  const cases: Array<[string, RegExp]> = [
    ['Package: a\npackage: b\n', /line 2: duplicate field package/],
    [' orphan\n', /line 1: continuation line outside a field/],
    ['A: 1\n\n more\n', /line 3: continuation line outside a field/],
    ['A: 1\nno colon here\n', /line 2: expected "Field: value", got "no colon here"/],
    ['-X: 1\n', /line 1: expected "Field: value"/],
    ['# comment\nA: 1\n', /line 1: expected "Field: value"/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseDeb822(text), (err: Error) => err instanceof FormatError && message.test(err.message), text);
  // Comments where the option allows them, even between a field's lines.
  assert.equal(parseDeb822('# c\nA: 1\n# c\n 2\n', { comments: true })[0].get('A'), '1\n 2');
});

test('Paragraph: set keeps a field\'s place and name, delete keeps the others\' order and lookups', () => {
  const p = new Paragraph([['Package', 'a'], ['Version', '1'], ['Architecture', 'all']]);
  p.set('VERSION', '2').set('Depends', 'b');
  assert.deepEqual(p.entries(), [['Package', 'a'], ['Version', '2'], ['Architecture', 'all'], ['Depends', 'b']]);
  p.delete('package').delete('nothing');
  assert.deepEqual(p.keys(), ['Version', 'Architecture', 'Depends']);
  assert.equal(p.get('depends'), 'b');
  assert.equal(p.has('Package'), false);
  p.set('Package', 'c');
  assert.deepEqual(p.keys(), ['Version', 'Architecture', 'Depends', 'Package']);
  assert.equal(p.get('architecture'), 'all');
});

test('a control file with a line of only spaces or tabs is refused, naming the line and the field, as dpkg-deb does', () => {
  const head = 'Package: p\nVersion: 1\nArchitecture: amd64\n';
  for (const [text, line, field] of [
    [`${head}Description: d\n \n`, 5, 'Description'],
    [`${head}Description: d\n long\n\t \n more\n`, 6, 'Description'],
    [`Package: p\n \nVersion: 1\n`, 2, 'Package'],
    [`${head}Description: d\r\n \r\n`, 5, 'Description'],
  ] as const) {
    assert.throws(
      () => parseControlParagraph(text, 'the control file'),
      (err: unknown) => err instanceof FormatError && err.message.startsWith(`cannot parse the control file: line ${line}: a line of only spaces or tabs in the value of field ${field} `),
      JSON.stringify(text),
    );
  }
  // Without such lines it is parseSingleParagraph: an empty last line, CRLF endings and " ." are fine.
  for (const text of [`${head}Description: d\n .\n x\n`, `${head}Description: d\n\n`, `${head.replaceAll('\n', '\r\n')}Description: d\r\n`]) {
    assert.deepEqual(parseControlParagraph(text, 'c').entries(), parseSingleParagraph(text, 'c').entries());
  }
  assert.throws(() => parseControlParagraph(`${head}\nPackage: q\n`, 'c'), /expected one paragraph, found 2/);
});


/** What a parse gave: each paragraph's fields, or the error's message. */
function outcome(parse: () => Paragraph[]): string {
  try {
    return JSON.stringify(parse().map((p) => p.entries()));
  } catch (err) {
    assert.ok(err instanceof FormatError, String(err));
    return `error: ${err.message}`;
  }
}

test('the clean-text fast path parses exactly as the line-at-a-time parser, on 20,000 generated texts', () => {
  // Pieces that sit on every edge of "clean": blanks and other whitespace at a value's ends, CR, line and paragraph
  // separators in a first line and in continuations, names that may not start a field, duplicates, missing newlines.
  const names = ['Package', 'package', 'Version', 'Description', 'X-A', 'SHA256', '-X', '#c', 'A B', 'Ä', 'a'];
  const values = ['', ' ', 'v', ' v', 'v ', ' v\t', 'caf\u00e9', '\u00e9x', 'x\u00a0', 'a\rb', 'a\u2028b', 'x\r', '1.0+1~lxl1', ' \t '];
  const conts = [' more', '  two  ', '\t.', ' ', ' \t', ' .', ' x\r', ' caf\u00e9', ' a\u2029b', '\t\u00a0'];
  const rnd = seededRandom(822);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  let clean = 0;
  for (let n = 0; n < 20_000; n++) {
    let text = rnd() < 0.05 ? pick(['\n', ' \n', '']) : '';
    const paragraphs = 1 + Math.floor(rnd() * 3);
    for (let p = 0; p < paragraphs; p++) {
      if (p > 0) text += pick(['\n', '\n\n', ' \n', '\t\n\n']);
      const fields = Math.floor(rnd() * 5);
      for (let f = 0; f < fields; f++) {
        text += `${pick(names)}:${pick(values)}\n`;
        while (rnd() < 0.3) text += `${pick(conts)}\n`;
      }
    }
    if (rnd() < 0.1) text = text.slice(0, -1);
    const byLine = outcome(() => parseDeb822ByLine(text));
    assert.equal(outcome(() => parseDeb822(text)), byLine, JSON.stringify(text));
    const fast = parseCleanDeb822(text);
    if (fast === undefined) continue;
    assert.equal(outcome(() => fast), byLine, `the fast path's own result: ${JSON.stringify(text)}`);
    clean++;
  }
  assert.ok(clean > 1_000, `the fast path took enough of the texts (${clean})`);
});
