// Probe conditions: PROBE_FAILING (a CONNECTED CloudHSM store whose GenerateRandom probe keeps failing:
// "connected but failing"), observed per store from store.ts, and PROBE_NOT_PERMITTED (the probe's IAM
// action is denied in an account-region), observed per target from target.ts.
import { storeKey, targetKey, type AlertSubject, type ProbeResult, type Snapshot, type StoreRecord, type TargetOutcome } from '../../model.js';
import { isFiring, outcomeOf, storeSubject, type EvalContext, type Observation } from './context.js';

/** The IAM action the probe needs (PROBE_NOT_PERMITTED names it). */
export const PROBE_ACTION = 'kms:GenerateRandom';

/** PROBE_FAILING for one fresh store record. */
export function observeProbeFailing(s: StoreRecord, ctx: EvalContext, sk: string, plain: AlertSubject): Observation {
  // "Connected but failing": only a CONNECTED CloudHSM store is probed (AWS rejects GenerateRandom for XKS).
  // Only answers that show the store failing count; denied/throttled/inconclusive say nothing about it.
  const probe = ctx.probes.get(storeKey(s));
  const outcome = probe ? outcomeOf(probe) : null;
  if (!ctx.probe.enabled || s.state !== 'CONNECTED' || s.type !== 'AWS_CLOUDHSM') return { kind: 'miss', subject: plain };
  if (!probe) return { kind: 'frozen' }; // not probed yet: unknown
  if (outcome === 'failing' && (probe.consecutiveFailures >= ctx.probe.failuresBeforeAlert || isFiring(ctx, 'PROBE_FAILING', sk))) {
    const details: Record<string, string> = { 'Failed probes': String(probe.consecutiveFailures) };
    if (probe.error) { details.Error = probe.error.code; details.Message = probe.error.message; }
    return { kind: 'hit', subject: storeSubject(s, details), since: ctx.at };
  }
  if (outcome !== 'ok' && outcome !== 'failing') return { kind: 'frozen' }; // no verdict this time
  return { kind: 'miss', subject: plain };
}

/** The probes that count this poll, per target key: only of stores that are probed now (fresh, CONNECTED, CloudHSM). */
export function probesByTarget(snapshot: Snapshot, ctx: EvalContext): Map<string, ProbeResult[]> {
  const out = new Map<string, ProbeResult[]>();
  for (const s of snapshot.stores) {
    const p = ctx.probes.get(storeKey(s));
    // Only probes of stores that are probed now count (a store that left CONNECTED keeps no verdict here).
    if (!p || s.stale || s.state !== 'CONNECTED' || s.type !== 'AWS_CLOUDHSM') continue;
    const list = out.get(targetKey(s));
    if (list) list.push(p); else out.set(targetKey(s), [p]);
  }
  return out;
}

/** The probe is not permitted in this account-region (AccessDenied*): one warning per target, not per store. */
export function observeProbePermission(t: TargetOutcome, probes: ProbeResult[] | undefined, ctx: EvalContext): Observation {
  if (!ctx.probe.enabled) return { kind: 'miss' };
  if (!t.ok) return { kind: 'frozen' };
  const list = probes ?? [];
  const denied = list.filter((p) => outcomeOf(p) === 'denied');
  if (denied.length > 0) {
    const first = denied[0]!;
    const details: Record<string, string> = {
      'IAM action': PROBE_ACTION,
      'Denied probes': denied.length > 5 ? `${denied.slice(0, 5).map((p) => p.storeId).join(', ')} and ${denied.length - 5} more` : denied.map((p) => p.storeId).join(', '),
    };
    if (first.error) { details.Error = first.error.code; details.Message = first.error.message; }
    const subject: AlertSubject = { accountId: t.accountId, accountName: t.accountName, region: t.region, storeId: null, storeName: null, storeType: null, state: null, errorCode: null, clusterId: null, details };
    return { kind: 'hit', subject, since: ctx.at };
  }
  // Only throttled or inconclusive answers: nothing learnt about the permission this poll.
  if (list.length > 0 && list.every((p) => { const o = outcomeOf(p); return o === 'throttled' || o === 'inconclusive'; })) return { kind: 'frozen' };
  return { kind: 'miss' };
}
