// What Node.js itself costs for the apt-index full publish: a bare script that
// does the same job with Node's built-ins and none of lxl's work, timed against
// lxl's CLI and aptly on the same debs, the three alternating.
//
// The bare job, in one plain script (no lxl code, no bundle, no snapshot): read
// each .deb whole, its four digests, find and gunzip control.tar.gz, take
// ./control, a regex per field; per architecture a Packages text, gzip -9 (the
// thread pool) and xz -6 with a 256 KiB dictionary on two threads (a child
// process each), started before the 2,000 pool folders and hard links are made
// on the main thread; a Release with SHA256 sums; exit. Left out, all of which
// lxl's CLI does: every check of the input (ar and tar headers, sizes, field
// syntax, immutability against the catalogue), the catalogue, InRelease and
// Release.gpg (loading the key, signing), by-hash copies, the xz block cache,
// and every fsync.
//
// If the bare script is no faster than lxl's CLI, what is left between the CLI
// and a target is Node's own: its start and JavaScript that runs cold (a start-
// up snapshot keeps no compiled code), on the two cores this machine has.
//
// Usage: node bench/apt-index/bare-node.mjs [--count 2000] [--pairs 8] [--work DIR]
//   (the debs and a signing key are made through tsx before the timing starts;
//   the work folder defaults to /dev/shm, away from ext4's inode tax; --work
//   /tmp measures on ext4; nothing is deleted before the end)
//   node bench/apt-index/bare-node.mjs --job LIST OUT   (one run of the bare job)

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const args = process.argv.slice(2);

if (args[0] === '--job') await job(args[1], args[2]);
else compare();

/** The bare job: LIST names the .debs (a line each), OUT is the repo made. */
async function job(list, out) {
  const files = fs.readFileSync(list, 'utf8').split('\n').filter(Boolean);
  const recs = [];
  for (const f of files) {
    const buf = fs.readFileSync(f);
    // ar: the 8-byte magic, then 60-byte member headers (name at 0, size at 48).
    let control;
    for (let at = 8; at + 60 <= buf.length && !control; ) {
      const size = Number(buf.toString('latin1', at + 48, at + 58).trim());
      if (buf.toString('latin1', at, at + 11) === 'control.tar') control = zlib.gunzipSync(buf.subarray(at + 60, at + 60 + size));
      at += 60 + size + (size & 1);
    }
    // tar: 512-byte headers; the member named ./control.
    let text;
    for (let h = 0; h + 512 <= control.length && text === undefined; ) {
      const name = control.toString('latin1', h, h + 100).replace(/\0.*$/s, '');
      const size = parseInt(control.toString('latin1', h + 124, h + 136), 8);
      if (name === './control' || name === 'control') text = control.toString('utf8', h + 512, h + 512 + size);
      h += 512 + Math.ceil(size / 512) * 512;
    }
    const fields = {};
    for (const m of text.matchAll(/^([^:\s]+):[ \t]*(.*(?:\n[ \t].*)*)/gm)) fields[m[1]] = m[2];
    const name = fields.Package;
    const pool = `pool/main/${name.startsWith('lib') ? name.slice(0, 4) : name[0]}/${name}`;
    const filename = `${pool}/${name}_${fields.Version.replace(/^\d+:/, '')}_${fields.Architecture}.deb`;
    const sums = ['md5', 'sha1', 'sha256', 'sha512'].map((a) => crypto.createHash(a).update(buf).digest('hex'));
    const stanza = `${text.replace(/\n*$/, '')}\nFilename: ${filename}\nSize: ${buf.length}\nMD5sum: ${sums[0]}\nSHA1: ${sums[1]}\nSHA256: ${sums[2]}\nSHA512: ${sums[3]}\n`;
    recs.push({ file: f, name, arch: fields.Architecture, pool, filename, stanza });
  }
  recs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const arches = ['amd64', 'i386'].map((arch) => {
    const dir = path.join(out, 'dists/stable/main', `binary-${arch}`);
    fs.mkdirSync(dir, { recursive: true });
    const text = Buffer.from(recs.filter((r) => r.arch === arch || r.arch === 'all').map((r) => r.stanza).join('\n'));
    const xz = new Promise((resolve, reject) => {
      const c = spawn('xz', ['-T2', '--lzma2=preset=6,dict=256KiB', '-c'], { stdio: ['pipe', fs.openSync(path.join(dir, 'Packages.xz'), 'w'), 'inherit'] });
      c.on('error', reject).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`xz exited ${code}`))));
      c.stdin.end(text);
    });
    const gz = new Promise((resolve, reject) => zlib.gzip(text, { level: 9 }, (err, b) => (err ? reject(err) : resolve(b))));
    return { arch, dir, text, xz, gz };
  });
  // The pool, while xz and gzip run.
  for (const r of recs) {
    fs.mkdirSync(path.join(out, r.pool), { recursive: true });
    fs.linkSync(r.file, path.join(out, r.filename));
  }
  const release = [];
  for (const a of arches) {
    fs.writeFileSync(path.join(a.dir, 'Packages'), a.text);
    fs.writeFileSync(path.join(a.dir, 'Packages.gz'), await a.gz);
    await a.xz;
    for (const n of ['Packages', 'Packages.gz', 'Packages.xz']) {
      const b = fs.readFileSync(path.join(a.dir, n));
      release.push(` ${crypto.createHash('sha256').update(b).digest('hex')} ${b.length} main/binary-${a.arch}/${n}`);
    }
  }
  fs.writeFileSync(path.join(out, 'dists/stable/Release'), `Suite: stable\nArchitectures: amd64 i386\nComponents: main\nSHA256:\n${release.join('\n')}\n`);
}

