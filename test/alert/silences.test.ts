// Muting (src/alert/silences.ts), maintenance windows (src/alert/maintenance.ts) and the on-call
// actions' validation (src/alert/oncall.ts): pure, with a simulated clock.
import { describe, expect, it } from 'vitest';
import { applyMuting, emptyMuteCarry, ACK_DETAIL, type Ack, type CompiledSilence, type MuteCarry } from '../../src/alert/silences.js';
import { compileWindow } from '../../src/alert/maintenance.js';
import { compileMatchers } from '../../src/alert/silence-matchers.js';
import { OnCall, OnCallError, validateSilenceInput } from '../../src/alert/oncall.js';
import { alertLabels } from '../../src/alert/labels.js';
import type { AlertNotification, AlertSubject } from '../../src/model.js';
import type { AlertState, AlertEntry } from '../../src/alert/alert-state.js';
import type { OnCallChanges } from '../../src/state/backend.js';

const T0 = Date.UTC(2026, 10, 30, 10, 0, 0);
const MIN = 60_000;
const subject = (accountId: string): AlertSubject => ({ accountId, accountName: `acct-${accountId}`, region: 'us-east-1', storeId: 'cks-1', storeName: 'store', storeType: 'AWS_CLOUDHSM', state: 'FAILED', errorCode: 'NETWORK_ERRORS', clusterId: null, details: {} });
const KEY = (acct: string) => `FAILED:store:${acct}/us-east-1/cks-1`;
const guidance = { title: 't', summary: 's', cause: 'c', steps: [], commands: [], docs: [], runbookAnchor: 'a' };

function entry(acct: string, firedAt = T0): AlertEntry {
  return { alertKey: KEY(acct), condition: 'FAILED', subjectKey: `store:${acct}/us-east-1/cks-1`, subject: subject(acct), severity: 'critical', hits: 2, misses: 0, firing: true, firedAt, since: firedAt, lastNotifiedAt: firedAt, reminders: 0, updates: 0, pendingCode: null, pendingCodeHits: 0, clearedAt: null };
}
function note(acct: string, kind: AlertNotification['kind'], at: number, firedAt = T0): AlertNotification {
  const id = kind === 'firing' ? `${KEY(acct)}:firing:${firedAt}:p1` : kind === 'reminder' ? `${KEY(acct)}:reminder:${firedAt}:1` : `${KEY(acct)}:resolved:${firedAt}`;
  return { id, kind, severity: 'critical', condition: 'FAILED', alertKey: KEY(acct), subject: subject(acct), guidance, since: firedAt, createdAt: at, labels: alertLabels('FAILED', 'critical', subject(acct)) };
}
const state = (...es: AlertEntry[]): AlertState => ({ version: 1, lastPollId: 1, alerts: Object.fromEntries(es.map((e) => [e.alertKey, e])) });
const silence = (matchers: string[], startsAt: number, endsAt: number): CompiledSilence => ({ id: 's1', matchers, startsAt, endsAt, createdBy: 'alice', comment: 'HSM replacement', createdAt: startsAt, matches: compileMatchers(matchers) });

function run(p: { notifications: AlertNotification[]; st: AlertState; carry?: MuteCarry; silences?: CompiledSilence[]; acks?: Map<string, Ack>; now: number; windows?: ReturnType<typeof compileWindow>[] }) {
  return applyMuting({
    notifications: p.notifications, state: p.st, carry: p.carry ?? emptyMuteCarry(), silences: p.silences ?? [], windows: p.windows ?? [],
    acks: p.acks ?? new Map(), now: p.now, labelsOf: (a) => alertLabels(a.condition, a.severity, a.subject), guidanceFor: () => guidance,
  });
}

