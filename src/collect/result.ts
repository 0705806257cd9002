// What collecting one target yields (the collect stage's output, the snapshot stage's input).
import type { ChangeAttribution, ProbeOutcome, Target, TargetError, TargetStatus } from '../model.js';
import type { CloudWatchResult } from './monitoring.js';
import type { ObservedStore } from './key-stores.js';
import type { ObservedCluster } from './clusters.js';

export interface TargetPollResult {
  target: Target;
  durationMs: number;
  /** null when the target did not answer (failed, not_enabled or denied). */
  stores: ObservedStore[] | null;
  error: TargetError | null;
  /** Why stores is null when it is not a failure: an opt-in region not enabled, or an SCP deny. Default failed. */
  status?: Exclude<TargetStatus, 'ok'>;
  /** CloudHSM enrichment: not attempted when the target has no CloudHSM store. */
  cloudHsm: { attempted: false } | { attempted: true; clusters: ObservedCluster[] | null; error: TargetError | null };
  probes: { storeId: string; ok: boolean; outcome?: ProbeOutcome; durationMs: number; error: TargetError | null }[];
  /** CloudWatch enrichment (collect/monitoring.ts); absent: not attempted. */
  cloudWatch?: CloudWatchResult;
  /** CloudTrail attributions of the target (new and carried); absent: keep the previous snapshot's. */
  changeActors?: ChangeAttribution[];
}

/** One poll's collection: every target's result and the poll's times. */
export interface CollectedPoll {
  pollId: number;
  startedAt: number;
  finishedAt: number;
  results: TargetPollResult[];
}
