// Helpers shared by the notifiers: routing by severity, text clamping, HTTP outcome classification,
// Retry-After parsing, per-request timeouts and error scrubbing. Nothing here does I/O.
import { SEVERITY_RANK, type AlertNotification, type AlertSubject, type Notification, type Severity } from '../model.js';
import { redact } from '../util/redact.js';
import type { DeliveryResult } from './notifier.js';

/** Where `runbookAnchor`s point unless the caller configures another copy of docs/runbooks.md. */
export const DEFAULT_RUNBOOK_BASE_URL = 'https://github.com/keystore-watch/keystore-watch/blob/main/docs/runbooks.md';
/** Per-request timeout of every HTTP notifier. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Options every notifier takes besides its channel config. */
export interface NotifierOptions {
  /** Channel id (see createNotifiers); defaults to the channel name or type. */
  id?: string;
  /** URL of docs/runbooks.md; `#<runbookAnchor>` is appended. */
  runbookBaseUrl?: string;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
  /** Clock for timestamps that are not part of the notification (webhook signature). */
  now?: () => number;
}

export const runbookUrl = (base: string | undefined, anchor: string): string => {
  const b = (base ?? DEFAULT_RUNBOOK_BASE_URL).replace(/#.*$/, '');
  return `${b}#${encodeURIComponent(anchor)}`;
};

const passes = (min: Severity, s: Severity): boolean => (SEVERITY_RANK[s] ?? 0) >= SEVERITY_RANK[min];

/**
 * Routing: drills go everywhere (that is their point); every other notification, resolved ones
 * included, goes to channels whose minSeverity it meets, using the severity of the alert itself.
 * A digest goes to a channel when at least one of its items does.
 */
export function acceptsNotification(min: Severity, n: Notification): boolean {
  if (n.kind === 'drill') return true;
  if (n.kind === 'digest') return n.items.some((i) => i.kind === 'drill' || passes(min, i.severity));
  return passes(min, n.severity);
}

/** The items of a digest a channel takes (a PagerDuty channel for critical gets only the critical ones). */
export const digestItemsFor = (min: Severity, n: Notification): AlertNotification[] =>
  n.kind === 'digest' ? n.items.filter((i) => i.kind === 'drill' || passes(min, i.severity)) : [];

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const NEWLINES = /[\r\n\t\u2028\u2029\u0085]+/g;

/** Cuts to at most max code points, ending with "…" when cut. Never splits a surrogate pair. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  // Length in UTF-16 units (what JSON limits and Slack count), but never half a surrogate pair.
  let out = '';
  for (const cp of s) {
    if (out.length + cp.length > max - 1) break;
    out += cp;
  }
  return `${out}…`;
}

/** One line of text from an untrusted value: control characters (terminal escapes) dropped, newlines flattened, capped. */
export function oneLine(s: string | null | undefined, max = 256): string {
  if (s === null || s === undefined) return '';
  return truncate(String(s).replace(NEWLINES, ' ').replace(CONTROL, '').trim(), max);
}

export const iso = (ms: number): string => {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : 'unknown time';
};

/** Full ISO 8601 (milliseconds included) of the first valid epoch ms, else the epoch itself: for machine-read timestamps. */
export const isoTimestamp = (...candidates: number[]): string => {
  for (const ms of candidates) {
    const d = new Date(ms);
    if (Number.isFinite(d.getTime())) return d.toISOString();
  }
  return new Date(0).toISOString();
};

/** The severity mark of a firing alert in the human-read channels (console, Slack). */
export const SEVERITY_EMOJI: Record<Severity, string> = { critical: '🔴', warning: '🟠', info: '🔵' };

export const KIND_LABEL: Record<Notification['kind'], string> = {
  firing: 'FIRING',
  reminder: 'STILL FIRING',
  resolved: 'RESOLVED',
  digest: 'DIGEST',
  drill: 'TEST (fire drill)',
};

/** "name (cks-…)" or the id alone; untrusted parts flattened and capped. */
export function storeLabel(s: AlertSubject, max = 120): string {
  const name = oneLine(s.storeName, max);
  const id = oneLine(s.storeId, 64);
  if (name && id) return `${name} (${id})`;
  return name || id || '';
}

/**
 * The account's owner facts as [label, value] pairs, OU path first, then the tags in key order: what
 * people (and, later, routing) read to know whose account it is. Untrusted (tags are set by anyone who
 * may tag the account): flattened and capped here, escaped further by each channel.
 */
export function ownerFacts(s: Pick<AlertSubject, 'ouPath' | 'tags'>, max = 20): [string, string][] {
  const out: [string, string][] = [];
  if (s.ouPath) out.push(['OU', oneLine(s.ouPath, 300)]);
  for (const k of Object.keys(s.tags ?? {}).sort().slice(0, max)) out.push([oneLine(k, 128), oneLine(s.tags![k], 256)]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP outcomes

/** Retry-After is seconds or an HTTP date; returns ms, capped at one hour, or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, Math.round(ms)), 3_600_000);
}

/** 408, 425, 429 and 5xx may succeed later; other 4xx (and redirects, which are never followed) will not. */
export const retryableStatus = (status: number): boolean => status === 408 || status === 425 || status === 429 || status >= 500;

/** Removes the channel's secrets (and anything registered with redact()) from a text we are about to return. */
export function scrub(text: string, secrets: (string | null | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    // Very short values (a header such as "1") would blank ordinary words; real secrets are long.
    if (!s || s.length < 6) continue;
    out = out.split(s).join('[REDACTED]');
    // The path of a URL (Slack's /services/T/B/X) is the secret part; never echo it either.
    try {
      const u = new URL(s);
      if (u.pathname.length >= 6) out = out.split(u.pathname).join('[REDACTED]');
      if (u.search.length >= 6) out = out.split(u.search).join('[REDACTED]');
    } catch {
      /* not a URL */
    }
  }
  return redact(out);
}

export function httpFailure(status: number, detail: string, headers: { get(name: string): string | null } | undefined, secrets: (string | null | undefined)[], channel: string): DeliveryResult {
  const retryable = retryableStatus(status);
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(headers?.get('retry-after')) : undefined;
  const d = oneLine(detail, 300);
  return {
    ok: false,
    retryable,
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    error: scrub(`${channel}: HTTP ${status}${status >= 300 && status < 400 ? ' (redirect not followed)' : ''}${d ? `: ${d}` : ''}`, secrets),
  };
}

/** A request that got no HTTP answer: timeout, abort, refused, reset, DNS. Always retryable. */
export function transportFailure(err: unknown, timeoutMs: number, secrets: (string | null | undefined)[], channel: string, external?: AbortSignal): DeliveryResult {
  const e = err as { name?: string; code?: string; message?: string; cause?: unknown } | undefined;
  const cause = (e?.cause ?? undefined) as { name?: string; code?: string; message?: string; cause?: unknown } | undefined;
  let what: string;
  if (external?.aborted) what = 'aborted';
  else if (e?.name === 'TimeoutError' || cause?.name === 'TimeoutError') what = `timed out after ${timeoutMs} ms`;
  else if (e?.name === 'AbortError' || cause?.name === 'AbortError') what = 'aborted';
  else {
    const code = cause?.code ?? (cause?.cause as { code?: string } | undefined)?.code ?? e?.code;
    what = `network error${code ? ` (${code})` : ''}`;
  }
  return { ok: false, retryable: true, error: scrub(`${channel}: ${what}`, secrets) };
}

/** The per-request timeout combined with the caller's signal. */
export function requestSignal(timeoutMs: number, external?: AbortSignal, inner?: AbortSignal | null): AbortSignal {
  const signals = [AbortSignal.timeout(timeoutMs)];
  if (external) signals.push(external);
  if (inner) signals.push(inner);
  return signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
}

/** Reads at most max characters of a response body, never throwing. */
export async function readBody(res: { text(): Promise<string> }, max = 2000): Promise<string> {
  try {
    return (await res.text()).slice(0, max);
  } catch {
    return '';
  }
}

/**
 * What every channel shares: its id (configured name, else the type), the per-request timeout and
 * routing by minSeverity. Each channel file adds render() and send().
 */
export abstract class ChannelNotifier<C extends { minSeverity: Severity; name?: string }, O extends NotifierOptions = NotifierOptions> {
  readonly id: string;
  protected readonly timeoutMs: number;

  constructor(protected readonly config: C, protected readonly opts: O, fallbackId: string) {
    this.id = opts.id ?? config.name ?? fallbackId;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  accepts(n: Notification): boolean {
    return acceptsNotification(this.config.minSeverity, n);
  }
}
