// Alertmanager channel: POSTs the alerts to Alertmanager's API v2, `POST <url>/api/v2/alerts`, a JSON
// array of `postableAlert` (api/v2/openapi.yaml in prometheus/alertmanager: labels, annotations,
// startsAt, endsAt, generatorURL). Teams that already run Alertmanager route, group, inhibit and
// silence keystore-watch's alerts there like any Prometheus alert.
//
// What one notification becomes (render(), pure given `now`):
//   - firing / reminder / drill: one alert, startsAt = when the condition began, endsAt = now +
//     4 × resendInterval. Prometheus does the same (rules/alerting.go: ValidUntil = 4 × max(evaluation
//     interval, resend delay)): if keystore-watch stops re-posting (it died), Alertmanager resolves the
//     alert by itself a few resends later rather than keeping a stale page forever; while it runs, the
//     re-post every resendInterval (below) pushes endsAt forward.
//   - resolved: endsAt = when the condition ended (in the past: Alertmanager marks it resolved at once);
//     startsAt = the same instant (api/v2/api.go postAlertsHandler does exactly that for an alert with
//     endsAt and no startsAt, and refuses endsAt before startsAt), so the resolve merges into the firing
//     alert of the same label set.
//   - digest: one alert per item, in one POST (Alertmanager groups them again by its own route).
// Labels: the Notification's `labels` (src/alert/labels.ts, issue 16 item 1: alertname, severity,
// account_id, account_name, region, custom_key_store_*, cloudhsm_cluster_id, ou_path, tag_<key>, code;
// self-alerts self_alert), or the same set derived from the subject for a notification queued by an
// earlier version; a drill adds drill="true". Empty values are left out
// (Alertmanager drops empty labels anyway: removeEmptyLabels). Annotations: summary, description,
// runbook_url, steps, commands.
//
// Re-posting: Alertmanager forgets an alert that is not re-posted before its endsAt, so firing alerts
// are re-posted every `resendInterval` (default 1m, below the default resolve_timeout of 5m) while
// they fire. That flows through the durable outbox like every other message: the daemon
// (src/pipeline/alertmanager-resend.ts, driven by src/daemon.ts) enqueues, every resendInterval, one
// `reminder` per firing alert addressed to the Alertmanager channel alone (excludeChannels names the
// others), with an id per alert and interval, skipping alerts the channel still has queued (an
// outage queues at most one re-post per alert, not one per minute).
//
// Several URLs (an Alertmanager cluster): every instance gets every alert, as Prometheus does (the
// cluster deduplicates notifications by gossip). A send succeeds when at least one instance answers
// 2xx; when none does, the outbox retries the whole send later (retryable when any failure is).
//
// Secrets: basicAuth.password, bearerToken and credentials in a URL (user:pass@) are registered with
// redact() by the config loader (their keys are secret keys) and scrubbed from every error text here.
import type { ChannelConfig } from '../config/schema.js';
import { ALERT_NAMES, type AlertNotification, type Notification } from '../model.js';
import { tagLabelName } from '../util/prom-label.js';
import { VERSION } from '../version.js';
import {
  ChannelNotifier,
  digestItemsFor,
  httpFailure,
  isoTimestamp,
  readBody,
  requestSignal,
  runbookUrl,
  transportFailure,
  type NotifierOptions,
} from './common.js';
import type { DeliveryResult, Notifier } from './notifier.js';
import { cleanNotification, wellFormedDeep } from './text.js';

export type AlertmanagerChannel = Extract<ChannelConfig, { type: 'alertmanager' }>;

/** One element of the POST /api/v2/alerts body (postableAlert). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

export interface AlertmanagerOptions extends NotifierOptions {
  /** http.externalUrl: generatorURL is `<externalUrl>/api/v1/alerts/<alertKey>`. */
  externalUrl?: string | null;
}

/** Label names Alertmanager 0.25 accepts (model.LabelName.IsValid: the Prometheus rule). */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The flat label set of an alert notification: `n.labels`, set by the alert stage (src/alert/labels.ts,
 * issue 16 item 1). A notification queued by an earlier version has none: the same set is derived here
 * from its subject, by the same rules (notify may not import alert: docs/architecture.md).
 */
