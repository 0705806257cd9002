// Builds one notifier per configured channel.
//
// Ids (used in metrics, logs and the outbox, so they must be stable across restarts): the channel's
// `name` when set, otherwise its type for the first channel of that type and `<type>-<n>` for the
// n-th ("slack", "slack-2", ...). A collision (two equal names, or a name equal to a generated id)
// gets "-2", "-3", ... appended, in configuration order.
//
// Routing: each notifier accepts a notification when its severity meets the channel's minSeverity;
// resolved notifications carry the severity of the alert they resolve, so they reach exactly the
// channels that got the firing one; drills go to every channel; a digest goes to a channel when one
// of its items does, and the channel renders only those items.
import type { ChannelConfig } from '../config/schema.js';
import { channelIds } from '../config/channel-ids.js';
import type { Notification } from '../model.js';
import { DEFAULT_RUNBOOK_BASE_URL, DEFAULT_TIMEOUT_MS } from './common.js';
import { ConsoleNotifier, type ConsoleWriter } from './console.js';
import type { Notifier } from './notifier.js';
import { PagerDutyNotifier } from './pagerduty.js';
import { SlackNotifier } from './slack.js';
import { WebhookNotifier } from './webhook.js';
import { AlertmanagerNotifier } from './alertmanager.js';

export type { DeliveryResult, Notifier } from './notifier.js';
export { SlackNotifier, renderSlack, escapeMrkdwn, SLACK_LIMITS, type SlackPayload, type SlackBlock } from './slack.js';
export { PagerDutyNotifier, renderPagerDuty, type PagerDutyEvent } from './pagerduty.js';
export { WebhookNotifier, renderWebhook, signWebhook, WEBHOOK_HEADERS, type WebhookBody } from './webhook.js';
export { AlertmanagerNotifier, renderAlertmanager, alertLabels, type PostableAlert } from './alertmanager.js';
export { ConsoleNotifier, renderConsole, type ConsoleWriter } from './console.js';
export { DEFAULT_RUNBOOK_BASE_URL, DEFAULT_TIMEOUT_MS, acceptsNotification, runbookUrl } from './common.js';

export interface CreateNotifiersOptions {
  /** URL of docs/runbooks.md that runbook links point at. */
  runbookBaseUrl?: string;
  /** Per-request timeout of the HTTP channels, ms (default 10 s). */
  timeoutMs?: number;
  /** Where the console channel writes (default: process.stdout). */
  consoleWriter?: ConsoleWriter;
  /** Clock for webhook signature timestamps. */
  now?: () => number;
  /** http.externalUrl (the Alertmanager channel's generatorURL). */
  externalUrl?: string | null;
}

/** Channel ids in configuration order: src/config/channel-ids.ts. */
export { channelIds };

export function createNotifiers(channels: ChannelConfig[], opts: CreateNotifiersOptions = {}): Notifier[] {
  const ids = channelIds(channels);
  const common = { runbookBaseUrl: opts.runbookBaseUrl ?? DEFAULT_RUNBOOK_BASE_URL, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, now: opts.now };
  return channels.map((c, i): Notifier => {
    const o = { ...common, id: ids[i]! };
    switch (c.type) {
      case 'slack':
        return new SlackNotifier(c, o);
      case 'pagerduty':
        return new PagerDutyNotifier(c, o);
      case 'webhook':
        return new WebhookNotifier(c, o);
      case 'console':
        return new ConsoleNotifier(c, { ...o, writer: opts.consoleWriter });
      case 'alertmanager':
        return new AlertmanagerNotifier(c, { ...o, externalUrl: opts.externalUrl });
    }
  });
}

/** The notifiers that take a notification. */
export const routeNotification = (notifiers: Notifier[], n: Notification): Notifier[] => notifiers.filter((x) => x.accepts(n));
