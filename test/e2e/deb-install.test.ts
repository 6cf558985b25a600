// Real clients on our .debs: dpkg -i / -r inside a Debian bookworm chroot
// (the maintainer scripts run and leave markers), and lintian with no
// error-level tag except the ones named and explained below.

import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { MARKER_DIR, makeSpecDir } from '../unit/deb-fixtures.js';

for (const compression of ['gzip', 'xz']) {
  test(`dpkg -i in a bookworm chroot installs our ${compression} deb; preinst/postinst/prerm/postrm run`, { skip: chrootUnavailable(), timeout: 20 * 60_000 }, async () => {
    const dir = await tempDir();
    const specPath = await makeSpecDir(dir, { depends: ['dpkg (>= 1.15)'] });
    const deb = (await lxl(['pack', 'deb', '--compression', compression, '--spec', specPath, '--out', path.join(dir, 'out')])).stdout.trim();
    const c = await makeChroot('bookworm');
    try {
      await copyFile(deb, path.join(c.root, 'tmp/pkg.deb'));
      await c.run(['dpkg', '-i', '/tmp/pkg.deb']);
      const marker = (name: string): Promise<string> => readFile(path.join(c.root, MARKER_DIR, name), 'utf8');
      assert.match(await marker('preinst'), /preinst install\s*$/m);
      assert.match(await marker('postinst'), /postinst configure\s*$/m);
      const status = (await c.run(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'hello-legacy'])).stdout;
      assert.equal(status, 'install ok installed 1.0+1~x1');
      const listed = (await c.run(['dpkg', '-L', 'hello-legacy'])).stdout;
      assert.match(listed, /^\/boot\/vmlinuz-6\.1\.0-lxl-test$/m);
      assert.equal(
        await readFile(path.join(c.root, 'boot/System.map-6.1.0-lxl-test'), 'utf8'),
        await readFile(path.join(dir, 'tree/boot/System.map-6.1.0-lxl-test'), 'utf8'),
      );
      // dpkg verifies the installed files against our md5sums.
      const verify = await c.run(['dpkg', '--verify', 'hello-legacy']);
      assert.equal(verify.stdout, '');

      await c.run(['dpkg', '-r', 'hello-legacy']);
      assert.match(await marker('prerm'), /prerm remove\s*$/m);
      assert.match(await marker('postrm'), /postrm remove\s*$/m);
      const gone = await c.run(['test', '-e', '/boot/vmlinuz-6.1.0-lxl-test'], { allowFail: true });
      assert.notEqual(gone.code, 0, 'dpkg -r removed the payload');
    } finally {
      await removeChroot(c);
    }
  });
}

// Error-level tags we expect, and why each is not a defect of the .deb format:
const EXPECTED_ERRORS: Record<string, string> = {
  // lxl packages are built from a spec, not from a Debian source package, so there is no
  // debian/changelog to install as /usr/share/doc/<pkg>/changelog.gz (Debian policy §12.7).
  'no-changelog': 'no Debian source package, so no Debian changelog',
  // The older name of the same tag (lintian < 2.105).
  'debian-changelog-file-missing-or-wrong-name': 'same as no-changelog',
};

test('lintian: no error-level tags except the named, explained ones', { skip: missingTools('lintian'), timeout: 10 * 60_000 }, async () => {
  const dir = await tempDir();
  const specPath = await makeSpecDir(dir);
  for (const compression of ['gzip', 'xz']) {
    const deb = (await lxl(['pack', 'deb', '--compression', compression, '--spec', specPath, '--out', path.join(dir, compression)])).stdout.trim();
    const r = await run('lintian', ['--tag-display-limit', '0', deb], { allowFail: true });
    assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `lintian ran (exit ${r.code}):\n${r.stderr}`);
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('E: '));
    const tags = errors.map((l) => l.split(/\s+/)[2]);
    const unexpected = errors.filter((_, i) => !(tags[i] in EXPECTED_ERRORS));
    assert.deepEqual(unexpected, [], `unexpected lintian errors (${compression}):\n${r.stdout}`);
    assert.ok(!/E: .*(malformed-deb-archive|tar-errors-from-data|control-file-has-bad-owner|wrong-file-owner|md5sums)/.test(r.stdout));
  }
});
