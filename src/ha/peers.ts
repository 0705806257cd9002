// The second channel between replicas (state.peers): when the leader cannot renew its lease, it asks
// the other replicas before stepping down, so that "PostgreSQL is down for everyone" does not silence
// paging (issue 12's "never silent" for the PostgreSQL backend; docs/ha.md "PostgreSQL down for every
// replica").
//
// The database alone cannot tell the leader which case it is in:
//   cut off   only this replica lost PostgreSQL; another one reaches it and will take the lease when it
//             expires: the leader MUST step down before that (no double delivery);
//   all down  nobody reaches PostgreSQL; nobody can take the lease; if the leader steps down nobody
//             polls or pages until the database returns.
// Every replica serves GET /api/v1/replica (replicaStatus below): its holder id, whether it leads and
// with which epoch, and whether it reached PostgreSQL recently. decideAtDeadline is the pure rule the
// leader applies to its peers' answers; PeerSurvey asks them over HTTP.
import { lookup } from 'node:dns/promises';

/** What GET /api/v1/replica answers. */
export interface ReplicaStatus {
  holder: string;
  /** This replica polls and delivers (it holds a lease term, possibly degraded). */
  leading: boolean;
  /** Its term's epoch while leading, else null. */
  epoch: number | null;
  /** Leading although its lease could not be renewed, because no replica reaches PostgreSQL. */
  degraded: boolean;
  database: {
    /** A lease query (acquire, renew) succeeded within the freshness window (min(2 x renewInterval, leaseDuration / 2)). */
    reachable: boolean;
    /** Milliseconds since the last successful lease query, null if none since start. */
    lastContactAgoMs: number | null;
  };
}

export type PeerAnswer =
  | { peer: string; ok: true; status: ReplicaStatus }
  | { peer: string; ok: false; error: string };

export type Decision =
  | { action: 'step-down'; reason: string; cause: 'no-peers' | 'peer-reaches-database' | 'peer-leads' }
  | { action: 'keep-leading'; reason: string; unreachablePeers: string[] };

/**
 * The leader could not renew its lease before its local deadline. Step down, or keep leading without
 * the database (degraded)? Pure: a function of our term and the peers' answers (our own answer, found
 * by holder id when a DNS name also resolves to us, is ignored).
 *
 *  - no peers configured                        -> step down (the behaviour without state.peers);
 *  - a peer reaches PostgreSQL                  -> step down: it takes the lease when it expires (the
 *                                                  cut-off case; the database clock decides);
 *  - a peer leads with a higher epoch (or the   -> step down: it is the newer leader (two degraded
 *    same epoch and a smaller holder id)           leaders that meet again leave one);
 *  - every peer that answered cannot reach      -> keep leading, degraded: nobody else could take over,
 *    PostgreSQL and does not lead a newer term     and silence is worse than a duplicate;
 *  - a peer does not answer at all              -> counted as "cannot reach PostgreSQL": a paging tool
 *                                                  errs on the side of paging. If it is in fact alive and
 *                                                  reaching the database (a partition between replicas
 *                                                  AND between this one and the database), both page:
 *                                                  the decision says which peers were unreachable, the
 *                                                  daemon counts it and the docs name the duplicate.
 */
export function decideAtDeadline(self: { holder: string; epoch: number }, answers: readonly PeerAnswer[], peersConfigured: boolean): Decision {
  if (!peersConfigured) return { action: 'step-down', cause: 'no-peers', reason: 'the lease could not be renewed before it expires (no state.peers to ask)' };
  const others = answers.filter((a) => !(a.ok && a.status.holder === self.holder));
  for (const a of others) {
    if (!a.ok) continue;
    const s = a.status;
    if (s.leading && s.epoch !== null && s.epoch > self.epoch) return { action: 'step-down', cause: 'peer-leads', reason: `peer ${a.peer} (${s.holder}) leads with epoch ${s.epoch}` };
    if (s.database.reachable) return { action: 'step-down', cause: 'peer-reaches-database', reason: `peer ${a.peer} (${s.holder}) reaches PostgreSQL: it takes the lease over` };
    if (s.leading && s.epoch !== null && (s.epoch > self.epoch || (s.epoch === self.epoch && s.holder < self.holder))) {
      return { action: 'step-down', cause: 'peer-leads', reason: `peer ${a.peer} (${s.holder}) leads with epoch ${s.epoch}` };
    }
  }
  const unreachablePeers = others.filter((a) => !a.ok).map((a) => a.peer);
  if (others.length === 0) return { action: 'keep-leading', reason: 'no peer answered (none found)', unreachablePeers };
  const answered = others.length - unreachablePeers.length;
  return {
    action: 'keep-leading',
    reason: unreachablePeers.length === 0
      ? `none of the ${answered} peer(s) reaches PostgreSQL either`
      : `${answered} peer(s) cannot reach PostgreSQL either and ${unreachablePeers.length} did not answer (${unreachablePeers.join(', ')})`,
    unreachablePeers,
  };
}

