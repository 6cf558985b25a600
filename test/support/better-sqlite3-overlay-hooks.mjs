// Module resolution hooks (node:module register) for better-sqlite3-overlay.mjs:
// the bare specifier `better-sqlite3` goes to the package at the folder
// given to initialize(); every other specifier resolves as usual.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

let target;

export function initialize(dir) {
  target = pathToFileURL(path.join(dir, 'lib', 'index.js')).href;
}

export async function resolve(specifier, context, next) {
  if (specifier === 'better-sqlite3') return { url: target, format: 'commonjs', shortCircuit: true };
  return next(specifier, context);
}
