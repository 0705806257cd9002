// A minimal real notifier for outbox tests: POSTs the notification as JSON to a URL with the
// notification id in an Idempotency-Key header, and maps the HTTP answer to a DeliveryResult with the
// real channels' rules from src/notify/common.ts (2xx ok; 408, 425, 429 and 5xx retryable, 429 with
// Retry-After; other 4xx final; network errors and aborts retryable). Not a mock of the outbox: the
// outbox under test is real.
import type { Notification } from '../../src/model.js';
import { parseRetryAfter, retryableStatus } from '../../src/notify/common.js';
import type { DeliveryResult, Notifier } from '../../src/notify/notifier.js';

export interface TestNotifierOptions {
  id: string;
  url: string;
  minIntervalMs?: number;
  type?: Notifier['type'];
  accepts?: (n: Notification) => boolean;
  /** When given, each request carries `x-sent-at: <now()>`: when the outbox started the send, on the test's clock (pacing is decided at the start). */
  now?: () => number;
}

export function httpTestNotifier(opts: TestNotifierOptions): Notifier & { sent: number } {
  const notifier = {
    id: opts.id,
    type: opts.type ?? 'webhook',
    minIntervalMs: opts.minIntervalMs ?? 0,
    sent: 0,
    accepts: opts.accepts ?? (() => true),
    render: (n: Notification) => ({ id: n.id, kind: n.kind, severity: n.severity, ...('alertKey' in n ? { alertKey: n.alertKey, storeId: n.subject.storeId } : { items: n.items.length }) }),
    async send(n: Notification, signal?: AbortSignal): Promise<DeliveryResult> {
      notifier.sent++;
      try {
        const res = await fetch(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': n.id, ...(opts.now ? { 'x-sent-at': String(opts.now()) } : {}) },
          body: JSON.stringify(notifier.render(n)),
          signal,
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return { ok: true, status: res.status };
        return {
          ok: false, retryable: retryableStatus(res.status), status: res.status,
          retryAfterMs: res.status === 429 ? parseRetryAfter(res.headers.get('retry-after')) : undefined,
          error: `HTTP ${res.status}`,
        };
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        return { ok: false, retryable: true, error: `${e.name}: ${e.cause?.code ?? e.message}` };
      }
    },
  };
  return notifier;
}