export function alertLabels(n: AlertNotification): Record<string, string> {
  const raw: Record<string, string> = n.labels ?? legacyLabels(n);
  const out: Record<string, string> = {};
  // Alertmanager refuses a label name outside [a-zA-Z_][a-zA-Z0-9_]* (and drops empty values).
  for (const [k, v] of Object.entries(raw)) if (v !== '' && LABEL_NAME.test(k)) out[k] = String(v);
  if (n.kind === 'drill') out.drill = 'true';
  return out;
}

function legacyLabels(n: AlertNotification): Record<string, string> {
  if (n.condition === 'SELF') return { alertname: ALERT_NAMES.SELF, severity: n.severity, self_alert: n.alertKey.replace(/^SELF:/, '') };
  const s = n.subject;
  const out: Record<string, string> = { alertname: ALERT_NAMES[n.condition], severity: n.severity };
  const put = (k: string, v: string | null | undefined) => { if (v !== null && v !== undefined && v !== '' && !(k in out)) out[k] = v; };
  put('account_id', s.accountId);
  put('account_name', s.accountName);
  put('region', s.region);
  put('custom_key_store_id', s.storeId);
  put('custom_key_store_name', s.storeName);
  put('custom_key_store_type', s.storeType);
  put('cloudhsm_cluster_id', s.clusterId);
  put('ou_path', s.ouPath);
  put('code', s.errorCode);
  for (const k of Object.keys(s.tags ?? {}).sort()) put(tagLabelName(k), s.tags![k]);
  return out;
}

const numbered = (xs: readonly string[]): string => xs.map((x, i) => `${i + 1}. ${x}`).join('\n');

/** One postableAlert (pure). */
export function renderAlertmanagerAlert(n: AlertNotification, opts: { now: number; resendIntervalMs: number; runbookBaseUrl?: string; externalUrl?: string | null }): PostableAlert {
  const g = n.guidance;
  const annotations: Record<string, string> = {
    summary: g.title,
    description: [g.summary, g.cause].filter(Boolean).join('\n\n'),
    runbook_url: runbookUrl(opts.runbookBaseUrl, g.runbookAnchor),
  };
  if (g.steps.length) annotations.steps = numbered(g.steps);
  if (g.commands.length) annotations.commands = g.commands.join('\n');
  const details = Object.entries(n.subject.details ?? {});
  if (details.length) annotations.details = details.map(([k, v]) => `${k}: ${v}`).join('\n');
  const alert: PostableAlert = n.kind === 'resolved'
    ? { labels: alertLabels(n), annotations, startsAt: isoTimestamp(n.since, n.createdAt), endsAt: isoTimestamp(n.since, n.createdAt) }
    : { labels: alertLabels(n), annotations, startsAt: isoTimestamp(n.since, n.createdAt), endsAt: isoTimestamp(opts.now + 4 * opts.resendIntervalMs) };
  if (opts.externalUrl) alert.generatorURL = `${opts.externalUrl.replace(/\/+$/, '')}/api/v1/alerts/${encodeURIComponent(n.alertKey)}`;
  return alert;
}

/** The POST body for one notification (pure). Digest items are filtered by the channel's minSeverity. */
export function renderAlertmanager(raw: Notification, opts: { now: number; resendIntervalMs: number; minSeverity?: AlertmanagerChannel['minSeverity']; runbookBaseUrl?: string; externalUrl?: string | null }): PostableAlert[] {
  const n = cleanNotification(raw);
  const items = n.kind === 'digest' ? digestItemsFor(opts.minSeverity ?? 'info', n) : [n];
  return wellFormedDeep(items.map((i) => renderAlertmanagerAlert(i, opts)));
}

