// A minimal real notifier for outbox tests: POSTs the notification as JSON to a URL with the
// notification id in an Idempotency-Key header, and maps the HTTP answer to a DeliveryResult the
// way the real channels do (2xx ok; 429 and 5xx retryable, 429 with Retry-After; other 4xx final;
// network errors and aborts retryable). Not a mock of the outbox: the outbox under test is real.
import type { Notification } from '../../src/model.js';
import type { DeliveryResult, Notifier } from '../../src/notify/notifier.js';

export interface TestNotifierOptions {
  id: string;
  url: string;
  minIntervalMs?: number;
  type?: Notifier['type'];
  accepts?: (n: Notification) => boolean;
}

/** Retry-After is either delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
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
          headers: { 'content-type': 'application/json', 'idempotency-key': n.id },
          body: JSON.stringify(notifier.render(n)),
          signal,
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return { ok: true, status: res.status };
        const retryable = res.status === 429 || res.status >= 500;
        return {
          ok: false, retryable, status: res.status,
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
