// A discrete-event clock for the outbox (and anything else taking a { now, sleep } clock): sleep()
// never waits in real time; pending sleepers are woken one at a time, earliest first, on the next
// turns of the event loop, and `now` jumps to each sleeper's wake time. Ten minutes of backoff run
// in milliseconds. Real I/O (HTTP to a local receiver, file writes) still takes real time, during
// which other sleepers may wake, so virtual time only ever moves forward, sometimes in big steps.
export class VirtualClock {
  private t: number;
  private seq = 0;
  private sleepers: { at: number; seq: number; resolve: () => void }[] = [];
  private scheduled = false;

  constructor(start = Date.UTC(2025, 0, 1)) {
    this.t = start;
  }

  now = (): number => this.t;

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const s = { at: this.t + Math.max(0, ms), seq: ++this.seq, resolve: () => {} };
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((x) => x !== s);
        resolve();
      };
      s.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(s);
      this.schedule();
    });

  /** Moves time forward without waking anyone early (sleepers whose time passed wake on the next turns). */
  advance(ms: number): void {
    this.t += Math.max(0, ms);
    this.schedule();
  }

  get pendingSleepers(): number {
    return this.sleepers.length;
  }

  private schedule(): void {
    if (this.scheduled || this.sleepers.length === 0) return;
    this.scheduled = true;
    // setImmediate rather than a microtask: lets I/O callbacks and promise chains settle between wake-ups.
    setImmediate(() => {
      this.scheduled = false;
      if (this.sleepers.length === 0) return;
      let i = 0;
      for (let j = 1; j < this.sleepers.length; j++) {
        const a = this.sleepers[j]!, b = this.sleepers[i]!;
        if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) i = j;
      }
      const [s] = this.sleepers.splice(i, 1);
      this.t = Math.max(this.t, s!.at);
      s!.resolve();
      this.schedule();
    });
  }
}
