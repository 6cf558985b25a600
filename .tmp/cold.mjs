import { readdirSync } from 'node:fs';
const { readRpmFile } = await import(process.argv[2] ?? '../dist/repo-layout/rpm/rpm-reader.js');
const { yumPackageFrom } = await import('../dist/repo-layout/yum/yum-package.js');
const dir = '/tmp/yp/inplace/public/yum/stable/Packages/b';
const files = readdirSync(dir).map((f) => `${dir}/${f}`);
const t0 = performance.now();
for (const f of files) { const info = await readRpmFile(f, { verify: true, digests: ['sha256', 'sha1'] }); yumPackageFrom(info, { href: 'x', sha256: info.fileDigests.sha256, sha1: info.fileDigests.sha1, size: 1, mtime: 1 }); }
const t1 = performance.now();
for (const f of files) { const info = await readRpmFile(f, { verify: true, digests: ['sha256', 'sha1'] }); yumPackageFrom(info, { href: 'x', sha256: info.fileDigests.sha256, sha1: info.fileDigests.sha1, size: 1, mtime: 1 }); }
console.log(`cold ${(t1 - t0).toFixed(0)} ms, warm ${(performance.now() - t1).toFixed(0)} ms`);
