// `lxl keys generate|import|export|show`: the repo signing key's files.
// Secrets and passphrases are never printed; only fingerprints and paths.

import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { KeyError } from '../repo-layout/errors.js';
import { writeKeyFiles, checkKeyName } from '../repo-layout/signing/key-files.js';
import { exportPublicKey, generateKey, KEY_ALGORITHMS, readAnyKeys, type KeyAlgorithm } from '../repo-layout/signing/keys.js';
import { OpenPgpSigner, readPassphrase } from '../repo-layout/signing/openpgp-signer.js';

interface PassphraseFlags {
  passphraseEnv?: string;
  passphraseFile?: string;
}

/** Adds --passphrase-env / --passphrase-file to a command. */
function withPassphrase(cmd: Command, what: string): Command {
  return cmd
    .addOption(new Option('--passphrase-env <VAR>', `environment variable that holds the passphrase ${what}`).conflicts('passphraseFile'))
    .option('--passphrase-file <file>', `file whose content is the passphrase ${what} (one trailing newline is ignored)`);
}

/** Reads a key file as text; errors name the file, never its content. */
async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new KeyError(`cannot read key file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'read failed'}`, { cause: err });
  }
}

/** Registers the `keys` command group. */
export function register(program: Command): void {
  const keys = program.command('keys').description('generate, import and export the repository signing key (OpenPGP)');

  withPassphrase(
    keys
      .command('generate')
      .description('generate a signing key: writes <name>.secret.asc (0600), <name>.asc and <name>.gpg, prints the fingerprint')
      .requiredOption('--name <name>', 'key name: file names and the user id name')
      .requiredOption('--email <email>', 'user id e-mail address')
      .requiredOption('--out <dir>', 'folder for the key files (created if missing)')
      .addOption(new Option('--algorithm <algo>', 'key algorithm (ed25519 is unreadable by gpgv 1.4)').choices(KEY_ALGORITHMS).default('rsa4096'))
      .option('--force', 'replace existing key files'),
    'that encrypts the secret key',
  ).action(async (opts: PassphraseFlags & { name: string; email: string; out: string; algorithm: KeyAlgorithm; force?: boolean }) => {
    checkKeyName(opts.name);
    const passphrase = await readPassphrase(opts);
    if (passphrase === '') throw new KeyError('cannot generate key: the passphrase is empty');
    const key = await generateKey({ name: opts.name, email: opts.email, algorithm: opts.algorithm, passphrase });
    await writeKeyFiles(opts.out, opts.name, key, { force: opts.force });
    process.stdout.write(`${key.fingerprint}\n`);
  });

  withPassphrase(
    keys
      .command('import')
      .description('check an armored secret key (decrypting it with the passphrase) and store it as <name>.secret.asc, <name>.asc, <name>.gpg')
      .requiredOption('--key <file>', 'armored secret key file')
      .requiredOption('--name <name>', 'key name for the files written')
      .requiredOption('--out <dir>', 'folder for the key files (created if missing)')
      .option('--force', 'replace existing key files'),
    'of the secret key',
  ).action(async (opts: PassphraseFlags & { key: string; name: string; out: string; force?: boolean }) => {
    checkKeyName(opts.name);
    const text = await readKeyFile(opts.key);
    const passphrase = await readPassphrase(opts);
    // Proves the key decrypts and can sign now; the stored file stays as given (still encrypted).
    const signer = await OpenPgpSigner.fromArmored(text, { passphrase });
    await writeKeyFiles(
      opts.out,
      opts.name,
      { secretArmored: text, publicArmored: signer.publicKeyArmored(), publicBinary: signer.publicKeyBinary() },
      { force: opts.force },
    );
    process.stdout.write(`${signer.fingerprints.join('\n')}\n`);
  });

  keys
    .command('export')
    .description('write the public key of a secret or public key file as <name>.asc and <name>.gpg (binary keyring for apt Signed-By)')
    .requiredOption('--key <file>', 'armored secret or public key file')
    .requiredOption('--out <dir>', 'folder for the public key files (created if missing)')
    .requiredOption('--name <name>', 'file name stem')
    .action(async (opts: { key: string; out: string; name: string }) => {
      checkKeyName(opts.name);
      const pub = await exportPublicKey(await readKeyFile(opts.key));
      await writeKeyFiles(opts.out, opts.name, pub, { force: true });
      process.stdout.write(`${pub.fingerprints.join('\n')}\n`);
    });

  keys
    .command('show')
    .description('print the fingerprint, algorithm and user ids of each key in a key file (secret or public)')
    .requiredOption('--key <file>', 'armored key file')
    .action(async (opts: { key: string }) => {
      for (const key of await readAnyKeys(await readKeyFile(opts.key), `key file ${opts.key}`)) {
        const info = key.getAlgorithmInfo();
        const algo = info.bits ? `${info.algorithm}${info.bits}` : `${info.algorithm}${info.curve ? `/${info.curve}` : ''}`;
        const kind = key.isPrivate() ? 'sec' : 'pub';
        process.stdout.write(`${kind} ${key.getFingerprint().toUpperCase()} ${algo} ${key.getUserIDs().join(', ')}\n`);
      }
    });
}
