// The status page's endpoints (HttpRoutes, src/server/http.ts), registered by Daemon.httpRoutes():
//   GET  /, /fleet, /stores/:account/:region/:id      the pages (server-rendered HTML)
//   GET  /assets/:file                                the stylesheet, the script, the icon (files in the package)
//   GET  /login, POST /login, POST /logout            the session (auth.ts)
//   POST /actions/{ack,silence,expire,drill}          actions: a signed-in viewer and the form's CSRF token
// The routes are 'public' for the HTTP layer: this module decides access itself (a browser carries a
// session cookie or a proxy header, not a Bearer header). With http.externalUrl under a path prefix
// (https://ops.example.com/keystore-watch/), every route also answers under the prefix, for a proxy that
// does not strip it, and every link carries it.
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { HttpError, WRITES_DISABLED_MESSAGE, type HttpRoute, type HttpRouteContext } from '../http.js';
import { parseDuration } from '../../util/duration.js';
import { StatusAuth, type Viewer } from './auth.js';
import { html, layout, SECURITY_HEADERS, type Raw } from './html.js';
import { basePath } from './links.js';
import { overviewBody } from './overview.js';
import { fleetBody, parseFleetQuery } from './fleet.js';
import { storeBody } from './store.js';
import { pollStatus } from './parts.js';
import type { StatusSource } from './source.js';

export interface StatusPageOptions {
  source: StatusSource;
  authToken: string | null;
  trustedUserHeader: string | null;
  externalUrl: string | null;
  tls: boolean;
  /** Seconds between auto-refreshes of the overview and store pages (default 15). */
  refreshSeconds?: number;
}

const ASSET_TYPES: Record<string, string> = {
  'status.css': 'text/css; charset=utf-8',
  'status.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** The assets: next to this module (src/), or the source copy when running from dist/ (tsc copies no assets). */
function loadAssets(): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const dirs = [new URL('./assets/', import.meta.url), new URL('../../../src/server/status/assets/', import.meta.url)];
  for (const name of Object.keys(ASSET_TYPES)) {
    for (const dir of dirs) {
      try { out.set(name, readFileSync(new URL(name, dir))); break; } catch { /* next */ }
    }
  }
  return out;
}

const NOTICES: Record<string, string> = {
  acked: 'Alert acknowledged: reminders stop until it resolves.',
  silenced: 'Silence created: matching alerts send nothing until it ends.',
  expired: 'Silence expired.',
  'drill-ok': 'TEST notification sent through every channel.',
  'drill-failed': 'TEST notification: at least one channel failed (see the daemon log).',
  'signed-out': 'Signed out.',
};

