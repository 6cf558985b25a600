// Progress of a job: on a TTY one status line with the phase and a percentage;
// otherwise structured pino logs (one object per phase, JSON lines on stderr).
// Never handed a secret: callers pass phases, file names and job ids only.

import { pino, type Logger } from 'pino';
import type { JobPhase } from './job-runner.js';

// Rough share of the wall time at which each phase starts (a minimal build on 2 cores).
const PHASE_START: Record<JobPhase, number> = {
  line: 0,
  fetch: 1,
  unpack: 3,
  patch: 12,
  config: 14,
  compile: 18,
  install: 85,
  package: 88,
  upload: 95,
  complete: 100,
};

/** Reports what a worker is doing. */
export interface Progress {
  /** A job started. */
  job(id: string, params: Record<string, unknown>): void;
  /** A phase started (detail: e.g. the package being written). */
  phase(phase: JobPhase, detail?: string): void;
  /** A job ended; `error` set when it failed. */
  done(id: string, error?: string): void;
  /** A free-form event with fields. */
  info(fields: Record<string, unknown>, msg: string): void;
  /** The pino logger behind it (for callers that log more). */
  readonly log: Logger;
}

/** Picks the TTY line or plain pino logs for `stream` (default stderr). */
export function createProgress(opts: { tty?: boolean; level?: string; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const log = pino({ level: opts.level ?? 'info', base: { role: 'worker' } }, pino.destination({ dest: 2, sync: true }));
  let current = '';
  const line = (text: string) => {
    current = text;
    stream.write(`\r\x1b[2K${text}`);
  };
  if (!tty) {
    return {
      log,
      job: (id, params) => log.info({ job: id, params }, 'job leased'),
      phase: (phase, detail) => log.info({ phase, percent: PHASE_START[phase], detail }, `phase ${phase}`),
      done: (id, error) => (error ? log.error({ job: id, error }, 'job failed') : log.info({ job: id }, 'job completed')),
      info: (fields, msg) => log.info(fields, msg),
    };
  }
  return {
    log,
    job: (id, params) => line(`job ${id} (${[params.line, params.flavour, params.arch].filter(Boolean).join(' ')})`),
    phase: (phase, detail) => line(`${String(PHASE_START[phase]).padStart(3)}% ${phase}${detail ? ` ${detail}` : ''}`),
    done: (id, error) => {
      line(error ? `job ${id} failed: ${error.split('\n')[0]}` : `job ${id} done`);
      stream.write('\n');
    },
    info: (_fields, msg) => {
      stream.write(`\r\x1b[2K${msg}\n`);
      if (current) stream.write(current);
    },
  };
}
