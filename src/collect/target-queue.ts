// The work of one poll as it becomes known: targets added per account while discovery is still running,
// handed to the poll's workers in one round-robin over every account added so far (interleaveAccounts'
// order for a fixed set), and tasks (an account's ListRegions, which unlocks its targets). A task is
// served first while fewer targets than `lowWater` (the number of workers) are waiting, so targets start
// as soon as the first answers arrive and yet every worker has work; a worker takes whatever there is
// rather than wait, and waits only while the queue is empty but still open.
import type { Target } from '../model.js';

export type Work = { kind: 'target'; target: Target } | { kind: 'task'; run: () => Promise<void> };

interface AccountTargets { targets: Target[]; next: number }

export class TargetQueue {
  constructor(private readonly lowWater = 1) {}

  private readonly accounts: AccountTargets[] = [];
  private readonly tasks: (() => Promise<void>)[] = [];
  private cursor = 0;
  private accountsAdded = 0;
  private targetsAdded = 0;
  private targetsTaken = 0;
  private open = true;
  private waiters: (() => void)[] = [];

  /** Targets added so far (the progress line's total while discovery runs). */
  get total(): number {
    return this.targetsAdded;
  }

  /**
   * One account's targets, joining the round-robin at its end. The n-th account added starts at its
   * (n mod regions)-th region, so neighbours in the queue are in different regions (see interleaveAccounts).
   */
  addAccount(targets: readonly Target[]): void {
    if (targets.length === 0) return;
    const shift = this.accountsAdded++ % targets.length;
    this.accounts.push({ targets: [...targets.slice(shift), ...targets.slice(0, shift)], next: 0 });
    this.targetsAdded += targets.length;
    this.wake();
  }

  addTask(run: () => Promise<void>): void {
    this.tasks.push(run);
    this.wake();
  }

  /** No more work will be added: workers finish once the queue is empty. */
  close(): void {
    this.open = false;
    this.wake();
  }

  /** The next piece of work, without waiting; undefined when there is none now. */
  take(): Work | undefined {
    if (this.tasks.length > 0 && (this.targetsAdded - this.targetsTaken < this.lowWater || this.accounts.length === 0)) return { kind: 'task', run: this.tasks.shift()! };
    if (this.accounts.length === 0) return undefined;
    this.targetsTaken++;
    if (this.cursor >= this.accounts.length) this.cursor = 0;
    const a = this.accounts[this.cursor]!;
    const target = a.targets[a.next++]!;
    if (a.next >= a.targets.length) this.accounts.splice(this.cursor, 1); // the cursor now points at the next account
    else this.cursor++;
    return { kind: 'target', target };
  }

  /** The next piece of work, waiting for more while the queue is open; undefined once closed and empty. */
  async next(): Promise<Work | undefined> {
    for (;;) {
      const w = this.take();
      if (w || !this.open) return w;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
