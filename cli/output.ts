// Command output helpers.

/** Writes one line per item in a single write: a batch of thousands of results is one write(2), not thousands. */
export function writeLines<T>(items: readonly T[], line: (x: T) => string): void {
  if (items.length > 0) process.stdout.write(items.map(line).join(''));
}
