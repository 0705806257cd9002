// PagerDuty Events API v2.
//
// firing/reminder -> `trigger`, resolved -> `resolve`, both with dedup_key = the notification's
// alertKey (stable per store and condition), so a reminder folds into the open incident and the
// resolve closes exactly that one. 202 (any 2xx) is success; 429 and 5xx are retryable.
//
// Digests become one event per item, not one grouped event: each store keeps its own dedup_key, so
// the per-store resolve that follows later closes exactly its own incident (a grouped event would
// have no matching resolve and would stay open, or close while stores are still failing), and
// PagerDuty's own alert grouping can still fold a regional outage into one incident for the
// responder. Triggers and resolves are idempotent per dedup_key, so a retried digest is harmless.
//
// Drills trigger an incident with "[TEST]" in the summary and a dedup_key of their own, so they
// never touch a real incident; the responder resolves it after checking the routing.
//
// render() shows the routing key as [REDACTED]; send() puts the real one in.
import type { ChannelConfig } from '../config/schema.js';
import type { AlertNotification, Notification, Severity } from '../model.js';
import { ALERT_NAMES } from '../model.js';
import {
  KIND_LABEL,
  digestItemsFor,
  httpFailure,
  iso,
  isoTimestamp,
  oneLine,
  ownerFacts,
  readBody,
  requestSignal,
  runbookUrl,
  storeLabel,
  transportFailure,
  truncate,
  type NotifierOptions,
  ChannelNotifier,
} from './common.js';
import type { DeliveryResult, Notifier } from './notifier.js';
import { cleanNotification, wellFormedDeep } from './text.js';
import { VERSION } from '../version.js';

type PagerDutyChannel = Extract<ChannelConfig, { type: 'pagerduty' }>;

export const ROUTING_KEY_PLACEHOLDER = '[REDACTED]';

export interface PagerDutyTrigger {
  routing_key: string;
  event_action: 'trigger';
  dedup_key: string;
  payload: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp: string;
    component?: string;
    group: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  links: { href: string; text: string }[];
  client: string;
  client_url: string;
}
export interface PagerDutyResolve {
  routing_key: string;
  event_action: 'resolve';
  dedup_key: string;
}
export type PagerDutyEvent = PagerDutyTrigger | PagerDutyResolve;

const SEVERITY: Record<Severity, PagerDutyTrigger['payload']['severity']> = { critical: 'critical', warning: 'warning', info: 'info' };

/** PagerDuty keeps dedup keys up to 255 characters. */
const dedupKey = (k: string): string => truncate(oneLine(k, 1000), 255);

function event(n: AlertNotification, routingKey: string, base: string | undefined): PagerDutyEvent {
  if (n.kind === 'resolved') return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey(n.alertKey) };
  const s = n.subject;
  const g = n.guidance;
  const drill = n.kind === 'drill';
  const where = [storeLabel(s, 100), s.clusterId && !s.storeId ? oneLine(s.clusterId, 64) : '', `in ${oneLine(s.accountId, 20)}${s.accountName && s.accountName !== s.accountId ? ` (${oneLine(s.accountName, 60)})` : ''} ${oneLine(s.region, 30)}`]
    .filter(Boolean)
    .join(' ');
  const summary = `${drill ? '[TEST] keystore-watch fire drill: ' : ''}${g.title} - ${where}`;
  const runbook = runbookUrl(base, g.runbookAnchor);
  const details: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.details ?? {}).slice(0, 20)) details[oneLine(k, 60)] = oneLine(v, 500);
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: drill ? dedupKey(`keystore-watch-drill/${n.id}`) : dedupKey(n.alertKey),
    payload: {
      summary: truncate(summary, 1024),
      source: oneLine(s.storeId ? `${s.accountId}/${s.region}/${s.storeId}` : `${s.accountId}/${s.region}${s.clusterId ? `/${s.clusterId}` : ''}`, 255),
      severity: SEVERITY[n.severity] ?? 'warning',
      timestamp: isoTimestamp(n.since, n.createdAt),
      ...(s.storeId || s.clusterId ? { component: oneLine(s.storeId ?? s.clusterId, 255) } : {}),
      group: oneLine(`${s.accountId}/${s.region}`, 255),
      class: n.condition,
      custom_details: {
        notification: KIND_LABEL[n.kind],
        alert: ALERT_NAMES[n.condition] ?? g.runbookAnchor,
        account_id: oneLine(s.accountId, 20),
        account_name: oneLine(s.accountName, 128),
        ...(s.ouPath ? { ou_path: oneLine(s.ouPath, 300) } : {}),
        ...(s.tags && Object.keys(s.tags).length ? { tags: Object.fromEntries(ownerFacts({ tags: s.tags })) } : {}),
        region: oneLine(s.region, 30),
        ...(s.storeId ? { custom_key_store_id: oneLine(s.storeId, 64) } : {}),
        ...(s.storeName ? { custom_key_store_name: oneLine(s.storeName, 256) } : {}),
        ...(s.storeType ? { custom_key_store_type: oneLine(s.storeType, 64) } : {}),
        ...(s.state ? { connection_state: oneLine(s.state, 64) } : {}),
        ...(s.errorCode ? { connection_error_code: oneLine(s.errorCode, 64) } : {}),
        ...(s.clusterId ? { cloudhsm_cluster_id: oneLine(s.clusterId, 64) } : {}),
        ...(Object.keys(details).length ? { details } : {}),
        since: iso(n.since),
        summary: g.summary,
        likely_cause: g.cause,
        steps: g.steps.map((x, i) => `${i + 1}. ${x}`),
        commands: g.commands.map((c) => truncate(c, 2000)),
        runbook,
        ...(drill ? { test: 'This is a fire drill sent by keystore-watch drill. No key store is affected.' } : {}),
      },
    },
    links: [...(n.statusUrl ? [{ href: n.statusUrl, text: 'Status page: this store' }] : []), { href: runbook, text: `Runbook: ${ALERT_NAMES[n.condition] ?? g.runbookAnchor}` }, ...g.docs.map((d) => ({ href: d.url, text: d.title }))],
    client: `keystore-watch ${VERSION}`,
    // The page to open from the incident: the store's status page when http.externalUrl is set.
    client_url: n.statusUrl ?? runbook,
  };
}

