// Extra trusted CA certificates for the S3 client of the short CLI commands.
// Node 20 reads and parses the file NODE_EXTRA_CA_CERTS names at every process
// start (~45 ms for a system bundle of ~140 certificates), though `lxl
// apt|yum|keys|pack` open a TLS connection only for `--storage s3://` over
// https. So bin/lxl hands the file over as LXL_EXTRA_CA_CERTS instead (when
// NODE_OPTIONS is unset, since a --use-openssl-ca there would change which
// root store the certificates join), and the S3 client adds it here to Node's
// default root certificates, as Node would have. A file that cannot be read
// is a warning, as it is for Node.

import { readFileSync } from 'node:fs';
import type { AgentOptions } from 'node:https';
import tls from 'node:tls';

/** What bin/lxl sets in place of NODE_EXTRA_CA_CERTS. */
export const EXTRA_CA_VAR = 'LXL_EXTRA_CA_CERTS';

const warned = new Set<string>();

/**
 * TLS agent options that trust Node's default root certificates plus those of the file in LXL_EXTRA_CA_CERTS, or
 * undefined when it is unset (then Node's own handling of NODE_EXTRA_CA_CERTS applies) or cannot be read (warned once).
 */
export function extraCaAgentOptions(env: NodeJS.ProcessEnv = process.env): Pick<AgentOptions, 'ca'> | undefined {
  const file = env[EXTRA_CA_VAR];
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    if (!warned.has(file)) process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    warned.add(file);
    return undefined;
  }
  // Node 22.15+ can say what its default store holds (with --use-system-ca, the system's); older Nodes: the bundle.
  const defaults = (tls as { getCACertificates?: (type: 'default') => string[] }).getCACertificates?.('default') ?? tls.rootCertificates;
  return { ca: [...defaults, pem] };
}
