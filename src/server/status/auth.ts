// Who is looking at the status page and whether they may act, for the two documented set-ups:
//   - http.authToken: a login form takes the token (the same one the API's Bearer header carries) and
//     sets a session cookie: HttpOnly, SameSite=Strict, Path=<base>/, Secure when the page is served
//     over TLS (http.tls, or an https http.externalUrl behind a TLS-terminating proxy). Sessions live
//     in this process's memory (a restart signs everyone out) and end after SESSION_TTL_MS.
//   - http.trustedUserHeader: an authenticating proxy (oauth2-proxy, ...) in front of the daemon sets
//     the header to the user's name; a request with it is that user. Only safe when the daemon is
//     reachable through that proxy alone (the proxy must also strip the header from client requests).
// Every action (a POST from the page) carries a CSRF token: the session's own random token, or for a
// proxy user an HMAC of the user name under a per-process secret. Writes are possible only when
// http.authToken is set (a daemon without one stays read-only, like the API's write endpoints).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'kw_session';
export const SESSION_TTL_MS = 12 * 3600_000;
const MAX_SESSIONS = 10_000;

export interface AuthOptions {
  authToken: string | null;
  trustedUserHeader: string | null;
  /** Secure cookies (the page is reached over TLS). */
  secure: boolean;
  /** Cookie path: the page's base path. */
  base: string;
  now?: () => number;
}

export interface Viewer {
  /** The signed-in user (session or proxy header), null when anonymous. */
  user: string | null;
  via: 'session' | 'proxy' | 'bearer' | 'anonymous';
  /** May read the pages: always without http.authToken; with one, only signed in (or a Bearer token). */
  canRead: boolean;
  /** May act (acknowledge, silence, drill): signed in and writes enabled (http.authToken set). */
  canWrite: boolean;
  /** The token every action form carries; null when the viewer cannot act. */
  csrf: string | null;
  /** The session id (to sign out). */
  sessionId: string | null;
}

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (k && !(k in out)) out[k] = part.slice(i + 1).trim();
  }
  return out;
}

/** User names shown on the page and written into silences/acks: printable, bounded. */
export const cleanUser = (name: string): string => name.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 128);

export class StatusAuth {
  private readonly sessions = new Map<string, { user: string; csrf: string; expiresAt: number }>();
  private readonly secret = randomBytes(32);
  private readonly now: () => number;

  constructor(private readonly opts: AuthOptions) {
    this.now = opts.now ?? Date.now;
  }

  get loginAvailable(): boolean { return this.opts.authToken !== null; }
  get writesEnabled(): boolean { return this.opts.authToken !== null; }

  viewer(req: IncomingMessage): Viewer {
    const { authToken, trustedUserHeader } = this.opts;
    if (trustedUserHeader) {
      const raw = req.headers[trustedUserHeader.toLowerCase()];
      const user = cleanUser(Array.isArray(raw) ? raw[0] ?? '' : raw ?? '');
      if (user) {
        const csrf = authToken ? createHmac('sha256', this.secret).update(`proxy:${user}`).digest('base64url') : null;
        return { user, via: 'proxy', canRead: true, canWrite: csrf !== null, csrf, sessionId: null };
      }
    }
    const sid = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    if (sid && authToken) {
      const s = this.sessions.get(sid);
      if (s && s.expiresAt > this.now()) return { user: s.user, via: 'session', canRead: true, canWrite: true, csrf: s.csrf, sessionId: sid };
      if (s) this.sessions.delete(sid);
    }
    const header = req.headers.authorization ?? '';
    if (authToken && header.startsWith('Bearer ') && equal(header.slice(7), authToken)) {
      // An API client reading the page (no cookie): it can read; acting goes through the API itself.
      return { user: null, via: 'bearer', canRead: true, canWrite: false, csrf: null, sessionId: null };
    }
    return { user: null, via: 'anonymous', canRead: authToken === null, canWrite: false, csrf: null, sessionId: null };
  }

  /** The login form's token check; a session cookie value on success. */
  login(token: string, user: string): { cookie: string } | null {
    const want = this.opts.authToken;
    if (!want || !equal(token, want)) return null;
    const now = this.now();
    for (const [k, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(k);
    // Oldest first out when full (Map order is insertion order).
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const sid = randomBytes(32).toString('base64url');
    this.sessions.set(sid, { user: cleanUser(user) || 'token holder', csrf: randomBytes(32).toString('base64url'), expiresAt: now + SESSION_TTL_MS });
    return { cookie: this.cookie(sid, SESSION_TTL_MS / 1000) };
  }

  logout(sessionId: string | null): string {
    if (sessionId) this.sessions.delete(sessionId);
    return this.cookie('', 0);
  }

  private cookie(value: string, maxAgeSeconds: number): string {
    return `${SESSION_COOKIE}=${value}; Path=${this.opts.base || '/'}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${this.opts.secure ? '; Secure' : ''}`;
  }

  /** True when the form's token is the viewer's (constant time). */
  checkCsrf(viewer: Viewer, given: string | undefined): boolean {
    return viewer.canWrite && viewer.csrf !== null && typeof given === 'string' && equal(given, viewer.csrf);
  }
}
