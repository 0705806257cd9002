// One notifier per channel (slack, pagerduty, webhook, console), each in its own file behind this
// small interface. Notifiers are stateless senders: retries, pacing and durability live in the outbox.
import type { ChannelConfig } from '../config/schema.js';
import type { Notification } from '../model.js';

export type DeliveryResult =
  | { ok: true; status?: number }
  | {
      ok: false;
      /** False for answers that will never succeed (e.g. 400 invalid payload, 404 no such webhook). */
      retryable: boolean;
      /** From a 429's Retry-After header, in ms. */
      retryAfterMs?: number;
      status?: number;
      /** Scrubbed of secrets (never the webhook URL or routing key). */
      error: string;
    };

export interface Notifier {
  /** Channel id used in metrics, logs and the outbox: the configured name, or the type plus index ("slack", "slack-2"). */
  readonly id: string;
  readonly type: ChannelConfig['type'];
  /** Minimum spacing between two messages on this channel (Slack webhooks: 1000 ms). */
  readonly minIntervalMs: number;
  /** Routing: severity threshold and kinds this channel takes. */
  accepts(n: Notification): boolean;
  /** The exact payload send() would deliver (used by `drill --dry-run` and by payload tests). */
  render(n: Notification): unknown;
  /** Delivers one notification; never throws. */
  send(n: Notification, signal?: AbortSignal): Promise<DeliveryResult>;
}
