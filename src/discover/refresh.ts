// A value read from AWS at most once per interval, the last good answer kept when a read fails.
//
// Used for what changes slowly and is costly or throttled to read on every poll: the organization's
// accounts, OUs and tags (organizations.refreshInterval), and, through the same interval, each account's
// enabled regions (Account ListRegions): one Refreshing per account, e.g. in a Map keyed by account id.
//
//  - No value yet: current() waits for the read (the first poll needs the answer).
//  - A value: current() answers it at once and, when the interval has passed since the last good read,
//    starts a read in the background, so a slow read never delays a poll; the next poll sees its result.
//  - A failed read keeps the last good value (its age keeps growing, see ageMs) and is retried after a
//    backoff of min(interval, retryBase x 2^(failures-1)), so a throttled or denied API is not hammered.
//  - One read at a time: callers arriving while a read runs share it.

export interface RefreshingOptions<T> {
  /** Minimum time between the start of two reads after a good one (ms). */
  interval: number;
  read: (signal: AbortSignal) => Promise<T>;
  now?: () => number;
  /** First retry delay after a failed read (ms); doubles per failure, capped at interval. Default 30 s. */
  retryBase?: number;
  /** Called once per failed read. */
  onError?: (err: unknown) => void;
  /** Called once per good read. */
  onValue?: (value: T) => void;
}

export class Refreshing<T> {
  private valueHeld: T | null = null;
  private hasValue = false;
  private readAt: number | null = null;
  private failures = 0;
  private nextAttemptAt = -Infinity;
  private running: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private readonly now: () => number;

  constructor(private readonly opts: RefreshingOptions<T>) {
    this.now = opts.now ?? Date.now;
  }

  /** The last good value, or null when no read has succeeded yet. */
  get value(): T | null {
    return this.hasValue ? this.valueHeld : null;
  }

  /** When the last good read finished (epoch ms), or null. */
  get lastGoodAt(): number | null {
    return this.readAt;
  }

  /** Failed reads since the last good one. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Age of the value held (ms), or null when there is none. */
  ageMs(): number | null {
    return this.readAt === null ? null : Math.max(0, this.now() - this.readAt);
  }

  /** True when a read would start now. */
  get due(): boolean {
    return this.running === null && this.now() >= this.nextAttemptAt;
  }

  /**
   * The value to use now (see the header). Waits for a read only while there is no value; `signal`
   * bounds that wait, never the background read.
   */
  async current(signal?: AbortSignal): Promise<T | null> {
    if (this.due) this.start();
    if (!this.hasValue && this.running) await abortable(this.running, signal);
    return this.value;
  }

  /** Starts a read now unless one is running, and waits for it (tests, check-config). */
  async refreshNow(): Promise<T | null> {
    if (!this.running) this.start();
    await this.running;
    return this.value;
  }

  /** Waits for the read in progress, if any. */
  async settled(): Promise<void> {
    await this.running;
  }

  /** Aborts a read in progress; no read starts afterwards. */
  close(): void {
    this.abort.abort();
    this.nextAttemptAt = Infinity;
  }

  private start(): void {
    if (this.abort.signal.aborted) return;
    const startedAt = this.now();
    this.running = (async () => {
      try {
        const v = await this.opts.read(this.abort.signal);
        this.valueHeld = v;
        this.hasValue = true;
        this.readAt = this.now();
        this.failures = 0;
        this.nextAttemptAt = startedAt + this.opts.interval;
        this.opts.onValue?.(v);
      } catch (err) {
        this.failures += 1;
        const backoff = Math.min(this.opts.interval, (this.opts.retryBase ?? 30_000) * 2 ** Math.min(this.failures - 1, 20));
        this.nextAttemptAt = this.now() + backoff;
        if (!this.abort.signal.aborted) this.opts.onError?.(err);
      } finally {
        this.running = null;
      }
    })();
  }
}

/** Resolves when p settles or the signal aborts, whichever is first; never rejects (p never does). */
function abortable(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return p;
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => { signal.removeEventListener('abort', done); resolve(); };
    signal.addEventListener('abort', done, { once: true });
    void p.then(done);
  });
}