/** The events for a notification (pure): one, or one per digest item the channel takes. */
export function renderPagerDuty(raw: Notification, opts: { routingKey?: string; runbookBaseUrl?: string; minSeverity?: Severity } = {}): PagerDutyEvent[] {
  const n = cleanNotification(raw);
  const key = opts.routingKey ?? ROUTING_KEY_PLACEHOLDER;
  const items = n.kind === 'digest' ? digestItemsFor(opts.minSeverity ?? 'info', n) : [n];
  return wellFormedDeep(items.map((i) => event(i, key, opts.runbookBaseUrl)));
}

export class PagerDutyNotifier extends ChannelNotifier<PagerDutyChannel> implements Notifier {
  readonly type = 'pagerduty' as const;
  readonly minIntervalMs = 0;

  constructor(config: PagerDutyChannel, opts: NotifierOptions = {}) {
    super(config, opts, 'pagerduty');
  }

  /** The events send() posts, in order, with the routing key shown as [REDACTED]. */
  render(n: Notification): PagerDutyEvent[] {
    return renderPagerDuty(n, { runbookBaseUrl: this.opts.runbookBaseUrl, minSeverity: this.config.minSeverity });
  }

  async send(n: Notification, signal?: AbortSignal): Promise<DeliveryResult> {
    const secrets = [this.config.routingKey, this.config.url];
    let status = 202;
    try {
      const events = renderPagerDuty(n, { routingKey: this.config.routingKey, runbookBaseUrl: this.opts.runbookBaseUrl, minSeverity: this.config.minSeverity });
      for (const ev of events) {
        let res: Response;
        try {
          res = await fetch(this.config.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': `keystore-watch/${VERSION}` },
            body: JSON.stringify(ev),
            redirect: 'manual',
            signal: requestSignal(this.timeoutMs, signal),
          });
        } catch (err) {
          return transportFailure(err, this.timeoutMs, secrets, 'pagerduty', signal);
        }
        const body = await readBody(res);
        if (res.status < 200 || res.status >= 300) return httpFailure(res.status, pagerDutyError(body), res.headers, secrets, 'pagerduty');
        status = res.status;
      }
      return { ok: true, status };
    } catch (err) {
      return transportFailure(err, this.timeoutMs, secrets, 'pagerduty', signal);
    }
  }
}

/** PagerDuty answers errors as {"status","message","errors":[...]}. */
function pagerDutyError(body: string): string {
  try {
    const j = JSON.parse(body) as { message?: unknown; errors?: unknown };
    const errors = Array.isArray(j.errors) ? j.errors.filter((e) => typeof e === 'string').join('; ') : '';
    return [typeof j.message === 'string' ? j.message : '', errors].filter(Boolean).join(': ');
  } catch {
    return body;
  }
}