/**
 * Already leading degraded, a peer reaches PostgreSQL again: usually the database is back for everyone,
 * and our own renewal is about to reclaim the lease (same epoch, nothing to re-send). So a degraded
 * leader steps down for a peer that reaches the database only once that has lasted `graceMs` (our
 * reclaim did not get through meanwhile: we are the one cut off); a peer that LEADS a newer term stops it
 * at once. `since` is when this peer-reaches-database answer was first seen in a row (null: not before).
 */
export function degradedStepDown(d: Decision, degraded: boolean, since: number | null, now: number, graceMs: number): { stepDown: boolean; since: number | null } {
  if (d.action !== 'step-down') return { stepDown: false, since: null };
  if (!degraded || d.cause !== 'peer-reaches-database') return { stepDown: true, since: null };
  const first = since ?? now;
  return { stepDown: now - first >= graceMs, since: first };
}

/**
 * A follower with an expired lease row in front of it: take it, or leave it to a peer that still leads
 * (degraded) from the last term and will reclaim it when its own connection comes back? Deferring
 * avoids two leaders sending from different states the moment the database returns; it is bounded
 * (maxDeferMs) so a degraded leader that never gets its connection back cannot block the takeover.
 */
export function shouldDeferAcquire(answers: readonly PeerAnswer[], selfHolder: string): string | null {
  for (const a of answers) {
    if (a.ok && a.status.holder !== selfHolder && a.status.leading && a.status.degraded) return `peer ${a.peer} (${a.status.holder}) still leads epoch ${a.status.epoch} without the database`;
  }
  return null;
}

/** One configured peer: an http(s) base URL, or dns+http(s)://name:port meaning every address the name resolves to (a Kubernetes headless Service). */
export function parsePeer(entry: string): { url: URL; dns: boolean } {
  const dns = /^dns\+https?:\/\//i.test(entry);
  const url = new URL(dns ? entry.slice(4) : entry);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`expected http://, https://, dns+http:// or dns+https://, got ${url.protocol}`);
  return { url, dns };
}

export interface PeerSurveyOptions {
  peers: readonly string[];
  authToken?: string | null;
  /** Resolves a name to all its addresses (tests may inject). */
  resolve?: (host: string) => Promise<string[]>;
}

const defaultResolve = async (host: string): Promise<string[]> => (await lookup(host, { all: true })).map((a) => (a.family === 6 ? `[${a.address}]` : a.address));

/** Asks every peer's GET /api/v1/replica in parallel, each within `timeoutMs`. Never rejects. */
export class PeerSurvey {
  private readonly peers: { url: URL; dns: boolean }[];
  constructor(private readonly opts: PeerSurveyOptions) {
    this.peers = opts.peers.map(parsePeer);
  }

  get configured(): boolean {
    return this.peers.length > 0;
  }

  async ask(timeoutMs: number): Promise<PeerAnswer[]> {
    const signal = AbortSignal.timeout(Math.max(50, timeoutMs));
    const targets: string[] = [];
    const failed: PeerAnswer[] = [];
    await Promise.all(this.peers.map(async (p) => {
      if (!p.dns) return void targets.push(p.url.origin);
      try {
        const addrs = await Promise.race([
          (this.opts.resolve ?? defaultResolve)(p.url.hostname),
          new Promise<never>((_, rej) => signal.addEventListener('abort', () => rej(new Error('DNS lookup timed out')), { once: true })),
        ]);
        for (const a of addrs) targets.push(`${p.url.protocol}//${a}${p.url.port ? `:${p.url.port}` : ''}`);
      } catch (err) {
        failed.push({ peer: `dns:${p.url.host}`, ok: false, error: (err as Error).message });
      }
    }));
    const answers = await Promise.all(targets.map(async (origin): Promise<PeerAnswer> => {
      try {
        const res = await fetch(`${origin}/api/v1/replica`, {
          signal,
          headers: this.opts.authToken ? { authorization: `Bearer ${this.opts.authToken}` } : {},
        });
        if (!res.ok) return { peer: origin, ok: false, error: `HTTP ${res.status}` };
        const status = (await res.json()) as ReplicaStatus;
        if (typeof status?.holder !== 'string' || typeof status.database?.reachable !== 'boolean') return { peer: origin, ok: false, error: 'not a keystore-watch replica status' };
        return { peer: origin, ok: true, status };
      } catch (err) {
        return { peer: origin, ok: false, error: (err as Error).message };
      }
    }));
    return [...answers, ...failed];
  }
}