/** `<base>/api/v2/alerts` for a configured URL (a base such as http://am:9093 or http://host/alertmanager, or the full endpoint). */
export function alertsEndpoint(url: string): string {
  const u = new URL(url);
  if (!/\/api\/v2\/alerts\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v2/alerts`;
  // Credentials in the URL become a basic Authorization header (fetch refuses URLs with credentials).
  u.username = '';
  u.password = '';
  return u.toString();
}

/** The configured URLs (`urls`, or `url` alone). */
export const alertmanagerUrls = (c: Pick<AlertmanagerChannel, 'url' | 'urls'>): string[] => [...(c.urls ?? []), ...(c.url ? [c.url] : [])];

export class AlertmanagerNotifier extends ChannelNotifier<AlertmanagerChannel, AlertmanagerOptions> implements Notifier {
  readonly type = 'alertmanager' as const;
  readonly minIntervalMs = 0;
  readonly resendIntervalMs: number;
  private readonly now: () => number;

  constructor(config: AlertmanagerChannel, opts: AlertmanagerOptions = {}) {
    super(config, opts, 'alertmanager');
    this.now = opts.now ?? Date.now;
    this.resendIntervalMs = config.resendInterval;
  }

  render(n: Notification): PostableAlert[] {
    return renderAlertmanager(n, { now: this.now(), resendIntervalMs: this.resendIntervalMs, minSeverity: this.config.minSeverity, runbookBaseUrl: this.opts.runbookBaseUrl, externalUrl: this.opts.externalUrl });
  }

  /** The request headers for one URL (its own user:pass@ wins over basicAuth). */
  private headers(url: string): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', 'user-agent': `keystore-watch/${VERSION}` };
    const u = new URL(url);
    if (u.username || u.password) h.authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    else if (this.config.basicAuth) h.authorization = `Basic ${Buffer.from(`${this.config.basicAuth.username}:${this.config.basicAuth.password}`).toString('base64')}`;
    else if (this.config.bearerToken) h.authorization = `Bearer ${this.config.bearerToken}`;
    return h;
  }

  private secrets(): string[] {
    const out = [this.config.bearerToken ?? '', this.config.basicAuth?.password ?? ''];
    for (const url of alertmanagerUrls(this.config)) {
      const u = new URL(url);
      if (u.password) out.push(decodeURIComponent(u.password), u.password);
    }
    return out.filter(Boolean);
  }

  async send(n: Notification, signal?: AbortSignal): Promise<DeliveryResult> {
    const secrets = this.secrets();
    let body: string;
    try {
      const alerts = this.render(n);
      if (alerts.length === 0) return { ok: true };
      body = JSON.stringify(alerts);
    } catch (err) {
      return transportFailure(err, this.timeoutMs, secrets, 'alertmanager', signal);
    }
    const urls = alertmanagerUrls(this.config);
    const results = await Promise.all(urls.map((url) => this.post(url, body, secrets, signal)));
    const ok = results.find((r) => r.ok);
    if (ok) return ok;
    const failures = results.filter((r): r is Extract<DeliveryResult, { ok: false }> => !r.ok);
    // Retry when any instance may accept later (one down, one refusing would otherwise dead-letter a good alert).
    const retryable = failures.some((f) => f.retryable);
    const retryAfterMs = failures.map((f) => f.retryAfterMs).filter((x): x is number => x !== undefined).sort((a, b) => a - b)[0];
    return {
      ok: false,
      retryable,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(failures.length === 1 && failures[0]!.status !== undefined ? { status: failures[0]!.status } : {}),
      error: failures.length === 1 ? failures[0]!.error : `alertmanager: all ${failures.length} instances failed: ${failures.map((f) => f.error.replace(/^alertmanager: /, '')).join('; ')}`,
    };
  }

  private async post(url: string, body: string, secrets: string[], signal?: AbortSignal): Promise<DeliveryResult> {
    try {
      const res = await fetch(alertsEndpoint(url), { method: 'POST', headers: this.headers(url), body, redirect: 'manual', signal: requestSignal(this.timeoutMs, signal) });
      const text = await readBody(res, 300);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      return httpFailure(res.status, text, res.headers, secrets, 'alertmanager');
    } catch (err) {
      return transportFailure(err, this.timeoutMs, secrets, 'alertmanager', signal);
    }
  }
}
