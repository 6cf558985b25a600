// The YUM scenario the client tests share: a signed repo holding a shell, a
// kernel (installonly) and a tools package (step 1), then newer kernel and
// tools (step 2); published with the CLI, installed with dnf.

import path from 'node:path';
import { lxl, run } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { fixtureSpec, packRpm, shellSpec } from './rpm-fixture.js';

export async function busyboxPath(): Promise<string> {
  return (await run('sh', ['-c', 'command -v busybox'])).stdout.trim();
}

/** Packs the rpms of one scenario step into `out`, signed with the test key (in `profile`, default modern). */
export async function buildSet(dir: string, out: string, step: 1 | 2, opts: { profile?: 'modern' | 'el5' } = {}): Promise<string[]> {
  const { signer } = await testKey();
  const pack = { signer, profile: opts.profile };
  const files: string[] = [];
  if (step === 1) files.push(await packRpm(await shellSpec(path.join(dir, 'shell'), await busyboxPath()), out, pack));
  const krel = step === 1 ? '6.1.192-xen-legacy' : '6.1.193-xen-legacy';
  const kver = step === 1 ? '6.1.192-1' : '6.1.193-1';
  const kernel = await fixtureSpec(path.join(dir, `kernel${step}`), {
    version: kver,
    krel,
    scripts: true,
    extras: false,
    provides: ['installonlypkg(kernel)', `kernel (= ${kver})`],
  });
  files.push(await packRpm(kernel, out, pack));
  const tools = await fixtureSpec(path.join(dir, `tools${step}`), { name: 'lxl-tools', version: step === 1 ? '1.0-1' : '1.1-1', krel: `tools-${step}` });
  files.push(await packRpm(tools, out, pack));
  return files;
}

/** Adds `rpms` to the repo folder and publishes it with the test key (grace 0), plus `extra` publish flags. */
export async function publish(repo: string, rpms: string[], extra: string[] = []): Promise<void> {
  const { dir: keyDir } = await testKey();
  await lxl(['yum', 'add', repo, ...rpms]);
  await lxl(['yum', 'publish', repo, '--key', path.join(keyDir, 'lxl-test-rsa4096.secret.asc'), '--grace-hours', '0', ...extra]);
}

/** dnf's options for the repo at `url` (yum/stable/) installed into `root`, with gpgcheck and repo_gpgcheck on. */
export function dnfArgs(root: string, url: string, reposdir: string, gpgkey = `${url}/yum/stable/repodata/repomd.xml.key`): string[] {
  return [
    '-y',
    '--installroot', root,
    '--releasever', '9',
    '--setopt', `reposdir=${reposdir}`,
    '--setopt', `cachedir=${path.join(root, 'var/cache/dnf')}`,
    '--setopt', 'install_weak_deps=0',
    '--nodocs',
    '--repofrompath', `lxl,${url}/yum/stable/`,
    '--setopt', 'lxl.gpgcheck=1',
    '--setopt', 'lxl.repo_gpgcheck=1',
    '--setopt', `lxl.gpgkey=${gpgkey}`,
  ];
}
