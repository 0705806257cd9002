import { describe, expect, it } from 'vitest';
import { buildSnapshot, type TargetPollResult } from '../../src/snapshot/build.js';
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
});
