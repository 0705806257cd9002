// What the status page reads and what it may do: the daemon hands these in (src/daemon.ts); the pages
// never call AWS or touch the state backend themselves.
import type { AlertSubject, Condition, Severity, Snapshot, StoreRecord } from '../../model.js';

export interface StatusAlert {
  alertKey: string;
  condition: Condition;
  severity: Severity;
  subject: AlertSubject;
  /** Epoch ms the condition began. */
  since: number;
  /** Who acknowledged it (on-call API), null when nobody did. */
  acknowledgedBy?: string | null;
  /** Epoch ms the silence muting it ends, null when none does. */
  silencedUntil?: number | null;
}

export interface StatusSelfAlert {
  id: string;
  severity: Severity;
  summary: string;
  since: number;
}

/** One change history entry (diff/diff.ts Change, as /api/v1/events serves it). */
export interface StatusEvent {
  seq: number;
  /** ISO time. */
  at: string;
  type: string;
  accountId: string;
  accountName: string;
  region: string;
  storeId?: string;
  storeName?: string;
  from?: string | null;
  to?: string | null;
  toErrorCode?: string | null;
  fields?: string[];
  error?: { code: string; message: string } | null;
  actor?: { status: string; message: string | null; principal?: string; kind?: string; eventName?: string; eventTime?: string; source?: string | null };
}

export interface StatusSilence {
  id: string;
  /** Alertmanager matcher syntax, e.g. `account_id="222222222222"`. */
  matchers: string[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  /** False for silences from the configuration (alerting.expectDisconnected): edit the config instead. */
  expirable?: boolean;
}

/**
 * The on-call actions (silences and acknowledgements, issue 16) as the page uses them. The daemon adapts
 * the on-call module to this; absent, the page shows no silence/ack actions.
 */
export interface StatusOnCall {
  silences(): StatusSilence[];
  addSilence(input: { matchers: string[]; startsAt: number; endsAt: number; createdBy: string; comment: string }): Promise<{ id: string }>;
  expireSilence(id: string, by: string): Promise<void>;
  acknowledge(alertKey: string, input: { by: string; comment: string }): Promise<void>;
}

export interface DrillResult { channel: string; ok: boolean; detail: string }

export interface StatusSource {
  snapshot(): Snapshot | null;
  /** Firing alerts with their acknowledgement and silence marks. */
  alerts(): StatusAlert[];
  selfAlerts(): StatusSelfAlert[];
  /** Newest first. */
  events(limit: number): StatusEvent[];
  role(): 'leader' | 'follower';
  /** The on-call actions now (null on a follower, or before they are available). */
  oncall?(): StatusOnCall | null;
  /** Sends a TEST notification for the store through every channel (`keystore-watch drill`). */
  drill?(store: StoreRecord, code: string, by: string): Promise<DrillResult[]>;
  now?(): number;
}
