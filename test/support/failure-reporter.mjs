// A node:test reporter that writes one JSON line per failed test (not a TODO
// or a SKIP): its name, its file, its place in the tree and the first lines of
// its error. test/run.mjs adds it beside the TAP reporter and prints what it
// wrote at the very end of the run, so the tail of a long CI log names every
// failure even when the log is shown only in part.

export default async function* failureReporter(source) {
  const parents = [];
  for await (const event of source) {
    if (event.type === 'test:start') parents[event.data.nesting] = event.data.name;
    if (event.type !== 'test:fail' || event.data.todo !== undefined || event.data.skip !== undefined) continue;
    const { name, nesting, file, details } = event.data;
    const error = details?.error;
    const cause = error?.cause ?? error;
    const message = String(cause?.message ?? cause ?? 'failed')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(0, 6)
      .join('\n');
    yield `${JSON.stringify({ file: file ?? null, path: [...parents.slice(0, nesting), name], message })}\n`;
  }
}
