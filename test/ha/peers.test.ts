// The peer channel (src/ha/peers.ts): the pure rule a leader that cannot renew its lease applies to its
// peers' answers (step down, or keep leading without PostgreSQL), the follower's deferral, the config
// form of state.peers, and the survey over real HTTP against a real local server.
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { decideAtDeadline, degradedStepDown, parsePeer, PeerSurvey, shouldDeferAcquire, type PeerAnswer, type ReplicaStatus } from '../../src/ha/peers.js';

const self = { holder: 'pod-a/1/x', epoch: 7 };
const status = (over: Partial<ReplicaStatus> & { reachable?: boolean } = {}): ReplicaStatus => ({
  holder: 'pod-b/1/y', leading: false, epoch: null, degraded: false,
  database: { reachable: over.reachable ?? false, lastContactAgoMs: 9000 }, ...over,
});
const ok = (s: ReplicaStatus, peer = 'http://b:8080'): PeerAnswer => ({ peer, ok: true, status: s });
const down = (peer = 'http://b:8080'): PeerAnswer => ({ peer, ok: false, error: 'connect ECONNREFUSED' });

describe('decideAtDeadline (pure)', () => {
  it('without state.peers: steps down, as before', () => {
    expect(decideAtDeadline(self, [], false).action).toBe('step-down');
  });

  it('a peer that reaches PostgreSQL: step down (the leader is the one cut off; the peer takes the lease over)', () => {
    const d = decideAtDeadline(self, [ok(status({ reachable: true }))], true);
    expect(d).toMatchObject({ action: 'step-down' });
    expect(d.reason).toMatch(/reaches PostgreSQL/);
    // Even if another peer is unreachable or agrees the database is down.
    expect(decideAtDeadline(self, [down('http://c:8080'), ok(status()), ok(status({ reachable: true }), 'http://d:8080')], true).action).toBe('step-down');
  });

  it('every peer answers that it cannot reach PostgreSQL and does not lead: keep leading (degraded)', () => {
    const d = decideAtDeadline(self, [ok(status()), ok(status({ holder: 'pod-c/1/z' }), 'http://c:8080')], true);
    expect(d).toEqual({ action: 'keep-leading', reason: 'none of the 2 peer(s) reaches PostgreSQL either', unreachablePeers: [] });
  });

  it('a peer that does not answer: keep leading (silence is worse than a duplicate), naming it', () => {
    const d = decideAtDeadline(self, [down()], true);
    expect(d).toMatchObject({ action: 'keep-leading', unreachablePeers: ['http://b:8080'] });
    const mixed = decideAtDeadline(self, [ok(status(), 'http://c:8080'), down()], true);
    expect(mixed).toMatchObject({ action: 'keep-leading', unreachablePeers: ['http://b:8080'] });
    expect(mixed.reason).toMatch(/1 did not answer/);
  });

  it('our own answer (a DNS name resolving to us too) is ignored', () => {
    const own = ok(status({ holder: self.holder, leading: true, epoch: 7, reachable: true }), 'http://10.0.0.1:8080');
    expect(decideAtDeadline(self, [own, ok(status())], true).action).toBe('keep-leading');
    // Only ourselves found: nobody to take over.
    expect(decideAtDeadline(self, [own], true)).toMatchObject({ action: 'keep-leading', unreachablePeers: [] });
  });

  it('two degraded leaders that meet again: the newer epoch stays, the older steps down (ties by holder id)', () => {
    expect(decideAtDeadline(self, [ok(status({ leading: true, epoch: 8, degraded: true }))], true).action).toBe('step-down');
    expect(decideAtDeadline(self, [ok(status({ leading: true, epoch: 6, degraded: true }))], true).action).toBe('keep-leading');
    // Same epoch (cannot happen through the lease; defensive): the smaller holder id stays.
    expect(decideAtDeadline({ holder: 'pod-z', epoch: 7 }, [ok(status({ holder: 'pod-b', leading: true, epoch: 7 }))], true).action).toBe('step-down');
    expect(decideAtDeadline({ holder: 'pod-a', epoch: 7 }, [ok(status({ holder: 'pod-b', leading: true, epoch: 7 }))], true).action).toBe('keep-leading');
  });
});

