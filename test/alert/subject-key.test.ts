// Subject keys are built in one place (src/alert/subject-key.ts), and the engine's "subject gone" rule
// uses the diff's removal constant: both were hand-copies before (issue 15, item 5).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyAlertState, evaluateAlerts, type AlertState } from '../../src/alert/engine.js';
import { groupForDelivery } from '../../src/alert/group.js';
import { alertKeyOf, deliverySubjectKey, subjectKey, subjectKeyOfAlertKey, subjectKindOf } from '../../src/alert/subject-key.js';
import { CONDITION_TITLES } from '../../src/alert/remediation/table.js';
import type { Condition } from '../../src/model.js';
import { diffSnapshots, emptyDiffCarry, REMOVAL_ABSENCES, type DiffCarry } from '../../src/diff/diff.js';
import type { AlertNotification, Snapshot } from '../../src/model.js';
import { alerting, cluster, fakeGuidance, MIN, probeConfig, snapshot, store, T0, target } from '../diff/builders.js';

const SRC = path.resolve(import.meta.dirname, '../../src');
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('subject keys', () => {
  it('come back out of every alert key whole (the engine filters misses by subject with it)', () => {
    const subjects = [
      subjectKey('store', { accountId: '111111111111', region: 'us-east-1', id: 'cks-1' }),
      subjectKey('cluster', { accountId: '111111111111', region: 'eu-west-1', id: 'cluster-abc' }),
      subjectKey('target', { accountId: '222222222222', region: 'ap-south-2' }),
      subjectKey('account', { accountId: '333333333333' }),
    ];
    for (const condition of Object.keys(CONDITION_TITLES) as Condition[]) {
      expect(condition).not.toContain(':');
      for (const s of subjects) expect(subjectKeyOfAlertKey(alertKeyOf(condition, s))).toBe(s);
    }
  });

  it('are built only in src/alert/subject-key.ts (no hand-built `store:`/`cluster:`/`target:`/`account:` keys elsewhere)', () => {
    const handBuilt = /[`'"](?:store|cluster|target|account):\$\{/;
    const offenders = files(SRC)
      .filter((f) => !f.endsWith(path.join('alert', 'subject-key.ts')) && !f.includes(`${path.sep}simulator${path.sep}`))
      .filter((f) => handBuilt.test(readFileSync(f, 'utf8')))
      .map((f) => path.relative(SRC, f));
    expect(offenders).toEqual([]);
  });

  it('the engine\'s subjects and storm grouping agree, for stores, clusters and targets', () => {
    const down = { ...target({ region: 'eu-west-1' }), ok: false, status: 'failed' as const, consecutiveFailures: 5, error: { code: 'ThrottlingException', message: 'slow down' } };
    let state: AlertState = emptyAlertState();
    const all: AlertNotification[] = [];
    for (let i = 0; i < 3; i++) {
      const snap = snapshot(i + 1, T0 + i * MIN, {
        stores: [store({ id: 'f1', state: 'FAILED', errorCode: 'NETWORK_ERRORS', clusterId: 'cluster-x' })],
        clusters: [cluster({ id: 'cluster-x', state: 'DEGRADED' as never })],
        targets: [target(), down],
      });
      const out = evaluateAlerts({ state, snapshot: snap, alerting: alerting(), probe: probeConfig(), now: snap.finishedAt, guidanceFor: fakeGuidance });
      state = out.state;
      all.push(...out.notifications);
    }
    const kinds = new Set<string>();
    for (const e of Object.values(state.alerts)) {
      kinds.add(subjectKindOf(e.subjectKey)!);
      // A cluster finding is grouped with its store; everything else under its own subject.
      const expected = subjectKindOf(e.subjectKey) === 'cluster' ? subjectKey('store', { accountId: e.subject.accountId, region: e.subject.region, id: e.subject.storeId! }) : e.subjectKey;
      expect(deliverySubjectKey(e.subject), e.alertKey).toBe(expected);
    }
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['store', 'target']));
    expect(groupForDelivery(all, 100)).toHaveLength(all.length);
  });
});

describe('a subject that disappears', () => {
  it('resolves on the poll the diff reports it removed (the shared REMOVAL_ABSENCES), with confirmations 1', () => {
    const failing = store({ id: 'gone', state: 'FAILED', errorCode: 'NETWORK_ERRORS' });
    const snaps: Snapshot[] = [
      snapshot(1, T0, { stores: [failing] }),
      ...Array.from({ length: REMOVAL_ABSENCES + 1 }, (_, i) => snapshot(i + 2, T0 + (i + 1) * MIN, { stores: [] })),
    ];
    let state: AlertState = emptyAlertState();
    let carry: DiffCarry = emptyDiffCarry();
    let prev: Snapshot | null = null;
    const removedAt: number[] = [];
    const resolvedAt: number[] = [];
    for (const snap of snaps) {
      const d = diffSnapshots(prev, snap, carry);
      carry = d.carry;
      if (d.changes.some((c) => c.type === 'store_removed')) removedAt.push(snap.pollId);
      const out = evaluateAlerts({ state, snapshot: snap, alerting: alerting({ confirmations: 1 }), probe: probeConfig(), now: snap.finishedAt, guidanceFor: fakeGuidance });
      state = out.state;
      if (out.notifications.some((n) => n.kind === 'resolved')) resolvedAt.push(snap.pollId);
      prev = snap;
    }
    expect(removedAt).toEqual([1 + REMOVAL_ABSENCES]);
    expect(resolvedAt).toEqual(removedAt);
  });

  it('the engine reads the diff\'s constant rather than a literal of its own', () => {
    const engine = readFileSync(path.join(SRC, 'alert', 'engine.ts'), 'utf8');
    expect(engine).toMatch(/import \{[^}]*REMOVAL_ABSENCES[^}]*\} from '\.\.\/diff\/diff\.js'/);
    expect(engine).not.toMatch(/kind === 'absent' \? Math\.max\([^)]*\),\s*\d+\)/);
  });
});
