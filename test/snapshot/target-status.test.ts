// Target statuses (ok, failed, not_enabled, denied) through the pure stages: snapshot building, the
// persisted shape of older snapshots, metric rendering, the alert engine and once's exit code.
import { describe, expect, it } from 'vitest';
import { buildSnapshot, type TargetPollResult } from '../../src/snapshot/build.js';
import { parseSnapshotDoc } from '../../src/snapshot/persist.js';
import { renderSnapshotMetrics } from '../../src/metrics/render.js';
import { emptyAlertState, evaluateAlerts, type AlertState } from '../../src/alert/engine.js';
import { exitCodeFor } from '../../src/cli/once.js';
import { sessionLimitReason } from '../../src/collect/aws-clients.js';
import type { AlertNotification, Snapshot, Target, TargetOutcome } from '../../src/model.js';
import { alerting, fakeGuidance, MIN, probeConfig, snapshot, store, T0, target } from '../diff/builders.js';

const t = (accountId: string, region: string): Target => ({ accountId, accountName: accountId, region, roleArn: null, externalId: null });
const result = (target: Target, over: Partial<TargetPollResult> = {}): TargetPollResult => ({
  target, durationMs: 5, stores: [], error: null, cloudHsm: { attempted: false }, probes: [], ...over,
});
const times = (pollId: number) => ({ pollId, startedAt: T0 + pollId * MIN, finishedAt: T0 + pollId * MIN + 1 });

describe('snapshot statuses', () => {
  it('not_enabled and denied are answers: no failure count, last stores kept stale', () => {
    const a = t('111111111111', 'us-east-1');
    const prev = buildSnapshot(null, [result(a, { stores: [{ ...store({ id: 's1' }), region: 'us-east-1' }] })], times(1));
    const err = { code: 'X', message: 'm' };
    for (const status of ['not_enabled', 'denied'] as const) {
      const next = buildSnapshot(prev, [result(a, { stores: null, error: err, status })], times(2));
      expect(next.targets[0]).toMatchObject({ status, ok: false, consecutiveFailures: 0, lastSuccessAt: prev.targets[0]!.lastSuccessAt, error: err });
      expect(next.stores[0]).toMatchObject({ id: 's1', stale: true });
    }
    const failed = buildSnapshot(prev, [result(a, { stores: null, error: err })], times(2));
    expect(failed.targets[0]).toMatchObject({ status: 'failed', consecutiveFailures: 1 });
    expect(prev.targets[0]!.status).toBe('ok');
  });

  it('a snapshot persisted before statuses existed reads as ok / failed', () => {
    const doc = JSON.parse(JSON.stringify(snapshot(1, T0, { targets: [target({ ok: true }), target({ region: 'us-east-1', ok: false })] }))) as Snapshot;
    for (const x of doc.targets) delete (x as Partial<TargetOutcome>).status;
    expect(parseSnapshotDoc(doc).targets.map((x) => x.status)).toEqual(['ok', 'failed']);
  });
});

describe('metrics by status', () => {
  it('counts every status (zeros included) and has no target_up series for not_enabled or denied', () => {
    const text = renderSnapshotMetrics(snapshot(1, T0, { targets: [
      target({ region: 'us-east-1' }),
      target({ region: 'me-central-1', status: 'not_enabled', ok: false }),
      target({ region: 'ap-east-1', status: 'not_enabled', ok: false }),
      target({ region: 'eu-west-1', status: 'denied', ok: false }),
    ] }));
    expect(text).toContain('keystore_watch_targets{status="ok"} 1');
    expect(text).toContain('keystore_watch_targets{status="failed"} 0');
    expect(text).toContain('keystore_watch_targets{status="not_enabled"} 2');
    expect(text).toContain('keystore_watch_targets{status="denied"} 1');
    expect(text.match(/^keystore_watch_target_up\{/gm)).toHaveLength(1);
    expect(text).not.toMatch(/region="me-central-1"/);
  });
});

describe('alerts by status', () => {
  function run(targetsPerPoll: TargetOutcome[][]) {
    let state: AlertState = emptyAlertState();
    const polls: AlertNotification[][] = [];
    targetsPerPoll.forEach((targets, i) => {
      const snap = snapshot(i + 1, T0 + i * MIN, { targets });
      const out = evaluateAlerts({ state, snapshot: snap, alerting: alerting({ confirmations: 2, targetDownAfter: 2 }), probe: probeConfig(), now: snap.finishedAt, guidanceFor: fakeGuidance });
      state = out.state;
      polls.push(out.notifications);
    });
    return polls.map((p) => p.map((n) => `${n.kind} ${n.condition} ${n.severity}`));
  }
  const scp = { code: 'AccessDeniedException', message: 'User: x is not authorized to perform: kms:DescribeCustomKeyStores with an explicit deny in a service control policy' };

  it('not_enabled never raises anything, and resolves a TARGET_DOWN that was firing', () => {
    const down = (n: number) => target({ status: 'failed', ok: false, consecutiveFailures: n, error: { code: 'UnrecognizedClientException', message: 'm' } });
    const ne = target({ status: 'not_enabled', ok: false, error: { code: 'RegionNotEnabled', message: 'm' } });
    expect(run([[ne], [ne], [ne], [ne]]).flat()).toEqual([]);
    expect(run([[down(1)], [down(2)], [ne], [ne]])).toEqual([[], ['firing TARGET_DOWN warning'], [], ['resolved TARGET_DOWN warning']]);
  });

  it('denied regions are one warning per account, resolved when the deny is lifted', () => {
    const denied = (region: string) => target({ region, status: 'denied', ok: false, error: scp });
    const ok = (region: string) => target({ region });
    const polls = run([
      [denied('eu-west-1'), denied('us-east-1'), ok('ap-south-1')],
      [denied('eu-west-1'), denied('us-east-1'), ok('ap-south-1')],
      [denied('eu-west-1'), denied('us-east-1'), ok('ap-south-1')],
      [ok('eu-west-1'), ok('us-east-1'), ok('ap-south-1')],
      [ok('eu-west-1'), ok('us-east-1'), ok('ap-south-1')],
    ]);
    expect(polls).toEqual([[], ['firing SCP_DENIED warning'], [], [], ['resolved SCP_DENIED warning']]);
  });
});

describe('once exit code', () => {
  it('only failed targets make it 3', () => {
    const base = [target(), target({ region: 'me-central-1', status: 'not_enabled', ok: false }), target({ region: 'us-east-1', status: 'denied', ok: false })];
    expect(exitCodeFor(snapshot(1, T0, { stores: [store({ id: 's1' })], targets: base }))).toBe(0);
    expect(exitCodeFor(snapshot(1, T0, { targets: [...base, target({ region: 'sa-east-1', status: 'failed', ok: false })] }))).toBe(3);
  });
});

describe('AssumeRole session limits', () => {
  const err = (name: string, message: string) => Object.assign(new Error(message), { name });
  it('recognises both of STS\'s ValidationError messages, nothing else', () => {
    expect(sessionLimitReason(err('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'))).toMatch(/MaxSessionDuration/);
    expect(sessionLimitReason(err('ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.'))).toMatch(/role chaining/);
    expect(sessionLimitReason(err('ValidationError', "1 validation error detected: Value '10' at 'durationSeconds'"))).toBeNull();
    expect(sessionLimitReason(err('AccessDenied', 'MaxSessionDuration'))).toBeNull();
  });
});
