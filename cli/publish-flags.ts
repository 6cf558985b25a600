// Flags that only a publish uses (its settings, the key's passphrase), on the
// commands whose --key is optional (`add`, `remove`: with --key they publish
// right after the change).

import type { Command } from 'commander';
import { ConfigError } from '../repo-layout/errors.js';

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
