// Leader election for replicas sharing one PostgreSQL: a lease row (holder, epoch, expires_at) in
// <schema>.lease, renewed every `renewMs`, valid for `ttlMs`.
//
// Why a lease row and not a session advisory lock plus an epoch:
//   - PgBouncer (transaction pooling, the common setup in front of a managed PostgreSQL) hands each
//     transaction to any server connection: a session advisory lock is held by whichever connection ran
//     it, never reliably released, and "do I still hold it?" cannot be asked. A lease is plain rows and
//     single-statement transactions: it works through any pooler.
//   - Connection loss: a session lock is released only when the SERVER notices the client is gone.
//     After a network cut that takes TCP keepalive/retransmission timeouts (minutes by default), during
//     which nobody can take over, or, behind a pooler, never. A lease expires `ttlMs` after its last
//     renewal whatever happened to the connection, so failover time is bounded by configuration.
//   - Clock skew: expiry is written and judged by the DATABASE's clock only (now() in every statement);
//     replicas compare no wall-clock times with each other. Locally the holder uses only its monotonic
//     clock, measured from the moment it SENT the successful acquire/renew: the database computed
//     expires_at = now() + ttl at a later instant, so sentAt + ttl (monotonic) is never later than the
//     real expiry. The holder considers itself leader only until sentAt + ttl - margin, and steps down
//     (stops polling and delivering) at that point if no renewal succeeded meanwhile: before anyone can
//     take over.
// The epoch increases by one with every acquisition (never with a renewal). It is the fencing token:
// every state write checks, in its own transaction, that the lease row still carries its epoch and
// has not expired (SELECT ... FOR SHARE, which also makes a concurrent takeover wait until that write
// committed), so a deposed leader's write fails with NotLeaderError whatever its local clock believes.
//
// A clean stop releases the lease (expires_at = now()), so the other replica takes over at its next
// attempt instead of after the ttl.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { monotonicNow } from '../util/monotonic.js';
import { quoteIdent, type PgConnection } from '../state/postgres-connect.js';

export const LEASE_NAME = 'leader';

export interface LeaseOptions {
  conn: PgConnection;
  schema: string;
  /** Unique per process: hostname/pid/random by default. */
  holder?: string;
  /** Lease validity after each renewal. */
  ttlMs: number;
  /** Renewal (and, for a follower, acquisition attempt) interval; well below ttlMs. */
  renewMs: number;
  /** Stop considering ourselves leader this long before the lease can expire. Default: max(ttl/5, 500 ms), at most ttl/2. */
  marginMs?: number;
  /** Monotonic ms (tests may drive it). */
  monotonic?: () => number;
  /** A lease name other than 'leader' (tests run several elections in one schema). */
  name?: string;
  onElected?(epoch: number): void;
  /** Called once per term when we stop being leader: renewal refused (someone else holds it), renewal failing until the local deadline, or stop(). */
  onDeposed?(epoch: number, reason: string): void;
  /** A failed attempt (logged by the caller; the loop keeps going). */
  onError?(err: Error, during: 'acquire' | 'renew' | 'release'): void;
  /**
   * Asked at the local deadline when no renewal succeeded (src/ha/peers.ts): resolve true to keep the
   * term without the database ("degraded": PostgreSQL is down for every replica), false to step down.
   * Consulted within the margin: it gets `marginMs / 2` to answer before the lease can expire by the
   * database's clock; no answer in time counts as true (a paging tool errs on the side of paging).
   * While degraded it is asked again after every failed renewal; false then steps down at once.
   * Not set: step down at the deadline (the behaviour without state.peers).
   */
  holdWithoutDatabase?(epoch: number, timeoutMs: number, degraded: boolean): Promise<boolean>;
  /** Degraded mode began (true) or ended with a renewal (false). */
  onDegraded?(epoch: number, degraded: boolean): void;
  /** Before an acquisition attempt on a lease that may be free: a reason to skip this attempt (a peer still leads degraded), or null. */
  deferAcquire?(timeoutMs: number): Promise<string | null>;
}

export interface LeaseRow {
  holder: string;
  epoch: number;
  expiresAt: Date;
  /** Seconds until expiry by the database's clock (negative when expired). */
  remainingSeconds: number;
}