describe('silences', () => {
  const s = silence(['account_id="222222222222"'], T0 - MIN, T0 + 120 * MIN);

  it('drops a matching firing, keeps others, and sends exactly one message when the silence ends while still firing', () => {
    const st = state(entry('222222222222'), entry('111111111111'));
    const r1 = run({ notifications: [note('222222222222', 'firing', T0), note('111111111111', 'firing', T0)], st, silences: [s], now: T0 });
    expect(r1.notifications.map((n) => n.alertKey)).toEqual([KEY('111111111111')]);
    expect(r1.muted).toHaveLength(1);
    // During the silence: reminders are held, nothing extra is sent.
    const r2 = run({ notifications: [note('222222222222', 'reminder', T0 + 60 * MIN)], st: r1.state, carry: r1.carry, silences: [s], now: T0 + 60 * MIN });
    expect(r2.notifications).toEqual([]);
    const r3 = run({ notifications: [], st: r2.state, carry: r2.carry, silences: [s], now: T0 + 119 * MIN });
    expect(r3.notifications).toEqual([]);
    // Silence over, still firing: ONE firing message, not the backlog; the reminder interval restarts.
    const r4 = run({ notifications: [], st: r3.state, carry: r3.carry, silences: [s], now: T0 + 121 * MIN });
    expect(r4.notifications.map((n) => [n.kind, n.alertKey])).toEqual([['firing', KEY('222222222222')]]);
    expect(r4.state.alerts[KEY('222222222222')]!.lastNotifiedAt).toBe(T0 + 121 * MIN);
    const r5 = run({ notifications: [], st: r4.state, carry: r4.carry, silences: [s], now: T0 + 122 * MIN });
    expect(r5.notifications).toEqual([]);
  });

  it('an alert that fires and resolves inside the silence sends nothing at all', () => {
    const st = state(entry('222222222222'));
    const r1 = run({ notifications: [note('222222222222', 'firing', T0)], st, silences: [s], now: T0 });
    const r2 = run({ notifications: [note('222222222222', 'resolved', T0 + 10 * MIN)], st: state(), carry: r1.carry, silences: [s], now: T0 + 10 * MIN });
    expect(r2.notifications).toEqual([]);
    const r3 = run({ notifications: [], st: state(), carry: r2.carry, silences: [s], now: T0 + 200 * MIN });
    expect(r3.notifications).toEqual([]);
    expect(r3.carry.held).toEqual({});
  });

  it('a pending silence (starts later) and a regex matcher', () => {
    const later = silence(['account_name=~"acct-2.*"'], T0 + 30 * MIN, T0 + 60 * MIN);
    const st = state(entry('222222222222'));
    expect(run({ notifications: [note('222222222222', 'firing', T0)], st, silences: [later], now: T0 }).notifications).toHaveLength(1);
    expect(run({ notifications: [note('222222222222', 'reminder', T0 + 40 * MIN)], st, silences: [later], now: T0 + 40 * MIN }).notifications).toHaveLength(0);
  });
});

describe('acknowledgements', () => {
  const ack: Ack = { alertKey: KEY('222222222222'), firedAt: T0, by: 'bob <b@example.com>', comment: 'on it', at: T0 + MIN, until: null };
  const acks = new Map([[ack.alertKey, ack]]);
  it('stop reminders, and the resolved message names who acknowledged', () => {
    const st = state(entry('222222222222'));
    expect(run({ notifications: [note('222222222222', 'reminder', T0 + 240 * MIN)], st, acks, now: T0 + 240 * MIN }).notifications).toEqual([]);
    const r = run({ notifications: [note('222222222222', 'resolved', T0 + 300 * MIN)], st: state(), acks, now: T0 + 300 * MIN });
    expect(r.notifications).toHaveLength(1);
    expect(r.notifications[0]!.subject.details[ACK_DETAIL]).toBe(`bob <b@example.com> at ${new Date(T0 + MIN).toISOString()}: on it`);
  });
  it('reminders resume after `until`, and an ack of an earlier incident does not count', () => {
    const until = new Map([[ack.alertKey, { ...ack, until: T0 + 60 * MIN }]]);
    const st = state(entry('222222222222'));
    expect(run({ notifications: [note('222222222222', 'reminder', T0 + 30 * MIN)], st, acks: until, now: T0 + 30 * MIN }).notifications).toHaveLength(0);
    expect(run({ notifications: [note('222222222222', 'reminder', T0 + 61 * MIN)], st, acks: until, now: T0 + 61 * MIN }).notifications).toHaveLength(1);
    const later = state(entry('222222222222', T0 + 500 * MIN));
    expect(run({ notifications: [note('222222222222', 'reminder', T0 + 900 * MIN, T0 + 500 * MIN)], st: later, acks, now: T0 + 900 * MIN }).notifications).toHaveLength(1);
  });
});

