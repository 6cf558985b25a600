// `lxl up` (npm start): the main job on the embedded defaults.
//   1. checks the kernel build prerequisites (names the missing Debian
//      packages and the apt-get command; --install-prereqs runs it);
//   2. starts the server (SQLite + ./var, the published tree over HTTP);
//   3. creates the repo signing key on the first run;
//   4. queues builds of the default kernel line for x86_64 and i386 and runs
//      them in an in-process worker (a re-run resumes: see cli/main-job.ts;
//      with --ccache it compiles through ccache, cached in <var>/cache/ccache);
//   5. promotes them to stable and publishes the APT, YUM and tarball repos;
//   6. prints the guest lines and the key fingerprint, then keeps serving.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError } from '../repo-layout/errors.js';
import { loadServerConfig } from '../server/config.js';
import { startServer, type RunningServer } from '../server/server.js';
import { generateKey } from '../repo-layout/signing/keys.js';
import { keyFileNames, writeKeyFiles } from '../repo-layout/signing/key-files.js';
import { loadSigner } from '../repo-layout/signing/openpgp-signer.js';
import { KERNEL_BUILD_ARCHES, loadKernelLine, type KernelBuildArch } from '../builders/kernel-line.js';
import { ensurePrereqs, prereqsFor } from '../builders/prereqs.js';
import { createProgress } from '../builders/progress.js';
import { runMainJob } from './main-job.js';

interface UpFlags {
  var: string;
  listen: string;
  repo: string;
  email: string;
  line: string;
  flavour: string;
  arch: string;
  buildCache?: string;
  jobs?: string;
  build: boolean;
  installPrereqs?: boolean;
  ccache?: boolean;
}

const KEY_NAME = 'linux-xen-legacy';

/** Registers `lxl up`. */
export function register(program: Command): void {
  program
    .command('up')
    .description('the main job: check build prerequisites, serve (SQLite + ./var), signing key on first run, build the default kernels for x86_64 and i386, publish APT/YUM/tarball repos, print the guest lines, keep serving')
    .option('--var <dir>', 'state folder (env LXL_VAR)', process.env.LXL_VAR ?? 'var')
    .option('--listen <host:port>', 'address to serve on (env LXL_LISTEN)', process.env.LXL_LISTEN ?? '127.0.0.1:8080')
    .option('--repo <name>', 'the repo to create and publish', 'linux-xen-legacy')
    .option('--email <email>', 'email on a newly generated signing key', 'linux-xen-legacy@localhost')
    .option('--line <line>', 'kernel line to build (a name under kernel/, or a folder holding line.json)', '6.1')
    .option('--flavour <name>', 'kernel flavour: full (a realistic guest kernel) or minimal (fast; CI) (env LXL_FLAVOUR)', process.env.LXL_FLAVOUR ?? 'full')
    .option('--arch <list>', 'comma-separated arches to build (env LXL_ARCHES)', process.env.LXL_ARCHES ?? KERNEL_BUILD_ARCHES.join(','))
    .option('--build-cache <dir>', 'kernel build cache, reused across runs (env LXL_BUILD_CACHE; default <var>/cache/kernels)', process.env.LXL_BUILD_CACHE)
    .option('--jobs <n>', 'make -j (default: all CPUs)')
    .option('--ccache', 'compile through ccache, its cache in <var>/cache/ccache: a rebuild after a source or patch update compiles only what changed (env LXL_CCACHE=1)', process.env.LXL_CCACHE === '1')
    .option('--no-build', 'only serve: no prerequisite check, no builds (publish what is there)')
    .addOption(new Option('--install-prereqs', 'apt-get install missing build prerequisites (root)'))
    .action(async (flags: UpFlags) => {
      const arches = parseArches(flags.arch);
      const line = await loadKernelLine(flags.line);
      if (!line.flavours[flags.flavour]) throw new ConfigError(`cannot build flavour ${flags.flavour}: line ${flags.line} has ${Object.keys(line.flavours).join(', ')}`);
      // On a terminal, clear the worker's status line first (builders/progress.ts redraws it).
      const say = (msg: string) => process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[2K' : ''}lxl up: ${msg}\n`);

      if (flags.build) {
        await ensurePrereqs(prereqsFor([line], { ccache: flags.ccache }), { install: flags.installPrereqs, say });
      }

      const keyDir = path.resolve(flags.var, 'keys');
      const keyFile = path.join(keyDir, keyFileNames(KEY_NAME).secret);
      if (!existsSync(keyFile)) {
        say(`first run: generating the repo signing key (RSA-4096) in ${keyDir} ...`);
        const key = await generateKey({ name: 'linux-xen-legacy repository', email: flags.email });
        await writeKeyFiles(keyDir, KEY_NAME, key);
      }
      const signer = await loadSigner({ keyFile });
      const config = await loadServerConfig({
        overrides: {
          var: flags.var,
          listen: flags.listen,
          signing: { keyFile },
          repos: [{ name: flags.repo, settings: { lines: [line.line] } }],
          ...(process.env.LXL_LOG_LEVEL ? {} : { logLevel: 'warn' }),
        },
      });
      const running = await startServer(config);
      const url = (config.publicUrl ?? running.url).replace(/\/$/, '');
      process.stdout.write(`lxl server listening on ${running.url}\nArchive page: ${url}/ (build status while it runs)\n`);

      const abort = new AbortController();
      const stopped = new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          abort.abort(new Error('interrupted'));
          resolve();
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });

      let worker: Promise<unknown> = Promise.resolve();
      try {
        if (flags.build) {
          const r = await runMainJob({
            running,
            repo: flags.repo,
            line,
            flavour: flags.flavour,
            arches,
            varDir: path.resolve(flags.var),
            buildCache: path.resolve(flags.buildCache ?? path.join(flags.var, 'cache', 'kernels')),
            cacheDir: path.resolve(flags.var, 'cache'),
            ccache: flags.ccache,
            jobs: flags.jobs ? Number(flags.jobs) : undefined,
            progress: createProgress(),
            say,
            signal: abort.signal,
          });
          worker = r.worker;
          const failed = r.jobs.filter((j) => j.job.state !== 'succeeded');
          if (r.publish.state !== 'succeeded') say(`the publish failed: ${r.publish.error ?? 'unknown error'}`);
          process.stdout.write(
            `\nKernels: ${r.jobs.map((j) => `${j.arch} ${j.job.state === 'succeeded' ? String(j.job.result?.krel ?? '') : 'FAILED'}`).join(', ')}; publish ${r.publish.state}\n`,
          );
          if (failed.length) process.exitCode = 1;
        } else await publishOnce(running, flags.repo, say);
        process.stdout.write(guestLines(url, flags.repo, signer.fingerprints[0], keyDir));
        process.stdout.write(`lxl up: ready; serving ${url}/ until Ctrl-C\n`);
      } catch (err) {
        if (!abort.signal.aborted) {
          abort.abort(err);
          await worker.catch(() => undefined);
          await running.close();
          throw err;
        }
      }
      await stopped;
      await worker.catch(() => undefined);
      await running.close().catch(() => {
        process.exitCode = 1;
      });
    });
}

