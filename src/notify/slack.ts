// Slack incoming webhooks through @slack/webhook, Block Kit messages.
//
// Every value that comes from AWS (store names, ids, codes, details) is escaped for mrkdwn: & < >
// become entities so `<!channel>` or `<@U123>` cannot ping, * _ ~ ` become look-alike characters so
// they cannot format, newlines are flattened in fields, and long values are truncated. The message
// stays inside Slack's limits (header 150, section text 3000, 10 fields of 2000, 50 blocks) by
// truncating, never by failing. Guidance text is the project's own (src/alert/remediation/table.ts)
// and may use `inline code`; it is still entity-escaped.
import { IncomingWebhook, type FetchFunction } from '@slack/webhook';
import type { ChannelConfig } from '../config/schema.js';
import type { AlertNotification, DigestNotification, Notification, Severity } from '../model.js';
import { ALERT_NAMES } from '../model.js';
import {
  KIND_LABEL,
  SEVERITY_EMOJI,
  digestItemsFor,
  httpFailure,
  iso,
  oneLine,
  ownerFacts,
  readBody,
  requestSignal,
  runbookUrl,
  transportFailure,
  truncate,
  type NotifierOptions,
  ChannelNotifier,
} from './common.js';
import type { DeliveryResult, Notifier } from './notifier.js';
import { cleanNotification, wellFormedDeep } from './text.js';

type SlackChannel = Extract<ChannelConfig, { type: 'slack' }>;

export const SLACK_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  /** Top-level `text`: Slack accepts far more; keep the fallback short. */
  text: 3000,
} as const;

export interface TextObject {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}
export type SlackBlock =
  | { type: 'header'; text: TextObject }
  | { type: 'section'; text?: TextObject; fields?: TextObject[] }
  | { type: 'context'; elements: TextObject[] }
  | { type: 'divider' };

export interface SlackPayload {
  text: string;
  blocks: SlackBlock[];
  unfurl_links: false;
  unfurl_media: false;
}

// ---------------------------------------------------------------------------------------------
// Escaping

const LOOKALIKE: Record<string, string> = { '*': '\u2217', _: '\u02cd', '~': '\u223c', '`': '\u02cb' };
const ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * Escapes an untrusted value for Slack mrkdwn and caps its escaped length at max characters
 * (entities count): newlines flattened, control characters dropped, & < > as entities, * _ ~ `
 * replaced by look-alikes.
 */
export function escapeMrkdwn(value: string | null | undefined, max = 200): string {
  const flat = oneLine(value ?? '', Number.MAX_SAFE_INTEGER);
  let out = '';
  let cut = -1;
  for (const ch of flat) {
    const piece = ENTITY[ch] ?? LOOKALIKE[ch] ?? ch;
    if (cut < 0 && out.length + piece.length > max - 1) cut = out.length;
    if (out.length + piece.length > max) return `${out.slice(0, cut)}…`;
    out += piece;
  }
  return out;
}

/** Escapes our own text (guidance): & < > only, so `inline code` keeps working. */
export function escapeAuthored(text: string): string {
  return text.replace(/[&<>]/g, (c) => ENTITY[c]!);
}

const CODE_SAFE = /^[A-Za-z0-9_.:/@+=,-]{1,128}$/;
/** Ids and codes as inline code when they are plainly ids, escaped text otherwise. */
export function mrkdwnId(value: string | null | undefined): string {
  if (!value) return '–';
  return CODE_SAFE.test(value) ? `\`${value}\`` : escapeMrkdwn(value, 200);
}

/** Makes a URL safe inside <url|label>. */
const linkUrl = (url: string): string => url.replace(/[|<>\s]/g, (c) => encodeURIComponent(c));
const link = (url: string, label: string): string => `<${linkUrl(url)}|${escapeAuthored(label).replace(/\|/g, '¦')}>`;

// ---------------------------------------------------------------------------------------------
// Blocks, clamped to the limits

