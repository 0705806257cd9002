import { describe, expect, it } from 'vitest';
import { buildSnapshot, sameRecord, type TargetPollResult } from '../../src/snapshot/build.js';
import type { Target } from '../../src/model.js';
import { store } from '../helpers/snapshots.js';

const T1: Target = { accountId: '111111111111', accountName: 'prod', region: 'us-east-1', roleArn: null, externalId: null };
const T2: Target = { ...T1, region: 'eu-west-1' };
const observed = (over: Parameters<typeof store>[0] = {}) => {
  const { stateSince: _s, stale: _t, accountName: _a, ...rest } = store(over);
  return rest;
};
const ok = (target: Target, stores: ReturnType<typeof observed>[]): TargetPollResult => ({ target, durationMs: 5, stores, error: null, cloudHsm: { attempted: false }, probes: [] });
const failed = (target: Target, code = 'AccessDeniedException'): TargetPollResult => ({ target, durationMs: 5, stores: null, error: { code, message: 'no' }, cloudHsm: { attempted: false }, probes: [] });
const times = (pollId: number, at: number) => ({ pollId, startedAt: at - 10, finishedAt: at });

describe('buildSnapshot', () => {
  it('records when each state was first observed and keeps it while the state holds', () => {
    const s1 = buildSnapshot(null, [ok(T1, [observed({ state: 'CONNECTED' })])], times(1, 1000));
    expect(s1.stores[0]!.stateSince).toBe(1000);
    const s2 = buildSnapshot(s1, [ok(T1, [observed({ state: 'CONNECTED' })])], times(2, 2000));
    expect(s2.stores[0]!.stateSince).toBe(1000);
    const s3 = buildSnapshot(s2, [ok(T1, [observed({ state: 'FAILED', errorCode: 'NETWORK_ERRORS' })])], times(3, 3000));
    expect(s3.stores[0]!.stateSince).toBe(3000);
  });

  it('keeps the last known stores of a failed target, marked stale, and leaves other targets alone', () => {
    const s1 = buildSnapshot(null, [ok(T1, [observed({ id: 'cks-a' })]), ok(T2, [observed({ id: 'cks-b', region: 'eu-west-1' })])], times(1, 1000));
    const s2 = buildSnapshot(s1, [failed(T1), ok(T2, [observed({ id: 'cks-b', region: 'eu-west-1' })])], times(2, 2000));
    expect(s2.stores.map((s) => [s.id, s.stale]).sort()).toEqual([['cks-a', true], ['cks-b', false]]);
    const t1 = s2.targets.find((t) => t.region === 'us-east-1')!;
    expect(t1).toMatchObject({ ok: false, consecutiveFailures: 1, lastSuccessAt: 1000, error: { code: 'AccessDeniedException' } });
    const s3 = buildSnapshot(s2, [failed(T1), ok(T2, [])], times(3, 3000));
    expect(s3.targets.find((t) => t.region === 'us-east-1')!.consecutiveFailures).toBe(2);
    expect(s3.stores.filter((s) => s.stale).map((s) => s.id)).toEqual(['cks-a']);
    // T2 answered with no stores: its store is gone from the snapshot (the diff decides when that is a removal).
    expect(s3.stores.some((s) => s.id === 'cks-b')).toBe(false);
  });

  it('resets failures and lastSuccessAt when the target answers again', () => {
    const s1 = buildSnapshot(null, [failed(T1)], times(1, 1000));
    expect(s1.targets[0]).toMatchObject({ ok: false, lastSuccessAt: null, consecutiveFailures: 1 });
    const s2 = buildSnapshot(s1, [ok(T1, [])], times(2, 2000));
    expect(s2.targets[0]).toMatchObject({ ok: true, lastSuccessAt: 2000, consecutiveFailures: 0, error: null });
  });

  it('keeps clusters stale when enrichment fails, without touching the stores', () => {
    const c = { accountId: T1.accountId, region: T1.region, id: 'cluster-abcdefghijk', state: 'ACTIVE', stateMessage: null, vpcId: null, hsmType: null, hsms: [], certificateNotAfter: null };
    const r1 = { ...ok(T1, [observed()]), cloudHsm: { attempted: true as const, clusters: [c], error: null } };
    const s1 = buildSnapshot(null, [r1], times(1, 1000));
    const r2 = { ...ok(T1, [observed()]), cloudHsm: { attempted: true as const, clusters: null, error: { code: 'CloudHsmInternalFailureException', message: 'x' } } };
    const s2 = buildSnapshot(s1, [r2], times(2, 2000));
    expect(s2.stores[0]!.stale).toBe(false);
    expect(s2.clusters).toEqual([{ ...c, stateSince: 1000, stale: true }]);
    expect(s2.targets[0]!.cloudHsm).toEqual({ ok: false, error: { code: 'CloudHsmInternalFailureException', message: 'x' }, missingClusterIds: [] });
  });

  it('counts consecutive probe failures and carries results between probe rounds', () => {
    const probe = (ok: boolean) => ({ storeId: 'cks-0000000000000001', ok, durationMs: 3, error: ok ? null : { code: 'KMSInternalException', message: 'x' } });
    let s = buildSnapshot(null, [{ ...ok(T1, [observed()]), probes: [probe(false)] }], times(1, 1000));
    s = buildSnapshot(s, [{ ...ok(T1, [observed()]), probes: [probe(false)] }], times(2, 2000));
    expect(s.probes[0]!.consecutiveFailures).toBe(2);
    s = buildSnapshot(s, [ok(T1, [observed()])], times(3, 3000));
    expect(s.probes[0]!.consecutiveFailures).toBe(2);
    s = buildSnapshot(s, [{ ...ok(T1, [observed()]), probes: [probe(true)] }], times(4, 4000));
    expect(s.probes[0]!.consecutiveFailures).toBe(0);
  });

  it('probe outcomes: throttled and inconclusive keep the last verdict and count, denied keeps the count, only failing counts', () => {
    const probe = (outcome: 'ok' | 'failing' | 'denied' | 'throttled' | 'inconclusive', code = 'KMSInternalException') =>
      ({ storeId: 'cks-0000000000000001', ok: outcome === 'ok', outcome, durationMs: 3, error: outcome === 'ok' ? null : { code, message: 'x' } });
    const step = (prev: ReturnType<typeof buildSnapshot> | null, p: ReturnType<typeof probe>, n: number) => buildSnapshot(prev, [{ ...ok(T1, [observed()]), probes: [p] }], times(n, n * 1000));
    // A throttled first probe has no verdict: the store stays "not probed yet".
    let s = step(null, probe('throttled', 'ThrottlingException'), 1);
    expect(s.probes).toEqual([]);
    s = step(s, probe('failing'), 2);
    expect(s.probes[0]).toMatchObject({ ok: false, outcome: 'failing', consecutiveFailures: 1 });
    s = step(s, probe('throttled', 'ThrottlingException'), 3);
    expect(s.probes[0]).toMatchObject({ ok: false, outcome: 'throttled', consecutiveFailures: 1, error: { code: 'ThrottlingException' } });
    s = step(s, probe('inconclusive', 'ConnectionReset'), 4);
    expect(s.probes[0]).toMatchObject({ ok: false, outcome: 'inconclusive', consecutiveFailures: 1 });
    s = step(s, probe('failing'), 5);
    expect(s.probes[0]).toMatchObject({ outcome: 'failing', consecutiveFailures: 2 });
    s = step(s, probe('denied', 'AccessDeniedException'), 6);
    expect(s.probes[0]).toMatchObject({ outcome: 'denied', consecutiveFailures: 2 });
    s = step(s, probe('ok'), 7);
    expect(s.probes[0]).toMatchObject({ ok: true, outcome: 'ok', consecutiveFailures: 0 });
  });

  it('remembers clusters DescribeClusters did not return, also while enrichment fails', () => {
    const r1 = { ...ok(T1, [observed({ clusterId: 'cluster-missingxxxxx' })]), cloudHsm: { attempted: true as const, clusters: [], error: null } };
    const s1 = buildSnapshot(null, [r1], times(1, 1000));
    expect(s1.targets[0]!.cloudHsm!.missingClusterIds).toEqual(['cluster-missingxxxxx']);
    const r2 = { ...ok(T1, [observed({ clusterId: 'cluster-missingxxxxx' })]), cloudHsm: { attempted: true as const, clusters: null, error: { code: 'CloudHsmInternalFailureException', message: 'x' } } };
    const s2 = buildSnapshot(s1, [r2], times(2, 2000));
    expect(s2.targets[0]!.cloudHsm).toMatchObject({ ok: false, missingClusterIds: ['cluster-missingxxxxx'] });
  });

  it('carries the account\'s OU path and tags to its stores and targets, stale ones included (they come from discovery)', () => {
    const owned: Target = { ...T1, ouPath: '/Prod/Payments', tags: { owner: 'payments' } };
    const s1 = buildSnapshot(null, [ok(owned, [observed({ id: 'cks-a' })])], times(1, 1000));
    expect(s1.stores[0]).toMatchObject({ ouPath: '/Prod/Payments', tags: { owner: 'payments' }, stale: false });
    expect(s1.targets[0]).toMatchObject({ ouPath: '/Prod/Payments', tags: { owner: 'payments' } });
    // The account moved to another OU while its target fails: the stale store follows the new owner.
    const moved: Target = { ...T1, ouPath: '/Prod/Cards', tags: { owner: 'cards' } };
    const s2 = buildSnapshot(s1, [failed(moved)], times(2, 2000));
    expect(s2.stores[0]).toMatchObject({ id: 'cks-a', ouPath: '/Prod/Cards', tags: { owner: 'cards' }, stale: true });
    expect(s2.targets[0]).toMatchObject({ ouPath: '/Prod/Cards', ok: false });
  });

  describe('shares unchanged records with the previous snapshot (memory: two snapshots alive at once)', () => {
    it('reuses the previous record object when the store says the same, and a new one when anything differs', () => {
      const s1 = buildSnapshot(null, [ok(T1, [observed({ id: 'cks-a' }), observed({ id: 'cks-b' })])], times(1, 1000));
      const s2 = buildSnapshot(s1, [ok(T1, [observed({ id: 'cks-a' }), observed({ id: 'cks-b', name: 'renamed' })])], times(2, 2000));
      expect(s2.stores[0]).toBe(s1.stores[0]);
      expect(s2.stores[1]).not.toBe(s1.stores[1]);
      expect(s2.stores[1]!.name).toBe('renamed');
      // A state change is a new record with a new stateSince; the previous snapshot is left as it was.
      const s3 = buildSnapshot(s2, [ok(T1, [observed({ id: 'cks-a', state: 'FAILED', errorCode: 'NETWORK_ERRORS' }), observed({ id: 'cks-b', name: 'renamed' })])], times(3, 3000));
      expect(s3.stores[0]).not.toBe(s2.stores[0]);
      expect(s3.stores[0]).toMatchObject({ state: 'FAILED', stateSince: 3000 });
      expect(s2.stores[0]).toMatchObject({ state: 'CONNECTED', stateSince: 1000 });
      expect(s3.stores[1]).toBe(s2.stores[1]);
    });

    it('never shares across a change of the account facts or of staleness', () => {
      const s1 = buildSnapshot(null, [ok(T1, [observed({ id: 'cks-a' })])], times(1, 1000));
      const moved = { ...T1, ouPath: '/Prod/Payments' };
      const s2 = buildSnapshot(s1, [ok(moved, [observed({ id: 'cks-a' })])], times(2, 2000));
      expect(s2.stores[0]).not.toBe(s1.stores[0]);
      expect(s2.stores[0]!.ouPath).toBe('/Prod/Payments');
      const s3 = buildSnapshot(s2, [failed(moved)], times(3, 3000));
      expect(s3.stores[0]).not.toBe(s2.stores[0]);
      expect(s3.stores[0]!.stale).toBe(true);
      expect(s2.stores[0]!.stale).toBe(false);
      // Still failing: the stale record is shared from then on.
      const s4 = buildSnapshot(s3, [failed(moved)], times(4, 4000));
      expect(s4.stores[0]).toBe(s3.stores[0]);
    });

    it('serialises exactly as a snapshot built without sharing', () => {
      const s1 = buildSnapshot(null, [ok(T1, [observed({ id: 'cks-a' })]), ok(T2, [observed({ id: 'cks-b', region: 'eu-west-1' })])], times(1, 1000));
      const results = [ok(T1, [observed({ id: 'cks-a' })]), ok(T2, [observed({ id: 'cks-b', region: 'eu-west-1' })])];
      const shared = buildSnapshot(s1, results, times(2, 2000));
      const unshared = buildSnapshot(JSON.parse(JSON.stringify(s1)), results, times(2, 2000));
      expect(shared.stores[0]).toBe(s1.stores[0]);
      expect(JSON.stringify(shared)).toBe(JSON.stringify(unshared));
    });
  });

  it('sameRecord compares as JSON content: keys, nested objects and arrays', () => {
    expect(sameRecord({ a: 1, x: { b: [1, 2] } }, { a: 1, x: { b: [1, 2] } })).toBe(true);
    expect(sameRecord({ a: 1, x: { b: [1, 2] } }, { a: 1, x: { b: [1, 3] } })).toBe(false);
    expect(sameRecord({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameRecord({ a: 1, c: 2 }, { a: 1, b: 2 })).toBe(false);
    expect(sameRecord({ a: null }, { a: {} })).toBe(false);
    expect(sameRecord([1], { 0: 1 })).toBe(false);
    expect(sameRecord({ t: {} }, { t: [] })).toBe(false);
  });
});
