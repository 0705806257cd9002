// What every condition file shares: the observation a poll makes about one alert key, the evaluation
// context, the registration interface (ConditionSource) and the subject builders.
//
// Adding a condition: write a file in this folder exporting a ConditionSource (its subjects, the
// conditions it records, and observe()), add the condition names to model.ts's Condition and
// remediation/guidance.ts, and list the source in index.ts. The lifecycle (engine.ts) does the rest:
// confirmations, firing, reminders, resolution, staleness.
import type { Config } from '../../config/schema.js';
import { storeKey, type AlertSubject, type Condition, type ProbeOutcome, type ProbeResult, type Severity, type Snapshot, type StoreRecord, type TargetOutcome } from '../../model.js';
import { deniedAction } from '../../collect/target-errors.js';
import { SUBJECT_DETAIL } from '../remediation/guidance.js';
import type { AlertState, FlapTrack } from '../alert-state.js';
import { alertKeyOf } from '../subject-key.js';

/** What one poll says about one alert key. */
export type Observation =
  /** `severity` overrides the condition's default (FLAPPING: critical when mostly not CONNECTED). */
  | { kind: 'hit'; subject: AlertSubject; since: number; code?: string | null; severity?: Severity }
  | { kind: 'miss'; subject?: AlertSubject }
  /** Not holding, but not a reason to resolve either (FAILED store being reconnected); resets the resolve count. */
  | { kind: 'neutral'; subject?: AlertSubject }
  /** The subject is gone: a miss that needs max(confirmations, 2) in a row. */
  | { kind: 'absent' }
  /** Data is stale: nothing changes. */
  | { kind: 'frozen' };

/** Records what this poll observed for (condition, subject key). */
export type RecordObservation = (condition: Condition, subjectKey: string, o: Observation) => void;

/** One file's conditions: what it observes about its subjects each poll. */
export interface ConditionSource {
  /** The subject kind it covers (store, cluster, target, account, ...), for logs and docs. */
  readonly subject: string;
  /** Every condition it may record (a condition belongs to exactly one source). */
  readonly conditions: readonly Condition[];
  /** Records an observation for every (condition, subject) it has something to say about this poll. Pure. */
  observe(snapshot: Snapshot, ctx: EvalContext, record: RecordObservation): void;
}

export interface EvalContext {
  alerting: Config['alerting'];
  probe: Config['probe'];
  now: number;
  at: number;
  expectDisconnected: Set<string>;
  probes: Map<string, ProbeResult>;
  state: AlertState;
  /** The previous snapshot's store by store key (FLAPPING reads the state changes from it); indexed on first use. */
  prevStore: (key: string) => StoreRecord | undefined;
  /** The flap tracks of this poll, built from state.flaps. */
  flaps: Record<string, FlapTrack>;
  /** The snapshot's targets by target key. */
  targets: Map<string, TargetOutcome>;
  /** CloudWatch finding thresholds (conditions/cloudwatch.ts; default: the schema's). */
  cloudwatch?: Config['cloudwatch'];
}

const DAY = 86_400_000;

export const iso = (ms: number): string => new Date(ms).toISOString();
export const daysLeft = (notAfter: number, now: number): string => String(Math.floor((notAfter - now) / DAY));

/** Shared by every subject of an account without tags (subjects are built several times per store and poll). */
export const NO_TAGS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function storeSubject(s: StoreRecord, details: Record<string, string> = {}): AlertSubject {
  // The account's OU path and tags ride along, for routing and for the people reading the alert.
  return {
    accountId: s.accountId, accountName: s.accountName, ouPath: s.ouPath ?? null, tags: s.tags ?? NO_TAGS, region: s.region, storeId: s.id, storeName: s.name,
    storeType: s.type, state: s.state, errorCode: s.errorCode, clusterId: s.clusterId, details,
  };
}

export function targetSubject(t: TargetOutcome): AlertSubject {
  const details: Record<string, string> = { 'Failed polls': String(t.consecutiveFailures), 'Last success': t.lastSuccessAt === null ? 'never' : iso(t.lastSuccessAt) };
  if (t.error) { details.Error = t.error.code; details.Message = t.error.message; }
  // An access denial names the IAM action the role lacks; the guidance points at it.
  const action = t.error && /^AccessDenied/.test(t.error.code) ? deniedAction(t.error.message) : null;
  if (action) details[SUBJECT_DETAIL.deniedAction] = action;
  return { accountId: t.accountId, accountName: t.accountName, ouPath: t.ouPath ?? null, tags: t.tags ?? NO_TAGS, region: t.region, storeId: null, storeName: null, storeType: null, state: null, errorCode: null, clusterId: null, details };
}

/** A probe result's classification; snapshots written before outcomes existed only have `ok`. */
export const outcomeOf = (p: ProbeResult): ProbeOutcome => p.outcome ?? (p.ok ? 'ok' : 'failing');

export const isFiring = (ctx: EvalContext, condition: Condition, subjectKey: string): boolean => ctx.state.alerts[alertKeyOf(condition, subjectKey)]?.firing === true;

export function lazyIndex(stores: readonly StoreRecord[]): (key: string) => StoreRecord | undefined {
  let index: Map<string, StoreRecord> | null = null;
  return (key) => (index ??= new Map(stores.map((s) => [storeKey(s), s]))).get(key);
}
