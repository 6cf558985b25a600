// `lxl up` (npm start): first run creates the signing key and serves the
// embedded server; a second run reuses the same key.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../support/tmp.js';

/** Starts `lxl up`, waits for its banner, returns the banner and a stop function. */
async function up(varDir: string): Promise<{ out: string; url: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [new URL('../../bin/lxl.mjs', import.meta.url).pathname, 'up', '--var', varDir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lxl up did not start:\n${out}\n${err}`)), 180_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && out.includes('npx lxl worker')) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    });
    child.on('exit', (code) => reject(new Error(`lxl up exited ${code}:\n${out}\n${err}`)));
  });
  return {
    out,
    url,
    stop: () =>
      new Promise((resolve) => {
        child.removeAllListeners('exit');
        child.on('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

test('lxl up: first run makes the signing key and serves; the second run reuses the key', { timeout: 600_000 }, async () => {
  const varDir = path.join(await tempDir('lxl-up-'), 'var');
  const first = await up(varDir);
  try {
    for (const f of ['linux-xen-legacy.secret.asc', 'linux-xen-legacy.asc', 'linux-xen-legacy.gpg']) assert.ok(existsSync(path.join(varDir, 'keys', f)), `${f} was written`);
    assert.equal(((await (await fetch(`${first.url}/healthz`)).json()) as { status: string }).status, 'ok');
    const repos = (await (await fetch(`${first.url}/api/v1/repos`)).json()) as { repos: Array<{ name: string }> };
    assert.deepEqual(repos.repos.map((r) => r.name), ['linux-xen-legacy']);
  } finally {
    assert.equal(await first.stop(), 0, 'SIGTERM stops lxl up cleanly');
  }
  const fpr = /Signing key ([0-9A-F]{40})/.exec(first.out)?.[1];
  assert.ok(fpr, 'the banner names the key fingerprint');
  const second = await up(varDir);
  try {
    assert.match(second.out, new RegExp(`Signing key ${fpr}`), 'the second run reuses the key');
  } finally {
    await second.stop();
  }
});
