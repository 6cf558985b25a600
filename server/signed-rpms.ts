// The server signs the rpms builders upload (workers never hold the repo
// key): at publish time each uploaded rpm gets a copy re-signed with the
// primary key (repo-layout/rpm/rpm-resign.ts), stored by its own content
// address in the artifact store and recorded as derived from the upload, so
// each rpm is signed once per key and every suite publishes the same bytes.
// The uploaded artifact stays as uploaded (its digest is what the builder
// stated and what the catalogue holds).

import type { Logger } from 'pino';
import { resignRpmFile } from '../repo-layout/rpm/rpm-resign.js';
import type { Signer } from '../repo-layout/signing/signer.js';
import type { ArtifactStore } from './artifact-store.js';

/** A stored signed rpm. */
export interface SignedRpm {
  sha256: string;
  path: string;
}

export interface SignedRpmsOptions {
  artifacts: ArtifactStore;
  signer: Signer;
  log: Logger;
}

/** Makes (once) and finds the repo-key-signed copies of uploaded rpms. */
export class SignedRpms {
  private readonly inFlight = new Map<string, Promise<SignedRpm>>();

  constructor(private readonly opts: SignedRpmsOptions) {}

  /** Derivation kind of the current primary key: a new key signs every rpm anew. */
  get kind(): string {
    return `rpm-signed-${this.opts.signer.fingerprints[0]}`;
  }

  /** The copy of stored rpm `sha256` signed by the primary key, made now if there is none yet. */
  signed(sha256: string): Promise<SignedRpm> {
    // One signing per rpm at a time, so two publishes never record two different signed copies.
    let p = this.inFlight.get(sha256);
    if (!p) {
      p = this.make(sha256).finally(() => this.inFlight.delete(sha256));
      this.inFlight.set(sha256, p);
    }
    return p;
  }

  private async make(source: string): Promise<SignedRpm> {
    const { artifacts, signer, log } = this.opts;
    const kind = this.kind;
    const known = await artifacts.derived(kind, source);
    if (known) return { sha256: known, path: await artifacts.localPath(known) };
    const started = Date.now();
    const tmp = artifacts.tempPath();
    const r = await resignRpmFile(await artifacts.localPath(source), tmp, { signer });
    await artifacts.commit(tmp, r.sha256);
    await artifacts.setDerived(kind, source, r.sha256);
    log.info({ source, signed: r.sha256, hash: r.hash, size: r.size, ms: Date.now() - started }, 'rpm signed');
    return { sha256: r.sha256, path: await artifacts.localPath(r.sha256) };
  }
}
