// The daemon's HTTP API as the `silence` and `ack` commands call it (like amtool): --url (default
// $KEYSTORE_WATCH_URL or http://127.0.0.1:9464), the bearer token from --token-file or
// $KEYSTORE_WATCH_TOKEN. Errors name what to fix; the server's answer is shown without control characters.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { printable, UsageError } from './common.js';

export const CLIENT_OPTIONS = {
  url: { type: 'string' },
  'token-file': { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CLIENT_USAGE = `connection:
  --url URL           the daemon (default $KEYSTORE_WATCH_URL or http://127.0.0.1:9464)
  --token-file FILE   the bearer token (http.authToken); default $KEYSTORE_WATCH_TOKEN
  -o, --output F      simple (default) or json`;

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export interface ApiClient {
  request(method: string, path: string, body?: unknown): Promise<unknown>;
}

export function parseCommand<T extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>(argv: string[], options: T, usage: string) {
  try {
    const r = parseArgs({ args: argv, options: { ...CLIENT_OPTIONS, ...options }, allowPositionals: true, strict: true });
    if ((r.values as { help?: boolean }).help) { process.stdout.write(usage + '\n'); return null; }
    return r as { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
}

export function clientFrom(values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const base = String(values.url ?? env.KEYSTORE_WATCH_URL ?? 'http://127.0.0.1:9464').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+$/i.test(base)) throw new UsageError(`--url must be http(s)://host:port, got ${JSON.stringify(base)}`);
  let token = env.KEYSTORE_WATCH_TOKEN ?? '';
  if (typeof values['token-file'] === 'string') {
    try { token = readFileSync(values['token-file'], 'utf8').trim(); } catch (err) { throw new UsageError(`cannot read --token-file: ${(err as Error).message}`); }
  }
  return {
    async request(method, path, body) {
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        throw new ApiError(0, `cannot reach ${base}: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`);
      }
      const text = await res.text();
      if (!res.ok) {
        const hint = res.status === 401 ? ' (set KEYSTORE_WATCH_TOKEN or --token-file to the daemon\'s http.authToken)' : '';
        throw new ApiError(res.status, `${method} ${path}: HTTP ${res.status}: ${printable(text.trim()).slice(0, 2000)}${hint}`);
      }
      try { return JSON.parse(text); } catch { throw new ApiError(res.status, `${method} ${path}: the answer is not JSON`); }
    },
  };
}

/** Exit code for a failure: 2 for usage, 1 otherwise, message on stderr. */
export function fail(err: unknown): number {
  if (err instanceof UsageError) { process.stderr.write(`keystore-watch: ${err.message}\n`); return 2; }
  process.stderr.write(`keystore-watch: ${printable(err instanceof Error ? err.message : String(err))}\n`);
  return 1;
}

/** "2h", "30m", "1d", "90s", "1h30m" to ms (amtool's --duration). */
export function cliDuration(v: string): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v.trim());
  if (!m || v.trim() === '') throw new UsageError(`bad duration ${JSON.stringify(v)}: use e.g. 2h, 30m, 1d, 1h30m`);
  const ms = ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 + Number(m[4] ?? 0) * 1000;
  if (ms <= 0) throw new UsageError('the duration must be positive');
  return ms;
}

/** An RFC 3339 time, or a duration from now ("+2h" / "2h"). */
export function cliTime(v: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const t = Date.parse(v);
    if (!Number.isFinite(t)) throw new UsageError(`bad time ${JSON.stringify(v)}: use RFC 3339, e.g. 2026-11-30T18:00:00Z`);
    return t;
  }
  return now + cliDuration(v.replace(/^\+/, ''));
}
