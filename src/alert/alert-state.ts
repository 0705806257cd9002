// The alert lifecycle's state and the engine's input and output types (persisted in the 'alerts'
// document; see engine.ts for the lifecycle and conditions/ for what each poll observes).
import type { Config } from '../config/schema.js';
import type { AlertNotification, AlertSubject, Condition, Guidance, Severity, Snapshot } from '../model.js';

export interface AlertEntry {
  alertKey: string;
  condition: Condition;
  /** `store:<account>/<region>/<id>`, `cluster:<account>/<region>/<clusterId>` or `target:<account>/<region>`. */
  subjectKey: string;
  /** Latest observed description (names, state, code, details); what notifications carry. */
  subject: AlertSubject;
  severity: Severity;
  /** Consecutive observed polls the condition held (reset by a miss). */
  hits: number;
  /** Consecutive observed polls it did not hold (reset by a hit). */
  misses: number;
  firing: boolean;
  /** Snapshot finishedAt of the poll that fired; part of every notification id of this incident. */
  firedAt: number | null;
  /** Epoch ms the condition began (store stateSince for state conditions, else the first holding poll). */
  since: number;
  /** `now` of the last firing/reminder/update notification. */
  lastNotifiedAt: number | null;
  /** `now` of the firing or of the last update: reminders of routes with their own repeatInterval count from it. Absent in state written before it existed. */
  reminderAnchor?: number | null;
  /** Reminders sent in this incident (the reminder sequence number). */
  reminders: number;
  /** Error-code updates sent in this incident (FAILED only). */
  updates: number;
  /** FAILED only: an error code different from the notified one, and for how many polls it has held. */
  pendingCode: string | null;
  pendingCodeHits: number;
  /** Snapshot finishedAt of the first poll of the current run of misses: when the condition ended. */
  clearedAt: number | null;
}

/** One store's recent ConnectionState history, for FLAPPING. */
export interface FlapTrack {
  /**
   * The state in force at the start of the window (its `at` may be older), then each change in the
   * window, oldest first. Pruned every poll; dropped once the store has not changed for a whole window.
   */
  points: { at: number; state: string }[];
}

export interface AlertState {
  version: 1;
  /** pollId of the last snapshot evaluated; the same poll evaluated again is a no-op. */
  lastPollId: number | null;
  alerts: Record<string, AlertEntry>;
  /** Per store subject key: recent state changes (FLAPPING). Absent in state written before it existed. */
  flaps?: Record<string, FlapTrack>;
}

export interface FiringAlert {
  alertKey: string;
  condition: Condition;
  severity: Severity;
  subject: AlertSubject;
  since: number;
  firedAt: number;
  lastNotifiedAt: number | null;
  /** The alert's label set (labels.ts). */
  labels: Record<string, string>;
}

export interface EvaluateInput {
  state: AlertState;
  snapshot: Snapshot;
  /** The snapshot before `snapshot` (null on the first poll): where state changes are read from for FLAPPING. */
  previous?: Snapshot | null;
  alerting: Config['alerting'];
  probe: Config['probe'];
  /** CloudWatch finding thresholds (default: the schema's). */
  cloudwatch?: Config['cloudwatch'];
  now: number;
  guidanceFor: (c: Condition, s: AlertSubject) => Guidance;
  severityFor?: (c: Condition) => Severity;
  /**
   * The reminder interval of an alert with these labels (the shortest repeatInterval of the routes it
   * takes: src/notify/routing.ts, given by the pipeline). Default: alerting.repeatInterval.
   */
  repeatIntervalFor?: (labels: Record<string, string>) => number;
}

export interface EvaluateResult {
  state: AlertState;
  notifications: AlertNotification[];
}
