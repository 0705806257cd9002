// Console channel: a human-readable block per notification on stdout (what the demo shows).
// Untrusted values are flattened to one line with control characters removed, so a store name
// cannot inject terminal escape sequences or fake extra lines.
import type { ChannelConfig } from '../config/schema.js';
import type { AlertNotification, Notification, Severity } from '../model.js';
import { ALERT_NAMES } from '../model.js';
import {
  KIND_LABEL,
  SEVERITY_EMOJI,
  digestItemsFor,
  iso,
  oneLine,
  ownerFacts,
  runbookUrl,
  storeLabel,
  type NotifierOptions,
  ChannelNotifier,
} from './common.js';
import type { DeliveryResult, Notifier } from './notifier.js';
import { cleanNotification, wellFormed } from './text.js';

type ConsoleChannel = Extract<ChannelConfig, { type: 'console' }>;

export type ConsoleWriter = (text: string) => void;

const mark = (n: Notification): string => {
  switch (n.kind) {
    case 'resolved':
      return '✅';
    case 'reminder':
      return '🔁';
    case 'drill':
      return '🧪';
    case 'digest':
      return '🚨';
    default:
      return SEVERITY_EMOJI[n.severity] ?? '⚪';
  }
};

const row = (label: string, value: string): string => `  ${label.padEnd(9)} ${value}`;

function alertLines(n: AlertNotification, base: string | undefined, full: boolean): string[] {
  const s = n.subject;
  const g = n.guidance;
  const lines: string[] = [];
  if (n.kind === 'drill') lines.push('  *** TEST: fire drill from `keystore-watch drill`; no key store is affected, no action needed ***');
  lines.push(row('account', `${oneLine(s.accountId, 20)}${s.accountName && s.accountName !== s.accountId ? ` (${oneLine(s.accountName, 60)})` : ''}`));
  const owner = ownerFacts(s);
  if (owner.length) lines.push(row('owner', owner.map(([k, v]) => (k === 'OU' ? `ou ${v}` : `${k}=${v}`)).join(', ')));
  lines.push(row('region', oneLine(s.region, 30)));
  if (s.storeId || s.storeName) {
    const facts = [s.storeType, s.state, s.errorCode].filter((x): x is string => !!x).map((x) => oneLine(x, 64));
    lines.push(row('store', `${storeLabel(s, 120)}${facts.length ? `  ${facts.join(', ')}` : ''}`));
  }
  if (s.clusterId) lines.push(row('cluster', oneLine(s.clusterId, 64)));
  for (const [k, v] of Object.entries(s.details ?? {}).slice(0, 10)) lines.push(row(oneLine(k, 30).toLowerCase(), oneLine(v, 200)));
  lines.push(row(n.kind === 'resolved' ? 'resolved' : 'since', iso(n.since)));
  lines.push(row('summary', g.summary));
  if (full) {
    lines.push(row('cause', g.cause));
    if (g.steps.length) {
      lines.push('  steps');
      g.steps.forEach((step, i) => lines.push(`    ${i + 1}. ${step}`));
    }
    if (g.commands.length) {
      lines.push('  commands');
      for (const c of g.commands) lines.push(`    $ ${c.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')}`);
    }
  }
  if (n.statusUrl) lines.push(row('status', oneLine(n.statusUrl, 2000)));
  lines.push(row('runbook', `${runbookUrl(base, g.runbookAnchor)}  (${ALERT_NAMES[n.condition] ?? g.runbookAnchor})`));
  return lines;
}

/** The text block for a notification (pure), ending with a newline. */
export function renderConsole(raw: Notification, opts: { runbookBaseUrl?: string; minSeverity?: Severity } = {}): string {
  const n = cleanNotification(raw);
  const lines: string[] = [];
  if (n.kind === 'digest') {
    const items = digestItemsFor(opts.minSeverity ?? 'info', n);
    lines.push(`${mark(n)} DIGEST ${n.severity}  ${items.length} key store alerts in one poll`);
    for (const i of items) {
      const s = i.subject;
      lines.push(`  - ${KIND_LABEL[i.kind]} ${i.severity}  ${i.guidance.title}  ${oneLine(s.accountId, 20)} ${oneLine(s.region, 30)} ${storeLabel(s, 80) || oneLine(s.clusterId, 64)}${s.ouPath ? `  ou ${oneLine(s.ouPath, 120)}` : ''}`);
    }
    const anchors = [...new Set(items.map((i) => i.guidance.runbookAnchor))];
    for (const a of anchors) lines.push(row('runbook', runbookUrl(opts.runbookBaseUrl, a)));
  } else {
    lines.push(`${mark(n)} ${KIND_LABEL[n.kind]} ${n.severity}  ${n.guidance.title}`);
    lines.push(...alertLines(n, opts.runbookBaseUrl, n.kind !== 'resolved'));
  }
  return wellFormed(`${lines.join('\n')}\n\n`);
}

export class ConsoleNotifier extends ChannelNotifier<ConsoleChannel, NotifierOptions & { writer?: ConsoleWriter }> implements Notifier {
  readonly type = 'console' as const;
  readonly minIntervalMs = 0;
  private readonly write: ConsoleWriter;

  constructor(config: ConsoleChannel, opts: NotifierOptions & { writer?: ConsoleWriter } = {}) {
    super(config, opts, 'console');
    this.write = opts.writer ?? ((t) => void process.stdout.write(t));
  }

  render(n: Notification): string {
    return renderConsole(n, { runbookBaseUrl: this.opts.runbookBaseUrl, minSeverity: this.config.minSeverity });
  }

  async send(n: Notification): Promise<DeliveryResult> {
    try {
      this.write(this.render(n));
      return { ok: true };
    } catch (err) {
      return { ok: false, retryable: true, error: `console: ${oneLine((err as Error)?.message ?? String(err), 200)}` };
    }
  }
}
