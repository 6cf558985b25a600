// A minimal builder worker for test/e2e/scale-out.test.ts: leases jobs
// through the given server instances in turn, "works" params.ms
// milliseconds, completes the job through the NEXT instance, and appends one
// JSON line per event to its log file (synchronously, so a SIGKILL leaves
// `start` as the last line of the job it died in). Runs until killed. With
// LXL_SCALE_STALL=n it completes n jobs, then stalls inside the next one
// (after its `start` line) until killed: the test kills it mid-job without
// having to catch a job's few hundred milliseconds on a busy machine.
// Usage: node scale-out-worker.mjs <logFile> <token> <owner> <url>...
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const [logFile, token, owner, ...urls] = process.argv.slice(2);
const log = (ev) => appendFileSync(logFile, `${JSON.stringify({ ...ev, t: Date.now() })}\n`);
const post = (base, path, body) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

const stallAfter = process.env.LXL_SCALE_STALL === undefined ? undefined : Number(process.env.LXL_SCALE_STALL);
let completed = 0;
let turn = 0;
for (;;) {
  const via = urls[turn++ % urls.length];
  let r;
  try {
    r = await post(via, '/api/v1/jobs/lease', { owner, ttlSeconds: 2 });
  } catch (err) {
    log({ ev: 'error', via, error: String(err) });
    await sleep(200);
    continue;
  }
  if (r.status === 204) {
    await sleep(50);
    continue;
  }
  if (r.status !== 200) {
    log({ ev: 'error', via, status: r.status, text: await r.text() });
    await sleep(200);
    continue;
  }
  const { job, leaseId } = await r.json();
  log({ ev: 'start', job: job.id, attempt: job.attempts, via });
  if (stallAfter !== undefined && completed >= stallAfter) await sleep(3_600_000);
  await sleep(Number(job.params.ms ?? 100));
  const other = urls[turn % urls.length];
  const c = await post(other, `/api/v1/jobs/${job.id}/complete`, { leaseId, result: { by: owner } });
  log({ ev: c.status === 200 ? 'done' : 'lost', job: job.id, status: c.status, via: other });
  completed++;
}
