// Batches build-log text and appends it to the server in order: a flush every
// second, or at once when 64 KiB are pending. One append runs at a time.

/** Appends text in batches through `send`; failures go to onError and the text is dropped (the build goes on). */
export class JobLogStream {
  private pending = '';
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly send: (text: string) => Promise<void>,
    private readonly opts: { intervalMs?: number; maxBatchBytes?: number; onError?: (err: Error) => void } = {},
  ) {
    this.timer = setInterval(() => this.flush(), opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Queues text; flushes early when the batch is full. */
  write(text: string): void {
    this.pending += text;
    if (Buffer.byteLength(this.pending) >= (this.opts.maxBatchBytes ?? 64 * 1024)) this.flush();
  }

  /** Sends what is pending (after earlier sends finish). */
  flush(): Promise<void> {
    if (!this.pending) return this.chain;
    const text = this.pending;
    this.pending = '';
    this.chain = this.chain.then(() => this.send(text)).catch((err: Error) => this.opts.onError?.(err));
    return this.chain;
  }

  /** Stops the timer and sends the rest. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
