// A counting semaphore with two queues: a waiter asking `first` is served before every ordinary one.
// Used where one kind of call unlocks many others (the next ListAccounts page before more placements).
export class Slots {
  private free: number;
  private readonly urgent: (() => void)[] = [];
  private readonly normal: (() => void)[] = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  /** Resolves with the release function once a slot is free. */
  acquire(first = false): Promise<() => void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => (first ? this.urgent : this.normal).push(() => resolve(this.releaser())));
  }

  /** fn in a slot. */
  async run<T>(fn: () => Promise<T>, first = false): Promise<T> {
    const release = await this.acquire(first);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.urgent.shift() ?? this.normal.shift();
      if (next) next();
      else this.free++;
    };
  }
}
