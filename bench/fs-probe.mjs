// Prints what creating a file and a folder costs right now in <dir> (the
// bench's work folder), for reading the benchmark rows: on ext4 without a
// journal (this VM's root) the kernel skips each inode deleted in the last
// minutes one by one when it allocates a new one (fs/ext4/ialloc.c,
// recently_deleted), so right after a big deletion, such as an earlier
// bench's cleanup, a new file or folder can cost 0.3-1 ms instead of ~20 µs,
// and every row that creates files slows with it.
// Usage: node bench/fs-probe.mjs <dir>   (leaves its files for the bench's cleanup)
import fs from 'node:fs';
import path from 'node:path';

const dir = fs.mkdtempSync(path.join(process.argv[2] ?? '.', 'fs-probe-'));
const n = 300;
let t = performance.now();
for (let i = 0; i < n; i++) fs.closeSync(fs.openSync(path.join(dir, `f${i}`), 'wx'));
const file = ((performance.now() - t) * 1000) / n;
t = performance.now();
for (let i = 0; i < n; i++) fs.mkdirSync(path.join(dir, `d${i}`));
const folder = ((performance.now() - t) * 1000) / n;
console.log(`  file system now: creating a file ${file.toFixed(0)} µs, a folder ${folder.toFixed(0)} µs (${n} of each in the work folder; > 200 µs means inodes deleted in the last minutes are taxing every new file: see README, Benchmarks)`);
