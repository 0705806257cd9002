// ReplicaRole (src/ha/replica.ts): the role it serves under says 'leader' only once lead() has loaded
// the term's state. Before that, the API still answers from the last followed view, and a client that
// took the replica for the leader would read that view as the leader's (the CI failure of stop 30: a
// silence committed since the follower's last refresh looked lost right after a failover).
import { describe, expect, it } from 'vitest';
import type { LeaderLease } from '../../src/ha/lease.js';
import { ReplicaRole } from '../../src/ha/replica.js';

/** The part of the lease ReplicaRole reads; elections are driven by calling role.elected/deposed. */
function lease() {
  const l = { epoch: 0, holder: 'test', resigned: [] as string[], start() {}, async stop() {}, async resign(why: string) { l.resigned.push(why); } };
  return l;
}
const quiet = { info() {}, warn() {}, error() {} };
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('ReplicaRole', () => {
  it('serves as leader only after lead() finished, and as follower again at once when deposed', async () => {
    const l = lease();
    let finishLead!: () => void;
    const calls: string[] = [];
    const role = new ReplicaRole({
      lease: l as unknown as LeaderLease, refreshMs: 60_000, log: quiet,
      hooks: {
        lead: (epoch) => { calls.push(`lead ${epoch}`); return new Promise<void>((r) => { finishLead = r; }); },
        follow: async (why) => { calls.push(`follow ${why}`); },
        refresh: async () => { calls.push('refresh'); },
      },
    });
    expect([role.role, role.serving]).toEqual(['follower', 'follower']);
    l.epoch = 7;
    role.elected(7);
    await tick();
    // Loading: the transitions run as leader (no follower refresh may overwrite what lead() loads) ...
    expect(calls).toEqual(['lead 7']);
    expect(role.role).toBe('leader');
    // ... but nobody is told this replica leads yet.
    expect(role.serving).toBe('follower');
    await role.refresh();
    expect(calls).toEqual(['lead 7']);
    finishLead();
    await tick();
    expect(role.serving).toBe('leader');
    role.deposed(7, 'lost the lease');
    await tick();
    await tick();
    expect([role.role, role.serving]).toEqual(['follower', 'follower']);
    expect(calls).toEqual(['lead 7', 'follow lost the lease', 'refresh']);
  });

  it('a lead() that fails gives the lease up and never serves as leader', async () => {
    const l = lease();
    const role = new ReplicaRole({
      lease: l as unknown as LeaderLease, refreshMs: 60_000, log: quiet,
      hooks: { lead: async () => { throw new Error('database went away'); }, follow: async () => {}, refresh: async () => {} },
    });
    l.epoch = 3;
    role.elected(3);
    await tick();
    await tick();
    expect(l.resigned).toEqual(['taking over failed: database went away']);
    expect(role.serving).toBe('follower');
  });
});
