// The options of a publish (the key, its passphrase, the repo's saved
// settings), shared by `lxl apt` and `lxl yum`: `publish` requires --key;
// `add` and `remove` take it optionally and then publish right after the
// change.

import { Option, type Command } from 'commander';
import { ConfigError } from '../repo-layout/errors.js';

/** How publishOptions sets up one command. */
export interface PublishOptionsSpec {
  /** True for `publish` (--key is mandatory); false for `add` and `remove`. */
  keyRequired: boolean;
  /** The format's own settings options (new Option objects for this command). */
  settings: Option[];
  /** The command that takes them alone, for the error of add/remove without --key (`lxl yum publish`). */
  publish: string;
}

/** Adds --key, the passphrase options and `settings` to `cmd`; on add/remove, refuses them without --key (refusePublishFlagsWithoutKey). */
export function publishOptions(cmd: Command, spec: PublishOptionsSpec): Command {
  const key = new Option('--key <secret.asc>', spec.keyRequired ? 'armored secret signing key' : 'armored secret signing key: publish right after the change');
  if (spec.keyRequired) key.makeOptionMandatory();
  const options = [
    new Option('--passphrase-env <VAR>', 'environment variable that holds the key passphrase'),
    new Option('--passphrase-file <file>', 'file that holds the key passphrase'),
    ...spec.settings,
  ];
  cmd.addOption(key);
  for (const o of options) cmd.addOption(o);
  if (!spec.keyRequired) refusePublishFlagsWithoutKey(cmd, options.map((o) => o.long!), spec.publish);
  return cmd;
}

/**
 * Refuses, before anything changes, the publish-only `flags` given to `cmd` without --key: no publish would run, so
 * nothing would use or save them, and `lxl yum add <repo> <rpm> --profile el5` followed by a plain publish would
 * quietly make a modern repo. `publish` names the command that takes them alone (`lxl yum publish`).
 */
export function refusePublishFlagsWithoutKey(cmd: Command, flags: readonly string[], publish: string): Command {
  return cmd.hook('preAction', (self) => {
    if (self.getOptionValue('key') !== undefined) return;
    const given = flags.filter((flag) => {
      const opt = self.options.find((o) => o.long === flag);
      const source = opt ? self.getOptionValueSource(opt.attributeName()) : undefined;
      return source === 'cli' || source === 'env';
    });
    if (given.length === 0) return;
    const one = given.length === 1;
    throw new ConfigError(
      `cannot use ${given.join(', ')} without --key: ${one ? 'it is a publish option' : 'they are publish options'}, and nothing is published or saved without --key; give --key to publish right after the change, or pass ${one ? 'it' : 'them'} to \`${publish}\``,
    );
  });
}
