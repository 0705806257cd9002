// Self-alerts: keystore-watch telling on-call that keystore-watch itself is in trouble (it cannot
// persist its state, a poll is overdue, notifications are dead-lettered, ...), through the same
// channels as key store alerts.
//
// API (on AlertPipeline as `pipeline.self`, or build one with `new SelfAlerts(...)`):
//
//   self.raise({ id: 'state-persist', severity: 'critical',
//                summary: 'keystore-watch cannot persist state: ENOSPC ...',   // the message title
//                detail: 'Alerts are still evaluated and sent from memory ...', // the message summary
//                steps?, commands?, details?, excludeChannels? })
//   self.resolve('state-persist')
//
//  - `id` names the condition (stable, lowercase words: 'state-persist', 'poll-overdue',
//    'outbox-dead-letters'); raising an id that is already firing only updates its text in
//    /api/v1/alerts and /readyz (no second message); resolve() of an id that is not firing is a no-op.
//    A firing and its resolved carry idempotency keys `self:<id>:firing:<firedAt>` / `:resolved:`
//    and the PagerDuty dedup key `SELF:<id>`, so receivers can deduplicate.
//  - Delivery: the notification (condition SELF, alert name KeystoreWatchDegraded, runbook section
//    #keystorewatchdegraded) goes through the outbox to every channel whose minSeverity it meets
//    (use 'critical' to reach all of them). `excludeChannels` keeps it off the named channels (e.g. the
//    channel whose dead letters it reports) unless that would leave no channel at all.
//  - It never waits for, and never depends on, a successful state write: raise()/resolve() are
//    synchronous, the hand-off to the outbox runs in the background and a failure there is only
//    logged (the state store in front of the outbox keeps undeliverable-to-disk entries in memory).
//  - Self-alert state lives in memory only: after a restart a condition that still holds is raised
//    again (a new firing), and one that cleared while the process was down gets no resolved.
//  - Every firing critical self-alert makes /readyz answer 503 with its summary; each firing one
//    is exported as keystore_watch_self_alert{id,severity} 1 (0 once resolved), which the Prometheus
//    rule KeystoreWatchDegraded also pages on, at that severity (a warning never pages as critical).
import { hostname } from 'node:os';
import type { AlertNotification, AlertSubject, Notification, Severity } from '../model.js';
import { guidanceFor } from './remediation/guidance.js';
import { selfAlertLabels } from './labels.js';

export interface SelfAlertInput {
  /** Stable name of the condition, e.g. 'state-persist'. */
  id: string;
  severity: Severity;
  /** One line: the message title, e.g. "keystore-watch cannot persist state: ENOSPC: no space left on device". */
  summary: string;
  /** A few sentences: what it means for on-call. */
  detail: string;
  /** Override the generic steps / commands of the KeystoreWatchDegraded runbook. */
  steps?: string[];
  commands?: string[];
  /** Extra facts shown in the message ({ "State directory": "/data" }). */
  details?: Record<string, string>;
  /** Channel ids to leave out (ignored when no other channel would take it). */
  excludeChannels?: string[];
}

export interface FiringSelfAlert {
  id: string;
  severity: Severity;
  summary: string;
  detail: string;
  /** Epoch ms. */
  since: number;
  labels: Record<string, string>;
}

export interface SelfAlertsOptions {
  /** Hands notifications to delivery (the outbox). May reject; the error is only logged. */
  deliver(ns: Notification[]): Promise<unknown>;
  /** Channel ids that would take a notification (for excludeChannels). */
  channelsFor?(n: Notification): string[];
  now?: () => number;
  /** `severity`: the alert's, also when it resolves (firing null). */
  onChange?(id: string, firing: FiringSelfAlert | null, severity: Severity): void;
  log?: { error(obj: object, msg: string): void; warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** Pure: the notification for a self-alert event. */
export function selfAlertNotification(input: SelfAlertInput & { kind: 'firing' | 'resolved'; since: number; firedAt: number; createdAt: number; host: string }): AlertNotification {
  const subject: AlertSubject = {
    accountId: 'keystore-watch',
    accountName: `host ${input.host}`,
    region: '-',
    storeId: null,
    storeName: null,
    storeType: null,
    state: null,
    errorCode: null,
    clusterId: null,
    details: { Condition: input.id, ...input.details },
  };
  const generic = guidanceFor('SELF', subject);
  const guidance = {
    ...generic,
    title: input.kind === 'resolved' ? `Resolved: ${input.summary}` : input.summary,
    summary: input.detail,
    ...(input.steps && { steps: input.steps }),
    ...(input.commands && { commands: input.commands }),
  };
  return {
    id: `self:${input.id}:${input.kind}:${input.firedAt}`,
    kind: input.kind,
    severity: input.severity,
    condition: 'SELF',
    alertKey: `SELF:${input.id}`,
    subject,
    guidance,
    since: input.since,
    createdAt: input.createdAt,
    labels: selfAlertLabels(input.id, input.severity),
    ...(input.excludeChannels?.length && { excludeChannels: input.excludeChannels }),
  };
}

export class SelfAlerts {
  private readonly active = new Map<string, { input: SelfAlertInput; since: number }>();
  private readonly now: () => number;
  private readonly host = hostname();

  constructor(private readonly opts: SelfAlertsOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Fires `input.id` (true) or, when it is already firing, updates its text (false). */
  raise(input: SelfAlertInput): boolean {
    const cur = this.active.get(input.id);
    if (cur) {
      this.active.set(input.id, { input: { ...input, severity: cur.input.severity }, since: cur.since });
      this.opts.onChange?.(input.id, this.view(input.id), cur.input.severity);
      return false;
    }
    const since = this.now();
    this.active.set(input.id, { input, since });
    this.opts.onChange?.(input.id, this.view(input.id), input.severity);
    this.send(selfAlertNotification({ ...input, kind: 'firing', since, firedAt: since, createdAt: since, host: this.host }));
    return true;
  }

  /** Resolves `id` (true) or does nothing when it is not firing (false). */
  resolve(id: string, detail?: string): boolean {
    const cur = this.active.get(id);
    if (!cur) return false;
    this.active.delete(id);
    this.opts.onChange?.(id, null, cur.input.severity);
    const at = this.now();
    this.send(selfAlertNotification({ ...cur.input, ...(detail && { detail }), kind: 'resolved', since: at, firedAt: cur.since, createdAt: at, host: this.host }));
    return true;
  }

  isFiring(id: string): boolean {
    return this.active.has(id);
  }

  firing(): FiringSelfAlert[] {
    return [...this.active.keys()].map((id) => this.view(id)!);
  }

  private view(id: string): FiringSelfAlert | null {
    const a = this.active.get(id);
    return a ? { id, severity: a.input.severity, summary: a.input.summary, detail: a.input.detail, since: a.since, labels: selfAlertLabels(id, a.input.severity) } : null;
  }

  private send(n: AlertNotification): void {
    // Excluding channels must not leave the alert with nowhere to go.
    if (n.excludeChannels && this.opts.channelsFor) {
      const takers = this.opts.channelsFor({ ...n, excludeChannels: undefined });
      if (takers.every((c) => n.excludeChannels!.includes(c))) delete n.excludeChannels;
    }
    this.opts.log?.info({ selfAlert: n.alertKey, kind: n.kind, severity: n.severity, summary: n.guidance.title }, `self-alert ${n.kind}`);
    void Promise.resolve()
      .then(() => this.opts.deliver([n]))
      .catch((err: unknown) => this.opts.log?.error({ selfAlert: n.alertKey, reason: err instanceof Error ? err.message : String(err) }, 'could not queue a self-alert'));
  }
}