/** Makes the debs and keys, then times the bare job, lxl's CLI and aptly alternately. */
function compare() {
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
  };
  const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const count = Number(opt('--count', '2000'));
  const pairs = Number(opt('--pairs', '8'));
  const work = fs.mkdtempSync(path.join(opt('--work', fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()), 'lxl-bare-'));
  const tsx = (code) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: top, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${code.slice(0, 80)}…: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1));
  };
  const keyFile = path.join(work, 'key.asc');
  const made = tsx(`
    import { writeFileSync } from 'node:fs';
    import { makeBenchDebs } from './bench/apt-index/bench-debs.ts';
    import { generateKey } from './repo-layout/signing/keys.ts';
    import { findAptly } from './test/support/aptly.ts';
    const debs = await makeBenchDebs(${JSON.stringify(path.join(work, 'debs'))}, ${count});
    const key = await generateKey({ name: 'lxl bare', email: 'bare@lxl.test', algorithm: 'rsa4096' });
    writeFileSync(${JSON.stringify(keyFile)}, key.secretArmored, { mode: 0o600 });
    console.log(JSON.stringify({ debs, fingerprint: key.fingerprint, aptly: (await findAptly()) ?? null }));`);
  const list = path.join(work, 'list');
  fs.writeFileSync(list, made.debs.join('\n'));
  // aptly as bench/apt-index/run.ts runs it: one key for both signers, imported into a gpg home of the run's own.
  const gnupg = path.join(work, 'gnupg');
  fs.mkdirSync(gnupg, { mode: 0o700 });
  const genv = { ...process.env, GNUPGHOME: gnupg };
  const wall = (cmds) => {
    const t = process.hrtime.bigint();
    for (const [bin, a, env] of cmds) {
      const r = spawnSync(bin, a, { env: env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${bin} ${a.slice(0, 3).join(' ')} failed: ${r.stderr}`);
    }
    return Number(process.hrtime.bigint() - t) / 1e9;
  };
  wall([['gpg', ['--batch', '--import', keyFile], genv]]);
  const runs = {
    'bare Node job': (dir) => wall([[process.execPath, [fileURLToPath(import.meta.url), '--job', list, dir]]]),
    'lxl CLI --link': (dir) => wall([[path.join(top, 'bin/lxl'), ['apt', 'add', dir, ...made.debs, '--key', keyFile, '--link']]]),
  };
  if (made.aptly) {
    runs['aptly add + publish'] = (dir) => {
      const conf = `${dir}.conf`;
      fs.writeFileSync(conf, JSON.stringify({ rootDir: dir, architectures: ['amd64', 'i386'], gpgProvider: 'gpg2' }));
      const a = (...x) => [made.aptly, [`-config=${conf}`, ...x], genv];
      wall([a('repo', 'create', '-distribution=stable', '-component=main', 'bench')]);
      return wall([a('repo', 'add', 'bench', ...made.debs), a('publish', 'repo', '-batch', `-gpg-key=${made.fingerprint}`, '-skip-contents', '-skip-bz2', '-acquire-by-hash', 'bench')]);
    };
  }
  const names = Object.keys(runs);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  let n = 0;
  for (let p = 0; p < pairs; p++) {
    // Rotated, so that no tool always runs first.
    for (const name of names.map((_, i) => names[(i + p) % names.length])) {
      const dir = path.join(work, `out-${n++}`);
      // Kept until the end, as run.ts keeps its rounds' files: on ext4 a deletion taxes whatever creates files next.
      times[name].push(runs[name](dir));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const start = median(Array.from({ length: 5 }, () => wall([[process.execPath, ['-e', '0']]])));
  console.log(`bare-node: ${count} debs, ${pairs} round(s), in ${work}, Node ${process.version}`);
  console.log(`  node -e 0              ${start.toFixed(3)} s`);
  const aptly = made.aptly ? median(times['aptly add + publish']) : undefined;
  for (const name of names) {
    const xs = times[name];
    const ratio = aptly && name !== 'aptly add + publish' ? `  ${(median(xs) / aptly).toFixed(2)} of aptly (the CLI row's target: <= 0.5)` : '';
    console.log(`  ${name.padEnd(22)} ${median(xs).toFixed(3)} s  [${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}]${ratio}`);
  }
  if (!made.aptly) console.log('  aptly not available (apt-get download aptly failed): no ratios');
  fs.rmSync(work, { recursive: true, force: true });
}
