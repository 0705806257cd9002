import { describe, expect, it } from 'vitest';
import { diffSnapshots, emptyDiffCarry, type Change, type DiffCarry } from '../../src/diff/diff.js';
import type { Snapshot, StoreRecord } from '../../src/model.js';
import { MIN, snapshot, store, T0, target } from './builders.js';

const down = (n = 1) => target({ ok: false, consecutiveFailures: n, error: { code: 'ThrottlingException', message: 'slow down' } });
const at = (p: number) => T0 + p * MIN;

/** Diffs a sequence of snapshots, threading prev and the carry like the daemon does. */
function chain(snaps: Snapshot[], carry: DiffCarry = emptyDiffCarry(), prev: Snapshot | null = null) {
  const polls: Change[][] = [];
  for (const s of snaps) {
    const out = diffSnapshots(prev, s, carry);
    polls.push(out.changes);
    carry = JSON.parse(JSON.stringify(out.carry)) as DiffCarry; // persisted between polls
    prev = s;
  }
  return { polls, carry };
}
const brief = (c: Change): string => {
  switch (c.type) {
    case 'state_changed': return `${c.type} ${c.storeId} ${c.from}>${c.to}`;
    case 'error_code_changed': return `${c.type} ${c.storeId} ${c.from}>${c.to}`;
    case 'config_changed': return `${c.type} ${c.storeId} ${c.fields.join(',')}`;
    case 'target_unreachable': case 'target_recovered': return `${c.type} ${c.accountId}/${c.region}`;
    default: return `${c.type} ${c.storeId}`;
  }
};

