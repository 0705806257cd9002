// Generic webhook: a JSON POST of the notification (with its guidance) to any URL.
//
// Request
//   POST <url>
//   Content-Type: application/json
//   X-Keystore-Watch-Event: firing | reminder | resolved | digest | drill
//   X-Keystore-Watch-Idempotency-Key: <notification id>   (the same on every retry of one notification)
//   X-Keystore-Watch-Timestamp: <unix seconds when this attempt was sent>        (when hmacSecret is set)
//   X-Keystore-Watch-Signature: sha256=<hex HMAC-SHA256(hmacSecret, timestamp + "." + raw body)>
//   plus the channel's configured `headers` (which cannot replace the ones above)
//
// Body: { "version": 1, "id", "kind", "severity", "createdAt" (ISO 8601), "runbookBaseUrl", "notification" }
// where "notification" is the AlertNotification or DigestNotification of src/model.ts, guidance included
// (runbook link = runbookBaseUrl + "#" + guidance.runbookAnchor).
//
// Verifying on the receiving side: recompute the HMAC over `${timestamp}.${rawBody}` with the shared
// secret, compare in constant time, reject timestamps older than a few minutes (replay), and drop
// repeated idempotency keys (a notification is retried until a 2xx, so it can arrive twice).
//
// Any 2xx is success; 408, 425, 429 (Retry-After honoured) and 5xx are retried; redirects are not
// followed (the signature and headers are meant for this URL only) and, like other 4xx, not retried.
import { createHmac } from 'node:crypto';
import type { ChannelConfig } from '../config/schema.js';
import type { Notification } from '../model.js';
import { VERSION } from '../version.js';
import {
  DEFAULT_RUNBOOK_BASE_URL,
  digestItemsFor,
  httpFailure,
  isoTimestamp,
  readBody,
  requestSignal,
  transportFailure,
  type NotifierOptions,
  ChannelNotifier,
} from './common.js';
import type { DeliveryResult, Notifier } from './notifier.js';
import { cleanNotification, wellFormedDeep } from './text.js';

type WebhookChannel = Extract<ChannelConfig, { type: 'webhook' }>;

export const WEBHOOK_HEADERS = {
  event: 'X-Keystore-Watch-Event',
  idempotencyKey: 'X-Keystore-Watch-Idempotency-Key',
  timestamp: 'X-Keystore-Watch-Timestamp',
  signature: 'X-Keystore-Watch-Signature',
} as const;

export interface WebhookBody {
  version: 1;
  id: string;
  kind: Notification['kind'];
  severity: Notification['severity'];
  createdAt: string;
  runbookBaseUrl: string;
  notification: Notification;
}

/** The JSON body (pure). Digest items are filtered by the channel's minSeverity. */
export function renderWebhook(raw: Notification, opts: { runbookBaseUrl?: string; minSeverity?: WebhookChannel['minSeverity'] } = {}): WebhookBody {
  const n = cleanNotification(raw);
  const notification: Notification = n.kind === 'digest' ? { ...n, items: digestItemsFor(opts.minSeverity ?? 'info', n) } : n;
  return wellFormedDeep({
    version: 1,
    id: n.id,
    kind: n.kind,
    severity: n.severity,
    createdAt: isoTimestamp(n.createdAt),
    runbookBaseUrl: (opts.runbookBaseUrl ?? DEFAULT_RUNBOOK_BASE_URL).replace(/#.*$/, ''),
    notification,
  } satisfies WebhookBody);
}

/** sha256=<hex> over `${timestamp}.${body}`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Header values must be ByteStrings without CR/LF. */
const headerValue = (v: string): string => v.replace(/[^\x20-\x7e]/g, '?').slice(0, 1024);

export class WebhookNotifier extends ChannelNotifier<WebhookChannel> implements Notifier {
  readonly type = 'webhook' as const;
  readonly minIntervalMs = 0;
  private readonly now: () => number;

  constructor(config: WebhookChannel, opts: NotifierOptions = {}) {
    super(config, opts, 'webhook');
    this.now = opts.now ?? Date.now;
  }

  render(n: Notification): WebhookBody {
    return renderWebhook(n, { runbookBaseUrl: this.opts.runbookBaseUrl, minSeverity: this.config.minSeverity });
  }

  /** The headers of one attempt (pure given the timestamp). */
  headers(n: Notification, body: string, timestampSeconds: number): Record<string, string> {
    const h: Record<string, string> = {};
    const reserved = new Set(['content-type', 'content-length', 'host', ...Object.values(WEBHOOK_HEADERS).map((x) => x.toLowerCase())]);
    for (const [k, v] of Object.entries(this.config.headers ?? {})) if (!reserved.has(k.toLowerCase())) h[k] = v;
    h['content-type'] = 'application/json';
    h['user-agent'] = `keystore-watch/${VERSION}`;
    h[WEBHOOK_HEADERS.event] = n.kind;
    h[WEBHOOK_HEADERS.idempotencyKey] = headerValue(n.id);
    if (this.config.hmacSecret) {
      const ts = String(timestampSeconds);
      h[WEBHOOK_HEADERS.timestamp] = ts;
      h[WEBHOOK_HEADERS.signature] = signWebhook(this.config.hmacSecret, ts, body);
    }
    return h;
  }

  async send(n: Notification, signal?: AbortSignal): Promise<DeliveryResult> {
    const secrets = [this.config.hmacSecret, this.config.url, ...Object.values(this.config.headers ?? {})];
    try {
      const body = JSON.stringify(this.render(n));
      const headers = this.headers(n, body, Math.floor(this.now() / 1000));
      let res: Response;
      try {
        res = await fetch(this.config.url, { method: 'POST', headers, body, redirect: 'manual', signal: requestSignal(this.timeoutMs, signal) });
      } catch (err) {
        return transportFailure(err, this.timeoutMs, secrets, 'webhook', signal);
      }
      const text = await readBody(res, 300);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      return httpFailure(res.status, text, res.headers, secrets, 'webhook');
    } catch (err) {
      return transportFailure(err, this.timeoutMs, secrets, 'webhook', signal);
    }
  }
}
