// Wires the peer channel (./peers.ts) into the leader lease (./lease.ts) for the daemon: what a replica
// answers on GET /api/v1/replica, the lease's holdWithoutDatabase / deferAcquire / onDegraded hooks,
// and the start-up warning when no peers are configured. The rules are in peers.ts (pure); this file
// only asks, logs and counts.
import type { LeaderLease } from './lease.js';
import { decideAtDeadline, degradedStepDown, PeerSurvey, shouldDeferAcquire, type ReplicaStatus } from './peers.js';

export interface PeerHooksOptions {
  peers: readonly string[];
  authToken?: string | null;
  leaseDurationMs: number;
  renewIntervalMs: number;
  lease: () => LeaderLease;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
  onDegraded(epoch: number, degraded: boolean, unreachablePeers: string[]): void;
}

export function peerHooks(opts: PeerHooksOptions) {
  const survey = new PeerSurvey({ peers: opts.peers, authToken: opts.authToken });
  /** A peer "reaches PostgreSQL" if a lease query of its succeeded this recently. */
  const freshMs = Math.min(2 * opts.renewIntervalMs, opts.leaseDurationMs / 2);
  /** A follower defers taking an expired lease from a degraded peer at most this long (then takes it). */
  const maxDeferMs = 2 * opts.leaseDurationMs;
  let deferringSince: number | null = null;
  let lastUnreachable: string[] = [];
  let lastDecision = '';
  /** Degraded, a peer reaches the database again: how long we try to reclaim our lease before stepping down for it. */
  const reclaimGraceMs = opts.leaseDurationMs / 2;
  let peerBackSince: number | null = null;

  const status = (): ReplicaStatus => {
    const lease = opts.lease();
    const epoch = lease.epoch;
    return { holder: lease.holder, leading: epoch !== null, epoch, degraded: epoch !== null && lease.degraded, database: lease.databaseContact(freshMs) };
  };

  return {
    configured: survey.configured,
    status,
    /** Logged once at start. */
    startWarning(): void {
      if (!survey.configured) opts.log.warn({ setting: 'state.peers' }, 'no state.peers configured: if PostgreSQL becomes unreachable for every replica, the leader steps down and nobody polls or pages until the database returns (docs/ha.md)');
    },
    lease: {
      holdWithoutDatabase: async (epoch: number, timeoutMs: number, degraded: boolean): Promise<boolean> => {
        const lease = opts.lease();
        const answers = await survey.ask(timeoutMs);
        const d = decideAtDeadline({ holder: lease.holder, epoch }, answers, survey.configured);
        const g = degradedStepDown(d, degraded, peerBackSince, performance.now(), reclaimGraceMs);
        peerBackSince = g.since;
        if (d.action === 'step-down' && !g.stepDown) {
          if (d.reason !== lastDecision) {
            lastDecision = d.reason;
            opts.log.info({ epoch, reason: d.reason, graceSeconds: reclaimGraceMs / 1000 }, 'a peer reaches PostgreSQL again: reclaiming our lease before stepping down for it');
          }
          return true;
        }
        if (d.action === 'keep-leading') lastUnreachable = d.unreachablePeers;
        if (d.reason !== lastDecision) {
          lastDecision = d.reason;
          const fields = { epoch, decision: d.action, reason: d.reason, answers: answers.map((a) => (a.ok ? { peer: a.peer, holder: a.status.holder, leading: a.status.leading, epoch: a.status.epoch, databaseReachable: a.status.database.reachable } : { peer: a.peer, error: a.error })) };
          if (d.action === 'keep-leading') opts.log.error(fields, 'cannot renew the leader lease and no peer reaches PostgreSQL: still leading, polling and paging from memory');
          else opts.log.warn(fields, 'cannot renew the leader lease: stepping down');
        }
        return d.action === 'keep-leading';
      },
      deferAcquire: async (timeoutMs: number): Promise<string | null> => {
        if (!survey.configured) return null;
        const why = shouldDeferAcquire(await survey.ask(timeoutMs), opts.lease().holder);
        const t = performance.now();
        if (why === null) { deferringSince = null; return null; }
        deferringSince ??= t;
        if (t - deferringSince > maxDeferMs) {
          opts.log.warn({ reason: why, deferredSeconds: Math.round((t - deferringSince) / 1000) }, 'a peer still leads without the database; taking the lease anyway');
          return null;
        }
        if (deferringSince === t) opts.log.info({ reason: why }, 'the lease is free but a peer leads without the database: leaving it to reclaim the lease');
        return why;
      },
      onDegraded: (epoch: number, degraded: boolean) => {
        lastDecision = '';
        opts.onDegraded(epoch, degraded, degraded ? lastUnreachable : []);
      },
    },
  };
}