describe('degradedStepDown (pure): a degraded leader gives its own reclaim a grace before stepping down for a peer that reaches PostgreSQL', () => {
  const reaches = decideAtDeadline(self, [ok(status({ reachable: true }))], true);
  const leads = decideAtDeadline(self, [ok(status({ leading: true, epoch: 8, reachable: true }))], true);
  it('not degraded yet (at the deadline, the cut-off case): steps down at once', () => {
    expect(degradedStepDown(reaches, false, null, 1000, 3000)).toEqual({ stepDown: true, since: null });
  });
  it('degraded: the peer reaching the database must last graceMs; a peer that leads a newer term stops it at once', () => {
    expect(degradedStepDown(reaches, true, null, 1000, 3000)).toEqual({ stepDown: false, since: 1000 });
    expect(degradedStepDown(reaches, true, 1000, 3999, 3000)).toEqual({ stepDown: false, since: 1000 });
    expect(degradedStepDown(reaches, true, 1000, 4000, 3000)).toEqual({ stepDown: true, since: 1000 });
    expect(leads).toMatchObject({ action: 'step-down', cause: 'peer-leads' });
    expect(degradedStepDown(leads, true, null, 1000, 3000).stepDown).toBe(true);
  });
  it('a keep-leading answer resets the grace', () => {
    expect(degradedStepDown(decideAtDeadline(self, [ok(status())], true), true, 1000, 2000, 3000)).toEqual({ stepDown: false, since: null });
  });
});

describe('shouldDeferAcquire (pure)', () => {
  it('defers only to a peer that still leads degraded; not to a normal leader, a follower, an unreachable peer or itself', () => {
    expect(shouldDeferAcquire([ok(status({ leading: true, epoch: 3, degraded: true }))], 'me')).toMatch(/still leads epoch 3 without the database/);
    expect(shouldDeferAcquire([ok(status({ leading: true, epoch: 3, degraded: false }))], 'me')).toBeNull();
    expect(shouldDeferAcquire([ok(status())], 'me')).toBeNull();
    expect(shouldDeferAcquire([down()], 'me')).toBeNull();
    expect(shouldDeferAcquire([ok(status({ holder: 'me', leading: true, epoch: 3, degraded: true }))], 'me')).toBeNull();
  });
});

describe('parsePeer', () => {
  it('takes base URLs and dns+ names; refuses anything else', () => {
    expect(parsePeer('http://10.0.0.2:8080')).toMatchObject({ dns: false });
    expect(parsePeer('dns+http://keystore-watch-peers.monitoring.svc:8080')).toMatchObject({ dns: true });
    expect(parsePeer('dns+https://x:8443').url.protocol).toBe('https:');
    expect(() => parsePeer('ftp://x')).toThrow(/expected http/);
  });
});

describe('PeerSurvey (real HTTP)', () => {
  const servers: Server[] = [];
  afterEach(async () => { await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r)))); });
  const serve = async (handler: (path: string, auth: string | undefined) => { status: number; body: unknown } | 'hang'): Promise<number> => {
    const s = createServer((req, res) => {
      const r = handler(req.url ?? '', req.headers.authorization);
      if (r === 'hang') return;
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as { port: number }).port;
  };

  it('asks GET /api/v1/replica with the bearer token; a hanging, refusing or non-replica peer is an unreachable answer within the timeout', async () => {
    const seen: string[] = [];
    const good = await serve((p, auth) => { seen.push(`${p} ${auth}`); return { status: 200, body: status() }; });
    const hang = await serve(() => 'hang');
    const junk = await serve(() => ({ status: 200, body: { hello: 1 } }));
    const denied = await serve(() => ({ status: 401, body: {} }));
    const survey = new PeerSurvey({ peers: [good, hang, junk, denied].map((p) => `http://127.0.0.1:${p}`), authToken: 'tok' });
    const t0 = performance.now();
    const answers = await survey.ask(400);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(seen).toEqual(['/api/v1/replica Bearer tok']);
    expect(answers.map((a) => a.ok)).toEqual([true, false, false, false]);
    expect((answers[3] as { error: string }).error).toBe('HTTP 401');
    expect(decideAtDeadline(self, answers, survey.configured).action).toBe('keep-leading');
  });

  it('dns+http:// asks every address the name resolves to', async () => {
    const p = await serve(() => ({ status: 200, body: status({ reachable: true }) }));
    const survey = new PeerSurvey({ peers: [`dns+http://peers.example:${p}`], resolve: async () => ['127.0.0.1', '127.0.0.2'] });
    const answers = await survey.ask(2000);
    expect(answers.map((a) => a.peer)).toEqual([`http://127.0.0.1:${p}`, `http://127.0.0.2:${p}`]);
    expect(answers[0]!.ok).toBe(true);
    const failing = new PeerSurvey({ peers: ['dns+http://nowhere.invalid:1'], resolve: async () => { throw new Error('ENOTFOUND'); } });
    expect(await failing.ask(500)).toEqual([{ peer: 'dns:nowhere.invalid:1', ok: false, error: 'ENOTFOUND' }]);
  });
});