const clampMrkdwn = (text: string, max: number): string => {
  if (text.length <= max) return text;
  // Do not cut an entity, a surrogate pair, a <link|label> or a code fence in half.
  let cut = text.slice(0, max - 1).replace(/&[a-z]{0,4}$/, '').replace(/[\ud800-\udbff]$/, '');
  const open = cut.lastIndexOf('<');
  if (open > cut.lastIndexOf('>')) cut = cut.slice(0, open);
  const fences = (cut.match(/```/g) ?? []).length;
  if (fences % 2 === 1) cut = `${cut.slice(0, Math.max(0, max - 5))}\n\`\`\``.slice(0, max - 1);
  return `${cut}…`;
};

// plain_text is not parsed for mentions, but keep angle brackets out of it anyway.
const header = (text: string): SlackBlock => ({
  type: 'header',
  text: { type: 'plain_text', text: truncate(oneLine(text, 1000).replace(/</g, '‹').replace(/>/g, '›'), SLACK_LIMITS.headerText), emoji: true },
});
const section = (text: string): SlackBlock => ({ type: 'section', text: { type: 'mrkdwn', text: clampMrkdwn(text, SLACK_LIMITS.sectionText) } });
const context = (...texts: string[]): SlackBlock => ({ type: 'context', elements: texts.slice(0, SLACK_LIMITS.contextElements).map((t) => ({ type: 'mrkdwn', text: clampMrkdwn(t, SLACK_LIMITS.sectionText) })) });
const fieldsBlock = (fields: [string, string][]): SlackBlock => ({
  type: 'section',
  fields: fields.slice(0, SLACK_LIMITS.fields).map(([label, value]) => ({ type: 'mrkdwn', text: clampMrkdwn(`*${label}*\n${value}`, SLACK_LIMITS.fieldText) })),
});

function headerText(n: Notification): string {
  const sev = n.severity;
  if (n.kind === 'digest') return `🚨 DIGEST ${sev}: ${n.items.length} key store alerts in one poll`;
  const title = n.guidance.title;
  switch (n.kind) {
    case 'firing':
      return `${SEVERITY_EMOJI[sev] ?? '⚪'} FIRING ${sev}: ${title}`;
    case 'reminder':
      return `🔁 STILL FIRING ${sev}: ${title}`;
    case 'resolved':
      return `✅ RESOLVED: ${title}`;
    case 'drill':
      return `🧪 TEST, fire drill (${sev}): ${title}`;
  }
}

function subjectFields(n: AlertNotification): [string, string][] {
  const s = n.subject;
  const fields: [string, string][] = [
    ['Account', `${mrkdwnId(s.accountId)}${s.accountName && s.accountName !== s.accountId ? ` ${escapeMrkdwn(s.accountName, 100)}` : ''}`],
    ['Region', mrkdwnId(s.region)],
  ];
  if (s.storeId || s.storeName) fields.push(['Key store', `${s.storeName ? `${escapeMrkdwn(s.storeName, 200)} ` : ''}${mrkdwnId(s.storeId)}`]);
  if (s.storeType) fields.push(['Type', mrkdwnId(s.storeType)]);
  if (s.state) fields.push(['State', mrkdwnId(s.state)]);
  if (s.errorCode) fields.push(['Error code', mrkdwnId(s.errorCode)]);
  if (s.clusterId) fields.push(['CloudHSM cluster', mrkdwnId(s.clusterId)]);
  fields.push([n.kind === 'resolved' ? 'Resolved at' : 'Since', iso(n.since)]);
  for (const [k, v] of Object.entries(s.details ?? {})) {
    if (fields.length >= SLACK_LIMITS.fields) break;
    fields.push([escapeMrkdwn(k, 60), escapeMrkdwn(v, 500)]);
  }
  return fields;
}

/** Commands as code blocks, as many sections as needed, each ≤ 3000 characters. */
function commandSections(commands: string[]): SlackBlock[] {
  const out: SlackBlock[] = [];
  const fence = '```';
  const budget = SLACK_LIMITS.sectionText - 2 * fence.length - 20;
  let chunk: string[] = [];
  let size = 0;
  const flush = () => {
    if (chunk.length) out.push(section(`${out.length === 0 ? '*Commands*\n' : ''}${fence}\n${chunk.join('\n')}\n${fence}`));
    chunk = [];
    size = 0;
  };
  for (const raw of commands) {
    // Inside a code block only & < > matter, and a fence would end the block early.
    const c = truncate(escapeAuthored(raw.replace(/[\r\n]+/g, ' ').replace(/```/g, '`\u200b`\u200b`')), budget);
    if (size + c.length + 1 > budget) flush();
    chunk.push(c);
    size += c.length + 1;
  }
  flush();
  return out;
}

function alertBlocks(n: AlertNotification, base: string | undefined): SlackBlock[] {
  const g = n.guidance;
  const blocks: SlackBlock[] = [header(headerText(n))];
  const name = ALERT_NAMES[n.condition] ?? g.runbookAnchor;
  if (n.kind === 'drill') {
    blocks.push(section('*This is a TEST.* It was sent by `keystore-watch drill` to check that alerts reach this channel. No key store was touched and nothing needs doing; the guidance below is what a real alert would carry.'));
  } else if (n.kind === 'reminder') {
    blocks.push(section(`Still firing since ${iso(n.since)}. This is a reminder; the alert has not resolved.`));
  } else if (n.kind === 'resolved') {
    blocks.push(section(`Resolved: the condition cleared at ${iso(n.since)}. No action needed.`));
  }
  blocks.push(fieldsBlock(subjectFields(n)));
  // Owner facts in their own line, not as fields: the ten fields are taken by the store and its details.
  const owner = ownerFacts(n.subject);
  if (owner.length) blocks.push(context(owner.map(([k, v]) => (k === 'OU' ? `*OU* ${mrkdwnId(v)}` : `*${escapeMrkdwn(k, 128)}* ${escapeMrkdwn(v, 256)}`)).join(' · ')));
  blocks.push(section(`*Summary*\n${escapeAuthored(g.summary)}`));
  if (n.kind !== 'resolved') {
    blocks.push(section(`*Likely cause*\n${escapeAuthored(g.cause)}`));
    if (g.steps.length) blocks.push(section(`*Steps*\n${g.steps.map((s, i) => `${i + 1}. ${escapeAuthored(s)}`).join('\n')}`));
    blocks.push(...commandSections(g.commands));
  }
  const links = [...(n.statusUrl ? [link(n.statusUrl, 'Status page: this store')] : []), link(runbookUrl(base, g.runbookAnchor), `Runbook: ${name}`), ...(n.kind === 'resolved' ? [] : g.docs.map((d) => link(d.url, d.title)))];
  blocks.push(section(`*Links*\n${links.map((l) => `• ${l}`).join('\n')}`));
  blocks.push(context(`keystore-watch · ${KIND_LABEL[n.kind]} · alert ${escapeMrkdwn(n.alertKey, 300)} · id ${escapeMrkdwn(n.id, 100)}`));
  return blocks;
}

function digestBlocks(n: DigestNotification, items: AlertNotification[], base: string | undefined): SlackBlock[] {
  const blocks: SlackBlock[] = [header(headerText({ ...n, items }))];
  blocks.push(section(`*${items.length} key store alerts* changed in one poll, grouped by finding below. Each store keeps its own alert and gets its own resolved message.`));
  const groups = new Map<string, AlertNotification[]>();
  for (const i of items) {
    const key = `${i.condition}/${i.subject.errorCode ?? ''}/${i.guidance.title}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  const room = SLACK_LIMITS.blocks - blocks.length - 2; // keep room for the overflow note and the context
  let shown = 0;
  for (const group of groups.values()) {
    if (shown >= room) break;
    shown++;
    const g = group[0]!.guidance;
    const name = ALERT_NAMES[group[0]!.condition] ?? g.runbookAnchor;
    const head = `*${escapeAuthored(g.title)}* (${group.length}) · ${link(runbookUrl(base, g.runbookAnchor), `Runbook: ${name}`)}\n${escapeAuthored(g.summary)}\n`;
    const tail = (left: number) => `\n…and ${left} more`;
    let body = '';
    let listed = 0;
    for (const i of group) {
      const s = i.subject;
      const line = `• ${i.kind === 'firing' ? '' : `${KIND_LABEL[i.kind]} `}${mrkdwnId(s.accountId)} ${mrkdwnId(s.region)} ${s.storeName ? `${escapeMrkdwn(s.storeName, 80)} ` : ''}${mrkdwnId(s.storeId ?? s.clusterId)}${s.ouPath ? ` · OU ${mrkdwnId(s.ouPath)}` : ''}${i.statusUrl ? ` · ${link(i.statusUrl, 'status')}` : ''}`;
      if (head.length + body.length + line.length + 1 + tail(group.length).length > SLACK_LIMITS.sectionText - 10) break;
      body += `${line}\n`;
      listed++;
    }
    blocks.push(section(`${head}${body.trimEnd()}${listed < group.length ? tail(group.length - listed) : ''}`));
  }
  if (shown < groups.size) blocks.push(section(`…and ${groups.size - shown} more findings; see the keystore-watch /api/v1/alerts endpoint for the full list.`));
  blocks.push(context(`keystore-watch · DIGEST · id ${escapeMrkdwn(n.id, 100)}`));
  return blocks;
}

function fallbackText(n: Notification, items: AlertNotification[]): string {
  if (n.kind === 'digest') {
    const list = items.slice(0, 20).map((i) => `${escapeMrkdwn(i.subject.storeName ?? i.subject.storeId ?? i.subject.clusterId ?? '', 60)} ${escapeMrkdwn(i.subject.errorCode ?? i.condition, 60)}`).join(', ');
    return clampMrkdwn(`${escapeAuthored(headerText({ ...n, items }))}: ${list}`, SLACK_LIMITS.text);
  }
  const s = n.subject;
  const where = [escapeMrkdwn(s.accountId, 20), escapeMrkdwn(s.region, 30), s.storeName ? escapeMrkdwn(s.storeName, 100) : '', s.storeId ? `(${escapeMrkdwn(s.storeId, 64)})` : ''].filter(Boolean).join(' ');
  return clampMrkdwn(`${escapeAuthored(headerText(n))}: ${where}. ${escapeAuthored(n.guidance.summary)}`, SLACK_LIMITS.text);
}

/** Last line of defence: never more than 50 blocks. */
function fit(blocks: SlackBlock[]): SlackBlock[] {
  if (blocks.length <= SLACK_LIMITS.blocks) return blocks;
  const keep = blocks.slice(0, SLACK_LIMITS.blocks - 1);
  keep.push(context(`…${blocks.length - keep.length} more blocks left out to stay within Slack limits.`));
  return keep;
}

/** The Slack message for a notification (pure). Digest items are filtered by the channel's minSeverity. */
export function renderSlack(raw: Notification, opts: { runbookBaseUrl?: string; minSeverity?: Severity } = {}): SlackPayload {
  const n = cleanNotification(raw);
  const items = n.kind === 'digest' ? digestItemsFor(opts.minSeverity ?? 'info', n) : [];
  const blocks = n.kind === 'digest' ? digestBlocks(n, items, opts.runbookBaseUrl) : alertBlocks(n, opts.runbookBaseUrl);
  return wellFormedDeep({ text: fallbackText(n, items), blocks: fit(blocks), unfurl_links: false, unfurl_media: false });
}

export class SlackNotifier extends ChannelNotifier<SlackChannel> implements Notifier {
  readonly type = 'slack' as const;
  readonly minIntervalMs = 1000;

  constructor(config: SlackChannel, opts: NotifierOptions = {}) {
    super(config, opts, 'slack');
  }

  render(n: Notification): SlackPayload {
    return renderSlack(n, { runbookBaseUrl: this.opts.runbookBaseUrl, minSeverity: this.config.minSeverity });
  }

  async send(n: Notification, signal?: AbortSignal): Promise<DeliveryResult> {
    const secrets = [this.config.webhookUrl];
    let last: Response | undefined;
    // @slack/webhook hides the response headers; wrap fetch to read Retry-After, and to add the caller's signal.
    const fetchFn: FetchFunction = async (url, init) => {
      const res = await fetch(url, { ...init, signal: requestSignal(this.timeoutMs, signal, init?.signal) } as RequestInit);
      last = res;
      return last as unknown as Awaited<ReturnType<FetchFunction>>;
    };
    try {
      const payload = this.render(n);
      const hook = new IncomingWebhook(this.config.webhookUrl, { fetch: fetchFn, timeout: this.timeoutMs, retryConfig: { retries: 0 } });
      await hook.send(payload as unknown as Parameters<IncomingWebhook['send']>[0]);
      return { ok: true, status: last?.status ?? 200 };
    } catch (err) {
      const e = err as { statusCode?: number; body?: unknown; original?: unknown };
      if (typeof e?.statusCode === 'number') {
        const body = typeof e.body === 'string' ? e.body : last ? await readBody(last) : '';
        return httpFailure(e.statusCode, body, last?.headers, secrets, 'slack');
      }
      return transportFailure(e?.original ?? err, this.timeoutMs, secrets, 'slack', signal);
    }
  }
}
