// Secret hygiene: the one redaction rule for logs, the HTTP API, metrics, notifications and CLI output.
//
// A value is a secret because of what it is, never because of where it came from:
//   - the values the configuration holds under a secret key (isSecretKey: webhook URLs, routing keys,
//     HMAC secrets, tokens, passwords, auth headers; see secretConfigValues in config/load.ts), which are
//     registered here once the configuration is parsed, and then replaced wherever they appear in text;
//   - shapes that are secrets wherever they appear: credentials in URLs (https://user:pass@host),
//     AWS secret keys and session tokens, Slack webhook paths, bearer/basic authorization values,
//     token-like URL query parameters;
//   - in structured values (log fields, API answers), any field whose key is a secret key.
// A region, account id or listen address taken from ${ENV} is not a secret and is shown as it is.
const secrets = new Set<string>();
let pattern: RegExp | null = null;
/** Changes whenever the set of secrets does: a cache of redacted text must be dropped then (metrics/render.ts). */
let generation = 0;
export const secretsGeneration = (): number => generation;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export const REDACTED = '[REDACTED]';

export function registerSecret(value: string | null | undefined): void {
  // Very short values would redact ordinary words; real secrets are long.
  if (!value || value.length < 6 || secrets.has(value)) return;
  secrets.add(value);
  generation++;
  // Longest first so a secret containing another is replaced whole.
  pattern = new RegExp([...secrets].sort((a, b) => b.length - a.length).map(escape).join('|'), 'g');
}

/**
 * Key names whose values are secrets, in the config (alerting.channels[].hmacSecret, http.authToken,
 * webhook header names such as Authorization or X-Api-Key), in log fields and in API answers.
 */
const SECRET_KEY = /secret|token|passw|passphrase|credential|authoriz|cookie|api[-_]?key|private[-_]?key|routing[-_]?key|webhook[-_]?url|signature|^auth$|[-_]auth(?:[-_]|$)/i;
const keyVerdicts = new Map<string, boolean>();
export function isSecretKey(key: string): boolean {
  let v = keyVerdicts.get(key);
  if (v === undefined) {
    v = SECRET_KEY.test(key);
    if (keyVerdicts.size < 10_000) keyVerdicts.set(key, v);
  }
  return v;
}

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi;
const AWS_SECRET_FIELDS = /("?(?:SecretAccessKey|secretAccessKey|SessionToken|sessionToken|aws_secret_access_key|aws_session_token)"?\s*[:=]\s*"?)[^"\s,}]+/g;
const SLACK_HOOK = /https:\/\/hooks\.slack\.com\/[^\s"']+/g;
const AUTH_VALUE = /\b(authorization|proxy-authorization|x-api-key|x-auth-token)("?\s*[:=]\s*"?)(?:(Bearer|Basic|Token)\s+)?[^\s"',}]+/gi;
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g;
/** URL query parameters whose name is, or ends in, a credential word (?token=, &access_token=, ?sig=, ?api_key=). */
const QUERY_SECRET = /([?&](?:[^=&\s"'#]*[-_.])?(?:token|secret|password|passwd|signature|sig|api[-_]?key|apikey|auth|key|code)=)[^&\s"'#]+/gi;

export function redact(text: string): string {
  let out = pattern ? text.replace(pattern, REDACTED) : text;
  out = out
    .replace(URL_CREDENTIALS, `$1${REDACTED}@`)
    .replace(AWS_SECRET_FIELDS, `$1${REDACTED}`)
    .replace(SLACK_HOOK, `https://hooks.slack.com/${REDACTED}`)
    .replace(AUTH_VALUE, (_m, name: string, sep: string, scheme: string | undefined) => `${name}${sep}${scheme ? scheme + ' ' : ''}${REDACTED}`)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(QUERY_SECRET, `$1${REDACTED}`);
  return out;
}

/**
 * redact() for metric label values (values shorter than any secret pattern pass as they are). The metric
 * renderer memoises the escaped result per value (metrics/render.ts escapeLabel), so this runs once per
 * distinct value, not once per series and poll.
 */
export function redactLabel(value: string): string {
  return value.length < 6 ? value : redact(value);
}

/** What a log line or an API answer keeps of an Error: name, message, code, stack (and cause), scrubbed. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string | number;
  stack?: string;
  [extra: string]: unknown;
}

export function serializeError(err: Error, depth = 0): SerializedError {
  const e = err as Error & { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown; $metadata?: { httpStatusCode?: number; requestId?: string }; cause?: unknown; errors?: unknown };
  const out: SerializedError = { name: redact(String(e.name ?? 'Error')), message: redact(String(e.message ?? '')) };
  // AWS SDK errors carry their code in name; Node system errors in code.
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? e.code : e.$metadata ? e.name : undefined;
  if (code !== undefined) out.code = typeof code === 'string' ? redact(code) : code;
  if (typeof e.syscall === 'string') out.syscall = e.syscall;
  if (typeof e.path === 'string') out.path = redact(e.path);
  if (e.$metadata?.httpStatusCode) out.statusCode = e.$metadata.httpStatusCode;
  if (e.$metadata?.requestId) out.requestId = e.$metadata.requestId;
  if (typeof e.stack === 'string') out.stack = redact(e.stack);
  if (depth < 3 && e.cause !== undefined) out.cause = e.cause instanceof Error ? serializeError(e.cause, depth + 1) : redactValue(e.cause);
  if (depth < 3 && Array.isArray(e.errors)) out.errors = e.errors.slice(0, 5).map((x) => (x instanceof Error ? serializeError(x, depth + 1) : redactValue(x)));
  return out;
}

/**
 * Deep-redacts a JSON-able value (API answers, log fields): strings through redact(), fields under a
 * secret key replaced whole, Errors serialised (an Error has no enumerable fields: JSON would say {}).
 */
export function redactValue<T>(value: T): T {
  return redactAt(value, undefined, new WeakSet()) as T;
}

function redactAt(value: unknown, key: string | undefined, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return key !== undefined && value !== '' && isSecretKey(key) ? REDACTED : redact(value);
  if (value instanceof Error) return serializeError(value);
  if (Array.isArray(value)) {
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    return value.map((v) => redactAt(v, key, seen));
  }
  if (value && typeof value === 'object') {
    if (value instanceof Date || Buffer.isBuffer(value)) return value;
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactAt(v, k, seen)]));
  }
  return value;
}

/** For tests. */
export function clearSecrets(): void {
  secrets.clear();
  generation++;
  pattern = null;
}
