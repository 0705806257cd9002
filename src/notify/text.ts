// Outbound text hygiene: every string that leaves in a notification goes through here first.
//
// AWS hands us names and ids we do not control (a custom key store's name is free text). Two kinds of
// characters in them make trouble downstream:
//   - lone UTF-16 surrogates: JSON.stringify writes them as `\ud800` escapes, which strict JSON
//     parsers (and Slack) reject as invalid Unicode: a 400, and the alert is lost. Replaced by U+FFFD.
//   - invisible format characters (Unicode category Cf): bidi overrides and isolates (U+202A-U+202E,
//     U+2066-U+2069) can make "prod-hsm" read as something else or reorder a whole Slack line; zero-width
//     spaces/joiners, soft hyphens, BOMs and tag characters hide text. They are shown escaped, as
//     `<U+202E>`, so on-call sees that the name holds them and nothing renders reversed or hidden.
// Applied to the whole notification (subject, guidance, keys) before a notifier renders it, so each
// notifier's own clamping to its channel's limits still holds after the escaping.
import type { Notification } from '../model.js';

const FORMAT_CHAR = /\p{Cf}/gu;
// Without the u flag a regex sees UTF-16 code units: a high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Lone surrogates replaced by U+FFFD (String.prototype.toWellFormed, which the project's TS lib target does not declare). Same length. */
export const wellFormed = (s: string): string => s.replace(LONE_SURROGATE, '\uFFFD');

/** `<U+202E>`: the visible stand-in for an invisible format character. */
export const escapedCodePoint = (c: string): string => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`;

/** Well-formed Unicode with every format (Cf) character shown escaped. Pure; idempotent. */
export function cleanText(s: string): string {
  return wellFormed(s).replace(FORMAT_CHAR, escapedCodePoint);
}

/** cleanText over every string (object keys included) of a JSON-like value; other values unchanged. */
export function cleanDeep<T>(value: T): T {
  if (typeof value === 'string') return cleanText(value) as T;
  if (Array.isArray(value)) return value.map(cleanDeep) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [cleanText(k), cleanDeep(v)])) as T;
  }
  return value;
}

/** The notification as every notifier renders it: cleanText applied to all its text. */
export const cleanNotification = <N extends Notification>(n: N): N => cleanDeep(n);

/** Last-resort guard on a rendered payload: lone surrogates replaced (same length, so channel limits still hold). */
export function wellFormedDeep<T>(value: T): T {
  if (typeof value === 'string') return wellFormed(value) as T;
  if (Array.isArray(value)) return value.map(wellFormedDeep) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k), wellFormedDeep(v)])) as T;
  }
  return value;
}
