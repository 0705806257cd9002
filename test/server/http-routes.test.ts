// Feature routes (HttpRoute): matching, params, methods, the read/write access rules and JSON bodies,
// over a real HTTP server.
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError, startHttpServer, WRITES_DISABLED_MESSAGE, type HttpRoute, type RunningHttpServer } from '../../src/server/http.js';
import { EMPTY_METRICS } from '../../src/metrics/exposition.js';

const TOKEN = 'route-test-token-0123456789';
let server: RunningHttpServer | null = null;
afterEach(async () => { await server?.close(); server = null; });

const seen: unknown[] = [];
const routes: HttpRoute[] = [
  { method: 'GET', path: '/api/v1/things', access: 'read', handle: (c) => c.json({ things: ['a'] }) },
  { method: 'POST', path: '/api/v1/things', access: 'write', handle: async (c) => {
    const body = await c.jsonBody() as { name?: unknown };
    if (typeof body.name !== 'string') throw new HttpError(400, 'name: must be a string');
    seen.push(body);
    c.json({ id: 't1' }, 201);
  } },
  { method: 'DELETE', path: '/api/v1/things/:id', access: 'write', handle: (c) => c.json({ expired: c.params.id }) },
  { method: 'GET', path: '/status', access: 'public', handle: (c) => c.send(200, 'page\n') },
];

async function start(authToken: string | null) {
  server = await startHttpServer({
    listen: '127.0.0.1:0', authToken, routes,
    sources: {
      metrics: async () => ({ snapshot: EMPTY_METRICS, self: '' }),
      ready: () => ({ ready: true, reasons: [] }),
      stores: () => [], alerts: () => [], events: () => [], targets: () => [],
    },
  });
  return server.url;
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe('feature routes', () => {
  it('answers 403 with how to enable writes when no token is configured; reads stay open', async () => {
    const url = await start(null);
    const w = await fetch(`${url}/api/v1/things`, { method: 'POST', body: '{"name":"x"}' });
    expect(w.status).toBe(403);
    expect(await w.text()).toBe(WRITES_DISABLED_MESSAGE);
    expect((await fetch(`${url}/api/v1/things`)).status).toBe(200);
    expect(await (await fetch(`${url}/status`)).text()).toBe('page\n');
  });

  it('needs the bearer token for reads and writes when one is configured', async () => {
    const url = await start(TOKEN);
    expect((await fetch(`${url}/api/v1/things`)).status).toBe(401);
    expect((await fetch(`${url}/api/v1/things`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer wrong-token-wrong-token!!' } })).status).toBe(401);
    expect(await (await fetch(`${url}/api/v1/things`, { headers: auth })).json()).toEqual({ things: ['a'] });
    const ok = await fetch(`${url}/api/v1/things`, { method: 'POST', body: JSON.stringify({ name: 'n' }), headers: auth });
    expect(ok.status).toBe(201);
    expect(seen).toContainEqual({ name: 'n' });
    expect((await fetch(`${url}/status`)).status).toBe(200);
  });

  it('passes decoded params, rejects bad bodies with 400/413 and wrong methods with 405', async () => {
    const url = await start(TOKEN);
    expect(await (await fetch(`${url}/api/v1/things/a%20b`, { method: 'DELETE', headers: auth })).json()).toEqual({ expired: 'a b' });
    const bad = await fetch(`${url}/api/v1/things`, { method: 'POST', body: '{not json', headers: auth });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/not valid JSON/);
    const invalid = await fetch(`${url}/api/v1/things`, { method: 'POST', body: '{"name":1}', headers: auth });
    expect(invalid.status).toBe(400);
    expect(await invalid.text()).toBe('name: must be a string\n');
    const big = await fetch(`${url}/api/v1/things`, { method: 'POST', body: JSON.stringify({ name: 'x'.repeat(70_000) }), headers: auth });
    expect(big.status).toBe(413);
    const put = await fetch(`${url}/api/v1/things`, { method: 'PUT', headers: auth });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
    // Built-ins still answer.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});
