// Sign-in over real HTTP (no browser): the session cookie's attributes, the trusted proxy header, CSRF
// on every action, open redirects, and what an anonymous request sees.
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type RunningHttpServer } from '../../../src/server/http.js';
import { statusRoutes, type StatusPageOptions } from '../../../src/server/status/routes.js';
import type { StatusSource } from '../../../src/server/status/source.js';
import type { Snapshot, StoreRecord } from '../../../src/model.js';
import { EMPTY_METRICS } from '../../../src/metrics/exposition.js';

const TOKEN = 'auth-test-token-0123456789';
const STORE: StoreRecord = {
  accountId: '111111111111', accountName: 'mgmt', region: 'us-east-1', id: 'cks-1', name: 'one', type: 'AWS_CLOUDHSM', state: 'CONNECTED', errorCode: null,
  clusterId: null, xks: null, trustAnchorSha256: null, trustAnchorNotAfter: null, createdAt: null, stateSince: 0, stale: false,
};
const snap: Snapshot = { pollId: 1, startedAt: 0, finishedAt: 1, stores: [STORE], clusters: [], targets: [], probes: [] };

let server: RunningHttpServer | null = null;
afterEach(async () => { await server?.close(); server = null; });

async function start(opts: Partial<StatusPageOptions>, drills: string[] = []) {
  const source: StatusSource = {
    snapshot: () => snap, alerts: () => [], selfAlerts: () => [], events: () => [], role: () => 'leader',
    drill: async (s, code, by) => { drills.push(`${s.id} ${code} ${by}`); return [{ channel: 'x', ok: true, detail: 'delivered' }]; },
  };
  server = await startHttpServer({
    listen: '127.0.0.1:0', authToken: opts.authToken ?? null,
    sources: { metrics: async () => ({ snapshot: EMPTY_METRICS, self: '' }), ready: () => ({ ready: true, reasons: [] }), stores: () => [], alerts: () => [], events: () => [], targets: () => [] },
    routes: statusRoutes({ authToken: null, trustedUserHeader: null, externalUrl: null, tls: false, ...opts, source }),
  });
  return server.url;
}

const form = (o: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(o).toString(), redirect: 'manual' as const });
const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1];

describe('status page sign-in', () => {
  it('login sets an HttpOnly, SameSite=Strict, Secure (https externalUrl) cookie on the prefix path; a wrong token sets none', async () => {
    const url = await start({ authToken: TOKEN, externalUrl: 'https://ops.example.com/kw/' });
    const bad = await fetch(`${url}/kw/login`, form({ token: 'wrong-token-0123456789', user: 'eve', next: '/' }));
    expect(bad.status).toBe(303);
    expect(bad.headers.get('set-cookie')).toBeNull();
    const ok = await fetch(`${url}/kw/login`, form({ token: TOKEN, user: 'alice', next: '/fleet' }));
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/kw/fleet');
    const cookie = ok.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^kw_session=[A-Za-z0-9_-]{43}; Path=\/kw; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
    const page = await (await fetch(`${url}/kw/stores/111111111111/us-east-1/cks-1`, { headers: { cookie: cookie.split(';')[0]! } })).text();
    expect(page).toContain('Signed in as <strong>alice</strong>');
    expect(csrfOf(page)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('never redirects off the page after login (no open redirect)', async () => {
    const url = await start({ authToken: TOKEN });
    for (const next of ['//evil.example/x', 'https://evil.example', '/\\evil.example', 'javascript:alert(1)']) {
      const r = await fetch(`${url}/login`, form({ token: TOKEN, user: 'a', next }));
      expect(r.headers.get('location')).toBe('/');
    }
  });

  it('a trusted proxy header signs the user in; its CSRF token is required and tied to the user', async () => {
    const drills: string[] = [];
    const url = await start({ authToken: TOKEN, trustedUserHeader: 'X-Forwarded-User' }, drills);
    const anon = await fetch(`${url}/`, { redirect: 'manual' });
    expect(anon.status).toBe(303);
    const page = await (await fetch(`${url}/stores/111111111111/us-east-1/cks-1`, { headers: { 'x-forwarded-user': 'bob@example.com' } })).text();
    expect(page).toContain('Signed in as <strong>bob@example.com</strong>');
    const csrf = csrfOf(page)!;
    const body = { accountId: '111111111111', region: 'us-east-1', storeId: 'cks-1', code: 'INVALID_CREDENTIALS', back: '/stores/111111111111/us-east-1/cks-1' };
    const as = (user: string, o: Record<string, string>) => fetch(`${url}/actions/drill`, { ...form(o), headers: { ...form(o).headers, 'x-forwarded-user': user } });
    expect((await as('bob@example.com', body)).status).toBe(403);
    expect((await as('mallory', { ...body, csrf })).status).toBe(403);
    const ok = await as('bob@example.com', { ...body, csrf });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/stores/111111111111/us-east-1/cks-1?notice=drill-ok');
    expect(drills).toEqual(['cks-1 INVALID_CREDENTIALS bob@example.com']);
  });

  it('refuses a cross-site POST even with a valid token, and a non-form body', async () => {
    const url = await start({ authToken: TOKEN, trustedUserHeader: 'X-Forwarded-User' });
    const csrf = csrfOf(await (await fetch(`${url}/stores/111111111111/us-east-1/cks-1`, { headers: { 'x-forwarded-user': 'bob' } })).text())!;
    const cross = await fetch(`${url}/actions/drill`, { ...form({ csrf, code: 'X_Y' }), headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-user': 'bob', 'sec-fetch-site': 'cross-site' } });
    expect(cross.status).toBe(403);
    const json = await fetch(`${url}/actions/drill`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-user': 'bob' }, body: JSON.stringify({ csrf }) });
    expect(json.status).toBe(415);
  });

  it('without http.authToken the proxy user reads but cannot act; the pages carry the strict CSP', async () => {
    const url = await start({ trustedUserHeader: 'X-Forwarded-User' });
    const r = await fetch(`${url}/stores/111111111111/us-east-1/cks-1`, { headers: { 'x-forwarded-user': 'bob' } });
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(r.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    const page = await r.text();
    expect(page).not.toContain('name="csrf"');
    expect((await fetch(`${url}/actions/drill`, form({ code: 'X_Y' }))).status).toBe(403);
  });
});
