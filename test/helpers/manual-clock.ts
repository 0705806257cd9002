// A clock (src/notify/outbox.ts Clock) whose time moves only when the test says so: sleepers wake
// once advance() has passed their time. Unlike VirtualClock, real I/O under way never lets time run
// on, so a test decides exactly how much (virtual) time passes between two steps.
import type { Clock } from '../../src/notify/outbox.js';

export class ManualClock implements Clock {
  t: number;
  private sleepers: { at: number; resolve: () => void }[] = [];
  constructor(start: number) { this.t = start; }
  now = () => this.t;
  sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const s = { at: this.t + ms, resolve };
    this.sleepers.push(s);
    signal?.addEventListener('abort', () => { this.sleepers = this.sleepers.filter((x) => x !== s); resolve(); }, { once: true });
  });
  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.at <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.at > this.t);
    for (const s of due) s.resolve();
  }
}