function parseArches(list: string): KernelBuildArch[] {
  const arches = list.split(',').map((a) => a.trim()).filter(Boolean);
  for (const a of arches) if (!(KERNEL_BUILD_ARCHES as readonly string[]).includes(a)) throw new ConfigError(`cannot build arch ${JSON.stringify(a)}: use ${KERNEL_BUILD_ARCHES.join(', ')}`);
  if (!arches.length) throw new ConfigError('cannot build: --arch names no arch');
  return arches as KernelBuildArch[];
}

/** With --no-build: one publish so keys and client files exist (and carry this run's URL). */
async function publishOnce(running: RunningServer, repoName: string, say: (m: string) => void): Promise<void> {
  const repo = await running.ctx.store.getRepo(repoName);
  if (!repo) return;
  const rec = await running.ctx.publishes.start(repo, 'lxl up');
  await running.ctx.publishes.idle();
  const p = await running.ctx.store.getPublish(rec.id);
  if (p?.state !== 'succeeded') say(`the publish failed: ${p?.error ?? 'unknown error'}`);
}

/** What guests add: the printed lines match the files the publish wrote. */
export function guestLines(url: string, repo: string, fingerprint: string, keyDir: string): string {
  const keyring = `/etc/apt/keyrings/${KEY_NAME}.gpg`;
  return [
    '',
    `Signing key ${fingerprint} (${keyDir})`,
    `  ${url}/keys/${KEY_NAME}.asc  ${url}/keys/${KEY_NAME}.gpg`,
    '',
    'APT (Debian, Ubuntu):',
    `  curl -fsSL -o ${keyring} ${url}/keys/${KEY_NAME}.gpg`,
    `  sources.list: deb [signed-by=${keyring}] ${url}/apt/${repo} stable main`,
    `  or .sources:  curl -fsSL -o /etc/apt/sources.list.d/${KEY_NAME}.sources ${url}/apt/${repo}/${KEY_NAME}.sources`,
    '  apt-get update && apt-get install linux-xen-legacy',
    '',
    'YUM/DNF (CentOS, RHEL, Fedora):',
    `  curl -fsSL -o /etc/yum.repos.d/${repo}.repo ${url}/yum/${repo}.repo`,
    '  dnf install kernel-xen-legacy',
    '',
    'zypper (openSUSE, SLES):',
    `  rpm --import ${url}/yum/${repo}/repodata/repomd.xml.key && zypper addrepo ${url}/yum/${repo} ${repo} && zypper install kernel-xen-legacy`,
    '',
    'Tarballs (Gentoo, Arch, others):',
    `  index: ${url}/tarballs/${repo}/index.json; per version ${url}/tarballs/${repo}/<krel>/ with SHA256SUMS and SHA256SUMS.asc`,
    `  gpgv --keyring ./${KEY_NAME}.gpg SHA256SUMS.asc SHA256SUMS && sha256sum -c --ignore-missing SHA256SUMS`,
    '',
  ].join('\n');
}