const MAX_FORM = 16 * 1024;

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new HttpError(415, 'expected a form (application/x-www-form-urlencoded)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM) throw new HttpError(413, `form over ${MAX_FORM} bytes`);
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** A path on this page to go back to (never another origin: no open redirect). */
const safeBack = (v: string | null): string => (v && /^\/(?![/\\])[A-Za-z0-9/_.%~-]*$/.test(v) ? v : '/');

/** A matcher in Alertmanager syntax: label, operator, quoted value. The on-call API validates it fully. */
const MATCHER = /^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*$/;

export function statusRoutes(opts: StatusPageOptions): HttpRoute[] {
  const { source } = opts;
  const base = basePath(opts.externalUrl);
  const secure = opts.tls || (opts.externalUrl?.startsWith('https:') ?? false);
  const auth = new StatusAuth({ authToken: opts.authToken, trustedUserHeader: opts.trustedUserHeader, secure, base });
  const assets = loadAssets();
  const now = () => source.now?.() ?? Date.now();
  const refresh = opts.refreshSeconds ?? 15;

  const page = (ctx: HttpRouteContext, viewer: Viewer, title: string, nav: 'overview' | 'fleet' | 'store' | 'login', body: Raw, status = 200, refreshSeconds = 0) => {
    const snap = source.snapshot();
    ctx.send(status, layout({
      base, title, nav, user: viewer.user, csrf: viewer.via === 'session' ? viewer.csrf : null, body, refreshSeconds,
      status: nav === 'login' ? undefined : pollStatus(snap, source.role(), now()), loginAvailable: auth.loginAvailable,
    }), 'text/html; charset=utf-8', SECURITY_HEADERS);
  };
  const redirect = (ctx: HttpRouteContext, to: string, headers: Record<string, string> = {}) => {
    ctx.res.writeHead(303, { location: `${base}${to}`, 'cache-control': 'no-store', ...headers });
    ctx.res.end();
  };
  /** The viewer, or null after answering with the login page's redirect. */
  const reader = (ctx: HttpRouteContext): Viewer | null => {
    const v = auth.viewer(ctx.req);
    if (v.canRead) return v;
    const path = base && ctx.url.pathname.startsWith(`${base}/`) ? ctx.url.pathname.slice(base.length) : ctx.url.pathname;
    redirect(ctx, `/login?next=${encodeURIComponent(path)}`);
    return null;
  };
  const notice = (ctx: HttpRouteContext) => NOTICES[ctx.url.searchParams.get('notice') ?? ''] ?? null;

  /** An action: writes enabled, a viewer who may act, the form's CSRF token; then `run`, then back. */
  const action = (run: (form: URLSearchParams, viewer: Viewer) => Promise<string>) => async (ctx: HttpRouteContext) => {
    if (!auth.writesEnabled) return ctx.send(403, WRITES_DISABLED_MESSAGE);
    // Browsers say where a request comes from; a cross-site one is refused even before the token check.
    if (ctx.req.headers['sec-fetch-site'] === 'cross-site') throw new HttpError(403, 'cross-site request refused');
    const viewer = auth.viewer(ctx.req);
    if (!viewer.canWrite) throw new HttpError(401, 'sign in first (the status page\'s login form, or the authenticating proxy)');
    const form = await readForm(ctx.req);
    if (!auth.checkCsrf(viewer, form.get('csrf') ?? undefined)) throw new HttpError(403, 'missing or wrong CSRF token: reload the page and try again');
    let code: string;
    try {
      code = await run(form, viewer);
    } catch (err) {
      // The on-call module's errors carry the HTTP status and a message that says what to fix.
      const status = (err as { status?: unknown }).status;
      if (!(err instanceof HttpError) && typeof status === 'number' && status >= 400 && status < 600) throw new HttpError(status, (err as Error).message);
      throw err;
    }
    redirect(ctx, `${safeBack(form.get('back'))}?notice=${code}`);
  };
  const needOnCall = () => {
    const oncall = source.oncall?.();
    if (!oncall) throw new HttpError(503, 'silences and acknowledgements are not available on this replica (a follower: the leader writes them)');
    return oncall;
  };
  const until = (form: URLSearchParams): number => {
    const ms = parseDuration(form.get('duration') ?? '');
    if (ms === null || ms < 60_000 || ms > 366 * 86_400_000) throw new HttpError(400, 'duration must be between 1m and 366d (e.g. 2h)');
    return ms;
  };
  const comment = (form: URLSearchParams): string => {
    const c = (form.get('comment') ?? '').trim();
    if (!c) throw new HttpError(400, 'a comment is required (say why)');
    if (c.length > 1000) throw new HttpError(400, 'comment over 1000 characters');
    return c;
  };

  const routes: HttpRoute[] = [
    {
      method: 'GET', path: '/', access: 'public',
      handle: (ctx) => {
        const viewer = reader(ctx);
        if (!viewer) return;
        page(ctx, viewer, 'Overview', 'overview', overviewBody({
          base, viewer, snapshot: source.snapshot(), alerts: source.alerts(), selfAlerts: source.selfAlerts(),
          silences: source.oncall?.() ? source.oncall()!.silences() : null, now: now(), notice: notice(ctx),
        }), 200, refresh);
      },
    },
    {
      method: 'GET', path: '/fleet', access: 'public',
      handle: (ctx) => {
        const viewer = reader(ctx);
        if (!viewer) return;
        page(ctx, viewer, 'Fleet', 'fleet', fleetBody(base, viewer, source.snapshot(), parseFleetQuery(ctx.url.searchParams), now()));
      },
    },
    {
      method: 'GET', path: '/stores/:account/:region/:id', access: 'public',
      handle: (ctx) => {
        const viewer = reader(ctx);
        if (!viewer) return;
        const snap = source.snapshot();
        const { account, region, id } = ctx.params;
        const store = snap?.stores.find((s) => s.accountId === account && s.region === region && s.id === id);
        if (!snap || !store) return page(ctx, viewer, 'Store not found', 'store', html`<h1>Store not found</h1><p>No store <code>${id}</code> in ${account} / ${region} in the last poll.</p>`, 404);
        const events = source.events(100_000).filter((e) => e.storeId === id && e.accountId === account && e.region === region).slice(0, 200);
        page(ctx, viewer, store.name, 'store', storeBody({
          base, viewer, snapshot: snap, store, alerts: source.alerts(), events, oncall: Boolean(source.oncall?.()), drill: Boolean(source.drill), now: now(), notice: notice(ctx),
        }), 200, refresh);
      },
    },
    {
      method: 'GET', path: '/assets/:file', access: 'public',
      handle: (ctx) => {
        const body = assets.get(ctx.params.file!);
        if (!body) return ctx.send(404, 'not found\n');
        ctx.res.writeHead(200, { 'content-type': ASSET_TYPES[ctx.params.file!]!, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'content-length': String(body.length), ...SECURITY_HEADERS });
        ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
      },
    },
    {
      method: 'GET', path: '/login', access: 'public',
      handle: (ctx) => {
        const viewer = auth.viewer(ctx.req);
        const next = safeBack(ctx.url.searchParams.get('next')?.split('?')[0] ?? null);
        const failed = ctx.url.searchParams.get('failed') === '1';
        const body = auth.loginAvailable
          ? html`<h1>Sign in</h1>${failed ? html`<p class="error" role="alert">That token is not the daemon's http.authToken.</p>` : ''}
<form method="post" action="${base}/login" class="stack login"><input type="hidden" name="next" value="${next}">
<label for="lg-user">Your name (recorded with your acknowledgements and silences)</label><input id="lg-user" name="user" autocomplete="username" required maxlength="128">
<label for="lg-token">Token (http.authToken)</label><input id="lg-token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>`
          : html`<h1>Sign in</h1><p>This daemon has no <code>http.authToken</code>: the status page is read-only for everyone. Set <code>http.authToken</code> to enable sign-in and actions, or put an authenticating proxy in front and set <code>http.trustedUserHeader</code>.</p>`;
        page(ctx, viewer, 'Sign in', 'login', body);
      },
    },
    {
      method: 'POST', path: '/login', access: 'public',
      handle: async (ctx) => {
        if (!auth.loginAvailable) return ctx.send(403, WRITES_DISABLED_MESSAGE);
        if (ctx.req.headers['sec-fetch-site'] === 'cross-site') throw new HttpError(403, 'cross-site request refused');
        const form = await readForm(ctx.req);
        const next = safeBack(form.get('next'));
        const session = auth.login(form.get('token') ?? '', form.get('user') ?? '');
        if (!session) {
          // A wrong token costs a second: guessing a 16+ character token stays hopeless.
          await new Promise((r) => setTimeout(r, 1000));
          return redirect(ctx, `/login?failed=1&next=${encodeURIComponent(next)}`);
        }
        redirect(ctx, next, { 'set-cookie': session.cookie });
      },
    },
    {
      method: 'POST', path: '/logout', access: 'public',
      handle: async (ctx) => {
        const viewer = auth.viewer(ctx.req);
        const form = await readForm(ctx.req);
        if (!auth.checkCsrf(viewer, form.get('csrf') ?? undefined)) throw new HttpError(403, 'missing or wrong CSRF token');
        redirect(ctx, '/?notice=signed-out', { 'set-cookie': auth.logout(viewer.sessionId) });
      },
    },
    {
      method: 'POST', path: '/actions/ack', access: 'public',
      handle: action(async (form, viewer) => {
        const key = form.get('alertKey') ?? '';
        if (!source.alerts().some((a) => a.alertKey === key)) throw new HttpError(404, 'no such firing alert (it may have resolved)');
        await needOnCall().acknowledge(key, { by: viewer.user!, comment: (form.get('comment') ?? '').trim().slice(0, 1000) || 'acknowledged on the status page' });
        return 'acked';
      }),
    },
    {
      method: 'POST', path: '/actions/silence', access: 'public',
      handle: action(async (form, viewer) => {
        const matchers = [...form.getAll('matcher'), ...(form.get('matchers') ?? '').split('\n')].map((m) => m.trim()).filter(Boolean);
        if (matchers.length === 0) throw new HttpError(400, 'at least one matcher is required');
        const bad = matchers.find((m) => !MATCHER.test(m));
        if (bad !== undefined) throw new HttpError(400, `not a matcher (label="value", label=~"regex", label!="value", label!~"regex"): ${bad.slice(0, 200)}`);
        const start = now();
        await needOnCall().addSilence({ matchers, startsAt: start, endsAt: start + until(form), createdBy: viewer.user!, comment: comment(form) });
        return 'silenced';
      }),
    },
    {
      method: 'POST', path: '/actions/expire', access: 'public',
      handle: action(async (form, viewer) => {
        const id = form.get('id') ?? '';
        if (!id) throw new HttpError(400, 'id is required');
        await needOnCall().expireSilence(id, viewer.user!);
        return 'expired';
      }),
    },
    {
      method: 'POST', path: '/actions/drill', access: 'public',
      handle: action(async (form, viewer) => {
        if (!source.drill) throw new HttpError(501, 'drills are not available in this daemon');
        const code = form.get('code') ?? '';
        if (!/^[A-Z0-9_]{2,64}$/.test(code)) throw new HttpError(400, 'code must be a ConnectionErrorCode such as INVALID_CREDENTIALS');
        const store = source.snapshot()?.stores.find((s) => s.accountId === form.get('accountId') && s.region === form.get('region') && s.id === form.get('storeId'));
        if (!store) throw new HttpError(404, 'no such store in the last poll');
        const results = await source.drill(store, code, viewer.user!);
        return results.every((r) => r.ok) ? 'drill-ok' : 'drill-failed';
      }),
    },
  ];
  if (!base) return routes;
  return [...routes, ...routes.map((r) => ({ ...r, path: r.path === '/' ? `${base}/` : `${base}${r.path}` })), { ...routes[0]!, path: base }];
}
