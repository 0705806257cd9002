// The replica's role when replicas share PostgreSQL (state.backend: postgres): leader or follower,
// driven by the lease (./lease.ts), with the daemon's work behind three hooks:
//   lead(epoch)   elected: reload the state from the database (alerts, outbox, history, snapshot)
//                 and start polling and delivering; every state write carries `epoch` (fencing);
//   follow(why)   deposed, or not elected: stop polling and delivering AT ONCE (a deposed leader's
//                 writes fail with NotLeaderError anyway; this also stops sends that would not be
//                 recorded);
//   refresh()     while following, every refreshMs: re-read the latest committed state it serves
//                 (/metrics, /api/v1/*, /readyz), so a scrape of either replica answers the same.
// Transitions run one at a time, in the order the lease reports them. A lead() that fails (the
// database went away while loading) resigns the lease so that another replica, or this one at its
// next attempt, starts over.
import type { LeaderLease } from './lease.js';

export interface ReplicaHooks {
  lead(epoch: number): Promise<void>;
  follow(reason: string): Promise<void>;
  refresh(): Promise<void>;
}

export interface ReplicaLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export type Role = 'leader' | 'follower';

export class ReplicaRole {
  private current: Role = 'follower';
  /** lead() finished for the current term: the state is loaded and this replica polls and writes. */
  private tookOver = false;
  private chain: Promise<void> = Promise.resolve();
  private refreshTimer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private stopped = false;
  /** The last refresh's error (a follower that cannot read the database says so in /readyz); null when it worked. */
  refreshError: string | null = null;
  /** Completed refreshes (tests wait on it). */
  refreshes = 0;

  constructor(private readonly opts: { lease: LeaderLease; refreshMs: number; hooks: ReplicaHooks; log: ReplicaLog }) {}

  /** The role the transitions run under: 'leader' from election on, while lead() is still loading. */
  get role(): Role {
    return this.current;
  }

  /**
   * The role this replica serves under: 'leader' only once lead() has loaded the term's state. While it
   * loads, the API still answers from the last followed view; saying 'leader' then would let a client
   * read that view as the leader's (a silence committed since the last refresh would look lost).
   */
  get serving(): Role {
    return this.current === 'leader' && this.tookOver ? 'leader' : 'follower';
  }

  /** Called by the lease's onElected. */
  elected(epoch: number): void {
    this.enqueue(async () => {
      if (this.stopped || this.opts.lease.epoch !== epoch) return;
      this.opts.log.info({ epoch, holder: this.opts.lease.holder }, 'elected leader: loading the state and taking over polling and delivery');
      try {
        this.current = 'leader';
        await this.opts.hooks.lead(epoch);
        // A lease lost meanwhile: its deposed() is queued behind this step; do not serve as leader until then.
        this.tookOver = this.opts.lease.epoch === epoch;
      } catch (err) {
        this.opts.log.error({ err, epoch }, 'could not take over as leader; giving the lease up');
        await this.opts.lease.resign(`taking over failed: ${(err as Error).message}`);
      }
    });
  }

  /** Called by the lease's onDeposed. */
  deposed(epoch: number, reason: string): void {
    this.enqueue(async () => {
      if (this.current !== 'leader') return;
      this.current = 'follower';
      this.tookOver = false;
      this.opts.log.warn({ epoch, reason }, 'no longer the leader: stopped polling and delivering; following');
      await this.opts.hooks.follow(reason).catch((err: unknown) => this.opts.log.error({ err }, 'error while stepping down'));
      await this.refresh();
    });
  }

  start(): void {
    this.stopped = false;
    this.opts.lease.start();
    this.scheduleRefresh();
  }

  /** Re-reads the followed state now (no-op while leading). Never rejects. */
  refresh(): Promise<void> {
    if (this.current === 'leader' || this.stopped) return Promise.resolve();
    this.refreshing ??= this.opts.hooks.refresh().then(
      () => { this.refreshError = null; this.refreshes++; },
      (err: unknown) => {
        const msg = (err as Error)?.message ?? String(err);
        if (this.refreshError === null) this.opts.log.warn({ err }, 'follower cannot read the latest committed state; serving the last one read');
        this.refreshError = msg;
      },
    ).finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    // Releases the lease (deposing us: follow() runs through the chain) so the other replica takes over at once.
    await this.opts.lease.stop();
    await this.chain.catch(() => undefined);
    await this.refreshing?.catch(() => undefined);
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step, step).catch((err: unknown) => this.opts.log.error({ err }, 'replica role change failed'));
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    this.refreshTimer = setTimeout(() => {
      void this.refresh().finally(() => this.scheduleRefresh());
    }, this.opts.refreshMs);
    this.refreshTimer.unref?.();
  }
}
