// Re-posting firing alerts to Alertmanager channels (issue 16 item 6).
//
// Alertmanager resolves an alert nobody re-posts before its endsAt (src/notify/alertmanager.ts sets
// endsAt to 4 × resendInterval ahead, as Prometheus does). So, every `resendInterval` of each
// Alertmanager channel, the daemon asks this module for one `reminder` per firing alert (store alerts
// from the alert state and keystore-watch's self-alerts) and enqueues them in the durable outbox like
// any other notification: the re-post survives a restart and is retried while Alertmanager is down.
//
// - Addressed to that channel alone: excludeChannels lists every other channel, so Slack and
//   PagerDuty keep their own reminder cadence (alerting.repeatInterval).
// - The id is per alert, incident (firedAt) and interval number, so one interval's re-post is queued
//   once even if asked twice (the outbox drops ids it holds or delivered).
// - A muted alert (keystore-watch silence or maintenance window) is not re-posted; an acknowledged one is.
// - An alert the channel still has queued (Alertmanager down, a firing not yet delivered) gets no new
//   re-post: the queued entry asserts the same thing when it goes through, so an outage of any length
//   queues at most one re-post per alert.
// Pure: the daemon passes the firing alerts, the queued keys and the time.
import { hostname } from 'node:os';
import type { AlertNotification, AlertSubject, Condition, Severity } from '../model.js';
import { guidanceFor } from '../alert/remediation/guidance.js';
import { alertLabels } from '../alert/labels.js';
import { selfAlertNotification, type FiringSelfAlert } from '../alert/self-alerts.js';
import type { ChannelConfig } from '../config/schema.js';
import { channelIds } from '../notify/index.js';
import type { AlertPipeline } from './alert-pipeline.js';

export interface ResendFiring {
  alertKey: string;
  condition: Condition;
  severity: Severity;
  subject: AlertSubject;
  /** Epoch ms. */
  since: number;
  firedAt: number;
  labels?: Record<string, string>;
}

export interface ResendInput {
  channel: string;
  /** Every other configured channel id. */
  otherChannels: readonly string[];
  firing: readonly ResendFiring[];
  self: readonly FiringSelfAlert[];
  /** Alert keys the channel still has queued. */
  queued: ReadonlySet<string>;
  now: number;
  intervalMs: number;
}

export function resendNotifications(input: ResendInput): AlertNotification[] {
  const tick = Math.floor(input.now / input.intervalMs);
  const exclude = input.otherChannels.filter((c) => c !== input.channel);
  const out: AlertNotification[] = [];
  for (const a of input.firing) {
    if (input.queued.has(a.alertKey)) continue;
    out.push({
      id: `${a.alertKey}:am-resend:${a.firedAt}:${tick}`,
      kind: 'reminder', severity: a.severity, condition: a.condition, alertKey: a.alertKey, subject: a.subject,
      guidance: guidanceFor(a.condition, a.subject), since: a.since, createdAt: input.now,
      labels: a.labels ?? alertLabels(a.condition, a.severity, a.subject),
      ...(exclude.length ? { excludeChannels: [...exclude] } : {}),
    });
  }
  const host = hostname();
  for (const s of input.self) {
    const n = selfAlertNotification({ id: s.id, severity: s.severity, summary: s.summary, detail: s.detail, kind: 'firing', since: s.since, firedAt: s.since, createdAt: input.now, host });
    if (input.queued.has(n.alertKey)) continue;
    out.push({ ...n, kind: 'reminder', id: `${n.alertKey}:am-resend:${s.since}:${tick}`, ...(exclude.length ? { excludeChannels: [...exclude] } : {}) });
  }
  return out;
}

export interface ResenderOptions {
  pipeline(): AlertPipeline | undefined;
  channels(): readonly ChannelConfig[];
  now(): number;
  /** Timer factory (tests); default setInterval, unref'd. */
  every?(ms: number, fn: () => void): () => void;
}

/** The shell: one timer per Alertmanager channel, each enqueueing resendNotifications() into the outbox. */
export class AlertmanagerResender {
  private stops: (() => void)[] = [];

  constructor(private readonly opts: ResenderOptions) {}

  /** (Re)starts the timers for the configured Alertmanager channels. */
  start(): void {
    this.stop();
    const channels = this.opts.channels();
    const ids = channelIds([...channels]);
    const every = this.opts.every ?? ((ms: number, fn: () => void) => { const t = setInterval(fn, ms); t.unref(); return () => clearInterval(t); });
    channels.forEach((c, i) => {
      if (c.type !== 'alertmanager') return;
      const id = ids[i]!;
      this.stops.push(every(c.resendInterval, () => { void this.tick(id, ids, c.resendInterval); }));
    });
  }

  stop(): void {
    for (const s of this.stops) s();
    this.stops = [];
  }

  /** One re-post round for one channel; a failure to queue is retried at the next round. */
  async tick(channel: string, ids: readonly string[], intervalMs: number): Promise<number> {
    const p = this.opts.pipeline();
    if (!p) return 0;
    // A silence or maintenance window of keystore-watch mutes the re-post too (a muted alert sends
    // nothing); an acknowledgement does not: it stops reminders to people, while Alertmanager needs the
    // re-post to keep the alert (it would resolve it a few intervals later).
    const muted = p.mutedNow();
    const firing: ResendFiring[] = p.firing().filter((a) => !muted.has(a.alertKey)).map((a) => ({ alertKey: a.alertKey, condition: a.condition, severity: a.severity, subject: a.subject, since: Date.parse(a.since), firedAt: Date.parse(a.firedAt), labels: a.labels }));
    const ns = resendNotifications({ channel, otherChannels: ids, firing, self: p.self.firing(), queued: p.outbox.queuedKeys(channel), now: this.opts.now(), intervalMs });
    if (ns.length === 0) return 0;
    try {
      return (await p.outbox.enqueue(ns)).queued;
    } catch {
      return 0;
    }
  }
}