export const defaultHolderId = (): string => `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;

export class LeaderLease {
  readonly holder: string;
  private readonly table: string;
  private readonly name: string;
  private readonly mono: () => number;
  private readonly margin: number;
  /** Our current term, while we believe we lead. degraded: kept past the deadline without the database (holdWithoutDatabase). */
  private term: { epoch: number; validUntil: number; degraded: boolean; consulting: boolean } | null = null;
  /** Monotonic time of the last lease query that succeeded (acquire, renew, also when refused). */
  private lastContact: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stepDownTimer: NodeJS.Timeout | null = null;
  private running = false;
  private busy: Promise<void> | null = null;

  constructor(private readonly opts: LeaseOptions) {
    if (!(opts.renewMs > 0 && opts.ttlMs > opts.renewMs)) throw new Error(`lease: renew interval (${opts.renewMs} ms) must be positive and below the lease duration (${opts.ttlMs} ms)`);
    this.holder = opts.holder ?? defaultHolderId();
    this.table = `${quoteIdent(opts.schema)}.lease`;
    this.name = opts.name ?? LEASE_NAME;
    this.mono = opts.monotonic ?? monotonicNow;
    this.margin = Math.min(opts.marginMs ?? Math.max(opts.ttlMs / 5, 500), opts.ttlMs / 2);
  }

  /** The epoch while we lead (within our local deadline), else null. Read it for every fenced write and before every delivery. */
  get epoch(): number | null {
    const term = this.term;
    if (!term) return null;
    if (term.degraded || this.mono() < term.validUntil) return term.epoch;
    if (!this.opts.holdWithoutDatabase) {
      this.depose('the lease could not be renewed before it expires');
      return null;
    }
    // Past the deadline: ask the peers (once); we still lead within the margin until they answer.
    if (!term.consulting) this.consult(term);
    return term.epoch;
  }

  /** Leading although the lease could not be renewed (no replica reaches PostgreSQL). */
  get degraded(): boolean {
    return this.term?.degraded ?? false;
  }

  /** Did a lease query reach PostgreSQL within `freshMs`? And how long ago was the last one. */
  databaseContact(freshMs: number): { reachable: boolean; lastContactAgoMs: number | null } {
    if (this.lastContact === null) return { reachable: false, lastContactAgoMs: null };
    const ago = Math.max(0, this.mono() - this.lastContact);
    return { reachable: ago <= freshMs, lastContactAgoMs: Math.round(ago) };
  }

  private consult(term: NonNullable<LeaderLease['term']>): void {
    term.consulting = true;
    const timeoutMs = Math.max(100, this.margin / 2);
    const goDegraded = () => {
      if (this.term !== term || term.degraded) return;
      term.degraded = true;
      this.clearStepDown();
      this.opts.onDegraded?.(term.epoch, true);
    };
    // No answer in time: keep leading (silence is worse than a duplicate). A late "step down" still counts.
    const timer = setTimeout(goDegraded, timeoutMs + 50);
    timer.unref?.();
    this.opts.holdWithoutDatabase!(term.epoch, timeoutMs, term.degraded).then((hold) => hold, () => true).then((hold) => {
      clearTimeout(timer);
      term.consulting = false;
      if (this.term !== term) return;
      if (!hold) return this.depose('the lease could not be renewed and a peer reaches PostgreSQL or leads');
      goDegraded();
      // Degraded: ask again every renewMs as well as after each failed renewal (a renewal into a black
      // hole takes its whole timeout; a peer that reaches the database meanwhile must stop us sooner).
      const again = setTimeout(() => { if (this.term === term && term.degraded && !term.consulting) this.consult(term); }, this.opts.renewMs);
      again.unref?.();
    });
  }

  isLeader(): boolean {
    return this.epoch !== null;
  }

  /** Runs the acquire/renew loop every renewMs until stop(). The first attempt happens at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.tick();
  }

  /** Stops the loop; releases the lease if we hold it (the other replica takes over at its next attempt). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.busy?.catch(() => undefined);
    const epoch = this.term?.epoch ?? null;
    if (epoch !== null) {
      this.depose('stopping');
      await this.release(epoch).catch((err: Error) => this.opts.onError?.(err, 'release'));
    }
    this.clearStepDown();
  }

  /** Gives the lease up now (a leader that cannot serve, e.g. its state failed to load): deposed, then released so another replica can take it. */
  async resign(reason: string): Promise<void> {
    const epoch = this.term?.epoch ?? null;
    if (epoch === null) return;
    this.depose(reason);
    await this.release(epoch).catch((err: Error) => this.opts.onError?.(err, 'release'));
  }

  /** One attempt: renew when leading, else try to acquire. Resolves when done (never rejects). */
  async tick(): Promise<void> {
    if (this.busy) return this.busy;
    this.busy = (async () => {
      try {
        if (this.term) await this.renewOnce();
        else await this.acquireOnce();
      } finally {
        this.busy = null;
        if (this.running) {
          if (this.timer) clearTimeout(this.timer);
          this.timer = setTimeout(() => void this.tick(), this.opts.renewMs);
          this.timer.unref?.();
        }
      }
    })();
    return this.busy;
  }

  /** Tries to take the lease if it is free or expired (by the database's clock). Answers the new epoch or null. */
  async acquireOnce(): Promise<number | null> {
    if (this.opts.deferAcquire) {
      const why = await this.peekFree().then((free) => (free ? this.opts.deferAcquire!(Math.max(100, this.margin / 2)) : null), () => null);
      if (why) return null;
    }
    const sentAt = this.mono();
    let rows: { epoch: string }[];
    try {
      rows = (await this.opts.conn.withClient('lease acquire', (c) => c.query<{ epoch: string }>(
        `INSERT INTO ${this.table} AS l (name, holder, epoch, expires_at, acquired_at, renewed_at)
         VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond', now(), now())
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, epoch = l.epoch + 1,
           expires_at = EXCLUDED.expires_at, acquired_at = now(), renewed_at = now()
         WHERE l.expires_at <= now()
         RETURNING epoch`,
        [this.name, this.holder, this.opts.ttlMs],
      ), this.attemptTimeout())).rows;
    } catch (err) {
      this.opts.onError?.(err as Error, 'acquire');
      return null;
    }
    this.lastContact = this.mono();
    if (rows.length === 0) return null;
    const epoch = Number(rows[0]!.epoch);
    this.setTerm(epoch, sentAt);
    this.opts.onElected?.(epoch);
    return epoch;
  }

  /** Extends our lease. False when it was refused (taken over or already expired: we are deposed) or failed. */
  async renewOnce(): Promise<boolean> {
    const term = this.term;
    if (!term) return false;
    const sentAt = this.mono();
    // Degraded (the lease may have expired while nobody reached the database): reclaim it if the row
    // still carries our holder and epoch. That is safe: every acquisition increments the epoch, so an
    // unchanged row means nobody led meanwhile; a takeover racing with us is serialised on the row.
    const degraded = term.degraded;
    let rowCount: number;
    try {
      rowCount = (await this.opts.conn.withClient('lease renew', (c) => c.query(
        `UPDATE ${this.table} SET expires_at = now() + $4 * interval '1 millisecond', renewed_at = now()
         WHERE name = $1 AND holder = $2 AND epoch = $3${degraded ? '' : ' AND expires_at > now()'}`,
        [this.name, this.holder, term.epoch, this.opts.ttlMs],
      ), this.attemptTimeout())).rowCount ?? 0;
    } catch (err) {
      // Keep leading until the local deadline; the next attempt may get through.
      this.opts.onError?.(err as Error, 'renew');
      if (this.term !== term) return false;
      if (term.degraded) {
        // Still without the database: ask the peers again (one that reaches it now takes over).
        if (!term.consulting) this.consult(term);
      } else if (this.mono() >= term.validUntil) {
        if (this.opts.holdWithoutDatabase) void this.epoch;
        else this.depose(`the lease could not be renewed: ${(err as Error).message}`);
      }
      return false;
    }
    this.lastContact = this.mono();
    if (this.term !== term) return false;
    if (rowCount === 0) {
      this.depose(degraded ? 'the database is back and another replica took the lease meanwhile' : 'the lease expired or another replica holds it');
      return false;
    }
    this.setTerm(term.epoch, sentAt);
    if (degraded) this.opts.onDegraded?.(term.epoch, false);
    return true;
  }

  /** The lease row as the database sees it (for /readyz, tests and diagnostics); null when none. */
  async read(): Promise<LeaseRow | null> {
    const { rows } = await this.opts.conn.withClient('lease read', (c) => c.query<{ holder: string; epoch: string; expires_at: Date; remaining: number }>(
      `SELECT holder, epoch, expires_at, extract(epoch FROM expires_at - now())::float8 AS remaining FROM ${this.table} WHERE name = $1`, [this.name],
    ));
    const r = rows[0];
    return r ? { holder: r.holder, epoch: Number(r.epoch), expiresAt: r.expires_at, remainingSeconds: r.remaining } : null;
  }

  private async release(epoch: number): Promise<void> {
    await this.opts.conn.withClient('lease release', (c) => c.query(
      `UPDATE ${this.table} SET expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()`,
      [this.name, this.holder, epoch],
    ), this.attemptTimeout());
  }

  /** An attempt may not outlive the term it would extend. */
  private attemptTimeout(): number {
    return Math.max(1000, Math.min(this.opts.conn.queryTimeoutMs, this.opts.ttlMs - this.margin));
  }

  /** Is the lease row free (expired or absent) by the database's clock? */
  private async peekFree(): Promise<boolean> {
    const { rows } = await this.opts.conn.withClient('lease read', (c) => c.query<{ free: boolean }>(
      `SELECT expires_at <= now() AS free FROM ${this.table} WHERE name = $1`, [this.name],
    ), this.attemptTimeout());
    this.lastContact = this.mono();
    return rows.length === 0 ? false : rows[0]!.free;
  }

  private setTerm(epoch: number, sentAt: number): void {
    this.term = { epoch, validUntil: sentAt + this.opts.ttlMs - this.margin, degraded: false, consulting: false };
    // Step down on time even when nothing asks for the epoch (delivery idle, no poll running).
    this.clearStepDown();
    const delay = Math.max(0, this.term.validUntil - this.mono());
    this.stepDownTimer = setTimeout(() => { void this.epoch; }, delay + 1);
    this.stepDownTimer.unref?.();
  }

  private clearStepDown(): void {
    if (this.stepDownTimer) clearTimeout(this.stepDownTimer);
    this.stepDownTimer = null;
  }

  private depose(reason: string): void {
    const term = this.term;
    if (!term) return;
    this.term = null;
    this.clearStepDown();
    this.opts.onDeposed?.(term.epoch, reason);
  }
}
