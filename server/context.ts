// What every route needs, built once by createApp and passed down explicitly.

import type { Logger } from 'pino';
import type { ArtifactStore } from './artifact-store.js';
import type { ServerConfig } from './config.js';
import type { MetadataStore } from './metadata-store.js';
import type { ServerMetrics } from './metrics.js';
import type { PublishRunner } from './publisher.js';

export interface ServerContext {
  config: ServerConfig;
  store: MetadataStore;
  artifacts: ArtifactStore;
  publishes: PublishRunner;
  metrics: ServerMetrics;
  log: Logger;
  /** True once shutdown began: new uploads and publishes get 503. */
  draining(): boolean;
}