describe('maintenance windows', () => {
  it('a cron window mutes on its schedule and un-mutes after its duration (simulated clock)', () => {
    // Sundays 02:00 UTC for 2 hours. 2026-11-29 is a Sunday.
    const w = compileWindow({ name: 'sunday patching', matchers: ['account_id="222222222222"'], schedule: '0 2 * * 0', duration: 2 * 60 * MIN });
    const sun = Date.UTC(2026, 10, 29);
    expect(w.activeUntil(sun + 1 * 60 * MIN + 59 * MIN)).toBeNull();
    expect(w.activeUntil(sun + 2 * 60 * MIN)).toBe(sun + 4 * 60 * MIN);
    expect(w.activeUntil(sun + 3 * 60 * MIN + 59 * MIN)).toBe(sun + 4 * 60 * MIN);
    expect(w.activeUntil(sun + 4 * 60 * MIN)).toBeNull();
    expect(w.activeUntil(sun + 86_400_000 + 2 * 60 * MIN)).toBeNull(); // Monday
    // Through the muting: muted inside, one message once it closes.
    const st = state(entry('222222222222', sun + 2 * 60 * MIN + 5 * MIN));
    const r1 = run({ notifications: [note('222222222222', 'firing', sun + 125 * MIN, sun + 125 * MIN)], st, windows: [w], now: sun + 125 * MIN });
    expect(r1.notifications).toEqual([]);
    expect(r1.muted[0]!.reason).toMatchObject({ kind: 'maintenance', name: 'sunday patching' });
    const r2 = run({ notifications: [], st: r1.state, carry: r1.carry, windows: [w], now: sun + 241 * MIN });
    expect(r2.notifications.map((n) => n.kind)).toEqual(['firing']);
  });
  it('a fixed window', () => {
    const w = compileWindow({ name: 'cutover', matchers: ['region="us-east-1"'], start: T0, end: T0 + 30 * MIN });
    expect(w.activeUntil(T0 - 1)).toBeNull();
    expect(w.activeUntil(T0)).toBe(T0 + 30 * MIN);
    expect(w.activeUntil(T0 + 30 * MIN)).toBeNull();
  });
});

describe('on-call actions: validation and hostile input', () => {
  it('refuses matchers that match everything, bad syntax, past ends, control characters', () => {
    const base = { matchers: ['account_id="1"'], endsAt: T0 + MIN, createdBy: 'a', comment: '' };
    const bad = (over: object) => { try { validateSilenceInput({ ...base, ...over } as never, T0, 'x'); return null; } catch (e) { return e as OnCallError; } };
    expect(bad({ matchers: ['account_id=~".*"'] })?.message).toMatch(/match every alert/);
    expect(bad({ matchers: [] })?.status).toBe(400);
    expect(bad({ matchers: ['account_id=="1"'] })?.message).toMatch(/bad matcher/);
    expect(bad({ endsAt: T0 - 1 })?.message).toMatch(/after startsAt/);
    expect(bad({ startsAt: T0 - 10 * MIN, endsAt: T0 - 1 })?.message).toMatch(/past/);
    expect(bad({ createdBy: 'eve\u001b[31m' })?.message).toMatch(/control/);
    expect(bad({ comment: 'x\u202eevil' })?.message).toMatch(/control/);
    expect(bad({ createdBy: '   ' })?.message).toMatch(/required/);
    expect(bad({ comment: 'x'.repeat(5000) })?.message).toMatch(/longer/);
    expect(bad({})).toBeNull();
  });

  it('writes before it takes effect: a refused write changes nothing; audit events record who', async () => {
    const writes: OnCallChanges[] = [];
    let refuse = false;
    let now = T0;
    const oc = new OnCall({
      persist: async (c) => { if (refuse) throw new Error('disk full'); writes.push(c); }, now: () => now,
      lookupAlert: (k) => (k === KEY('2') ? { firing: true, firedAt: T0 } : null),
    });
    refuse = true;
    await expect(oc.addSilence({ matchers: ['account_id="2"'], endsAt: T0 + MIN, createdBy: 'alice', comment: '<script>' })).rejects.toMatchObject({ status: 503 });
    expect(oc.silences()).toEqual([]);
    refuse = false;
    const s = await oc.addSilence({ matchers: ['account_id="2"'], endsAt: T0 + MIN, createdBy: 'alice', comment: '<script>' });
    expect(oc.compiled().silences).toHaveLength(1);
    now += 1000;
    await oc.expireSilence(s.id, 'bob');
    expect(oc.silences()[0]!.status).toBe('expired');
    await expect(oc.ack('nope', 'carol', '')).rejects.toMatchObject({ status: 404 });
    await oc.ack(KEY('2'), 'carol', 'looking');
    expect(oc.events(10).map((e) => [e.action, e.by])).toEqual([['alert_acknowledged', 'carol'], ['silence_expired', 'bob'], ['silence_created', 'alice']]);
    // A fresh instance from the written records has the same state (what load() returns).
    const records = writes.flatMap((w) => w.put ?? []);
    const again = new OnCall({ persist: async () => {}, now: () => now, lookupAlert: () => null }, records);
    expect(again.silences().map((x) => x.status)).toEqual(['expired']);
    expect(again.ackOf(KEY('2'))?.by).toBe('carol');
    expect(again.events(10)).toHaveLength(3);
  });
});