describe('diffSnapshots', () => {
  it('the first poll is a baseline: no changes, however many stores', () => {
    const s = snapshot(1, at(1), { stores: Array.from({ length: 50 }, (_, i) => store({ id: `s${i}` })) });
    const { changes, carry } = diffSnapshots(null, s, emptyDiffCarry());
    expect(changes).toEqual([]);
    expect(carry.baselined).toEqual(['111111111111/eu-west-1']);
  });

  it('a restart with the persisted previous snapshot does not flood, even with the carry lost', () => {
    const stores = [store({ id: 'a' }), store({ id: 'b' })];
    const prev = snapshot(7, at(7), { stores });
    expect(diffSnapshots(prev, snapshot(8, at(8), { stores }), emptyDiffCarry()).changes).toEqual([]);
  });

  it('a newly monitored target, or one answering for the first time, is a baseline', () => {
    const other = target({ accountId: '222222222222' });
    const s1 = snapshot(1, at(1), { stores: [store({ id: 'a' })] });
    const s2 = snapshot(2, at(2), { stores: [store({ id: 'a' })], targets: [target(), { ...other, ok: false, consecutiveFailures: 1 }] });
    const s3 = snapshot(3, at(3), { stores: [store({ id: 'a' }), store({ id: 'z', accountId: '222222222222' })], targets: [target(), other] });
    const s4 = snapshot(4, at(4), { stores: [store({ id: 'a' }), store({ id: 'z', accountId: '222222222222' }), store({ id: 'y', accountId: '222222222222' })], targets: [target(), other] });
    expect(chain([s1, s2, s3, s4]).polls.map((p) => p.map(brief))).toEqual([[], [], ['target_recovered 222222222222/eu-west-1'], ['store_added y']]);
  });

  it('reports added, state changes, error code changes and config changes', () => {
    const a0 = store({ id: 'a' });
    const x0 = store({ id: 'x', type: 'EXTERNAL_KEY_STORE', xks: { connectivity: 'PUBLIC_ENDPOINT', uriEndpoint: 'https://a', uriPath: '/kms/xks/v1', vpcEndpointServiceName: null, accessKeyIdLast4: 'K' } });
    const f0 = store({ id: 'f', state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
    const s1 = snapshot(1, at(1), { stores: [a0, x0, f0] });
    const s2 = snapshot(2, at(2), {
      stores: [
        { ...a0, state: 'FAILED', errorCode: 'INVALID_CREDENTIALS', name: 'renamed', clusterId: 'cluster-new', trustAnchorSha256: 'cd'.repeat(32) },
        { ...x0, xks: { ...x0.xks!, uriEndpoint: 'https://b', connectivity: 'VPC_ENDPOINT_SERVICE', vpcEndpointServiceName: 'com.amazonaws.vpce.x', uriPath: '/p/kms/xks/v1' } },
        { ...f0, errorCode: 'CLUSTER_NOT_FOUND' },
        store({ id: 'n' }),
      ],
    });
    const { polls } = chain([s1, s2]);
    expect(polls[1]!.map(brief)).toEqual([
      'state_changed a CONNECTED>FAILED',
      'config_changed a name,clusterId,trustAnchorSha256',
      'config_changed x xksUriEndpoint,xksUriPath,xksConnectivity,xksVpcEndpointServiceName',
      'error_code_changed f NETWORK_ERRORS>CLUSTER_NOT_FOUND',
      'store_added n',
    ]);
    const sc = polls[1]![0]!;
    expect(sc).toMatchObject({ at: at(2), pollId: 2, accountId: '111111111111', region: 'eu-west-1', storeId: 'a', storeName: 'renamed', fromErrorCode: null, toErrorCode: 'INVALID_CREDENTIALS' });
    expect(polls[1]![1]).toMatchObject({ before: { name: 'store a', clusterId: 'cluster-a' }, after: { name: 'renamed', clusterId: 'cluster-new', trustAnchorSha256: 'cd'.repeat(32) } });
  });

  it('reports a target becoming unreachable and recovering, never its stale stores', () => {
    const stores = [store({ id: 'a' })];
    const { polls } = chain([
      snapshot(1, at(1), { stores }),
      snapshot(2, at(2), { stores: stores.map((s) => ({ ...s, stale: true })), targets: [down(1)] }),
      snapshot(3, at(3), { stores: stores.map((s) => ({ ...s, stale: true })), targets: [down(2)] }),
      snapshot(4, at(4), { stores: [{ ...stores[0]!, state: 'FAILED', errorCode: 'NETWORK_ERRORS' }] }),
    ]);
    expect(polls.map((p) => p.map(brief))).toEqual([
      [], ['target_unreachable 111111111111/eu-west-1'], [], ['target_recovered 111111111111/eu-west-1', 'state_changed a CONNECTED>FAILED'],
    ]);
    expect(polls[3]![0]).toMatchObject({ failedPolls: 2 });
  });

  describe('removal', () => {
    const a = store({ id: 'a' });
    const b = store({ id: 'b', state: 'FAILED', errorCode: 'NETWORK_ERRORS' });

    it('only after two consecutive successful polls without the store', () => {
      const { polls, carry } = chain([
        snapshot(1, at(1), { stores: [a, b] }),
        snapshot(2, at(2), { stores: [a] }),
        snapshot(3, at(3), { stores: [a] }),
        snapshot(4, at(4), { stores: [a] }),
      ]);
      expect(polls.map((p) => p.map(brief))).toEqual([[], [], ['store_removed b'], []]);
      expect(polls[2]![0]).toMatchObject({ lastState: 'FAILED', missingSince: at(2), storeName: 'store b' });
      expect(carry.absent).toEqual({});
    });

    it('a store missing once and back is not removed, and is diffed against its last known record', () => {
      const { polls, carry } = chain([
        snapshot(1, at(1), { stores: [a, b] }),
        snapshot(2, at(2), { stores: [a] }),
        snapshot(3, at(3), { stores: [a, { ...b, state: 'CONNECTED', errorCode: null }] }),
        snapshot(4, at(4), { stores: [a] }),
        snapshot(5, at(5), { stores: [a, { ...b, state: 'CONNECTED', errorCode: null }] }),
      ]);
      expect(polls.map((p) => p.map(brief))).toEqual([[], [], ['state_changed b FAILED>CONNECTED'], [], []]);
      expect(carry.absent).toEqual({});
    });

    it('failed polls neither count nor reset; stale records are never absence', () => {
      const stale = (s: StoreRecord) => ({ ...s, stale: true });
      const { polls } = chain([
        snapshot(1, at(1), { stores: [a, b] }),
        snapshot(2, at(2), { stores: [stale(a), stale(b)], targets: [down(1)] }),
        snapshot(3, at(3), { stores: [stale(a), stale(b)], targets: [down(2)] }),
        snapshot(4, at(4), { stores: [a] }), // first successful absence
        snapshot(5, at(5), { stores: [stale(a)], targets: [down(1)] }),
        snapshot(6, at(6), { stores: [a] }), // second
      ]);
      expect(polls.map((p) => p.map(brief).filter((c) => c.startsWith('store')))).toEqual([[], [], [], [], [], ['store_removed b']]);
    });

    it('a target that is no longer monitored removes nothing and drops its carry', () => {
      const other = target({ accountId: '222222222222' });
      const { polls, carry } = chain([
        snapshot(1, at(1), { stores: [a, b] }),
        snapshot(2, at(2), { stores: [a] }),
        snapshot(3, at(3), { targets: [other] }),
        snapshot(4, at(4), { targets: [other] }),
      ]);
      expect(polls.flat()).toEqual([]);
      expect(carry).toEqual({ version: 1, baselined: ['222222222222/eu-west-1'], absent: {} });
    });
  });

  it('ids are deterministic and distinct', () => {
    const s1 = snapshot(1, at(1), { stores: [store({ id: 'a' }), store({ id: 'b' })] });
    const s2 = snapshot(2, at(2), { stores: [store({ id: 'a', state: 'FAILED', errorCode: 'X' }), store({ id: 'b', state: 'FAILED', errorCode: 'X' }), store({ id: 'c' })] });
    const one = diffSnapshots(s1, s2, emptyDiffCarry()).changes.map((c) => c.id);
    const two = diffSnapshots(s1, s2, emptyDiffCarry()).changes.map((c) => c.id);
    expect(one).toEqual(two);
    expect(new Set(one).size).toBe(3);
    expect(one[0]).toMatch(/^state_changed:[0-9a-f]{32}$/);
    // the same change in another poll is another event
    const s3 = { ...s2, pollId: 3, finishedAt: at(3) };
    expect(diffSnapshots(s1, s3, emptyDiffCarry()).changes[0]!.id).not.toBe(one[0]);
  });

  it('is linear in stores: 20,000 stores with churn', () => {
    const N = 20_000;
    const regions = ['eu-west-1', 'us-east-1', 'ap-south-1', 'sa-east-1'];
    const targets = regions.map((region) => target({ region }));
    const mk = (i: number, state = 'CONNECTED') => store({ id: `cks-${i}`, region: regions[i % 4]!, state });
    const base = Array.from({ length: N }, (_, i) => mk(i));
    const churn = base.filter((_, i) => i % 100 !== 0).map((s, i) => (i % 50 === 0 ? { ...s, state: 'FAILED', errorCode: 'NETWORK_ERRORS' } : s));
    const started = performance.now();
    const { polls } = chain([snapshot(1, at(1), { stores: base, targets }), snapshot(2, at(2), { stores: churn, targets }), snapshot(3, at(3), { stores: churn, targets })]);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(polls[1]!.filter((c) => c.type === 'state_changed')).toHaveLength(Math.ceil(churn.length / 50));
    expect(polls[2]!.filter((c) => c.type === 'store_removed')).toHaveLength(N / 100);
  });
});
