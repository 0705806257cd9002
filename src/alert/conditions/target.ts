// Target (account x region) conditions: TARGET_DOWN (a blind spot: the target's polls keep failing) and
// PROBE_NOT_PERMITTED (probe.ts), one of each per target.
import { targetKey, type TargetOutcome } from '../../model.js';
import { targetSubjectKey } from '../subject-key.js';
import { isFiring, targetSubject, type ConditionSource, type EvalContext, type Observation } from './context.js';
import { observeProbePermission, probesByTarget } from './probe.js';

export function observeTarget(t: TargetOutcome, ctx: EvalContext, tk: string): Observation {
  // Only a failed target is a blind spot: a region not enabled or denied by an SCP is an answer.
  if (t.status === 'failed' && (t.consecutiveFailures >= ctx.alerting.targetDownAfter || isFiring(ctx, 'TARGET_DOWN', tk))) {
    return { kind: 'hit', subject: targetSubject(t), since: t.lastSuccessAt ?? ctx.at };
  }
  // A failure below the threshold is not a recovery of a firing alert (isFiring above) nor a hit: a miss.
  return { kind: 'miss', subject: targetSubject(t) };
}

export const targetConditions: ConditionSource = {
  subject: 'target',
  conditions: ['TARGET_DOWN', 'PROBE_NOT_PERMITTED'],
  observe(snapshot, ctx, record) {
    const probes = probesByTarget(snapshot, ctx);
    for (const t of snapshot.targets) {
      const tk = targetSubjectKey(t);
      record('TARGET_DOWN', tk, observeTarget(t, ctx, tk));
      record('PROBE_NOT_PERMITTED', tk, observeProbePermission(t, probes.get(targetKey(t)), ctx));
    }
  },
};
