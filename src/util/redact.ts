// Secret hygiene: every secret the process learns (webhook URLs, routing keys, HMAC secrets, tokens,
// AWS secret keys) is registered here, and every log line, error message and API answer passes
// through redact() on its way out.
const secrets = new Set<string>();
let pattern: RegExp | null = null;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function registerSecret(value: string | null | undefined): void {
  // Very short values would redact ordinary words; real secrets are long.
  if (!value || value.length < 6 || secrets.has(value)) return;
  secrets.add(value);
  // Longest first so a secret containing another is replaced whole.
  pattern = new RegExp([...secrets].sort((a, b) => b.length - a.length).map(escape).join('|'), 'g');
}

const URL_CREDENTIALS = /(https?:\/\/)[^\s/@]+:[^\s/@]+@/g;
const AWS_SECRET_FIELDS = /("?(?:SecretAccessKey|secretAccessKey|SessionToken|sessionToken|aws_secret_access_key|aws_session_token)"?\s*[:=]\s*"?)[^"\s,}]+/g;
const SLACK_HOOK = /https:\/\/hooks\.slack\.com\/[^\s"']+/g;

export function redact(text: string): string {
  let out = pattern ? text.replace(pattern, '[REDACTED]') : text;
  out = out.replace(URL_CREDENTIALS, '$1[REDACTED]@').replace(AWS_SECRET_FIELDS, '$1[REDACTED]').replace(SLACK_HOOK, 'https://hooks.slack.com/[REDACTED]');
  return out;
}

/** Deep-redacts a JSON-able value (API answers, log fields). */
export function redactValue<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map(redactValue) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValue(v)])) as T;
  }
  return value;
}

/** For tests. */
export function clearSecrets(): void {
  secrets.clear();
  pattern = null;
}
