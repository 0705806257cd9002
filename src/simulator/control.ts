// The /_sim/ control API (JSON): tests, the demo, fire drills and benchmarks drive the fleet
// through it. Every route is a thin wrapper over a Fleet method.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, SimError } from './errors.js';
import type { Fleet } from './fleet.js';
import { SERVICES, type CertificateName, type ServiceName } from './scenario.js';
import { parseDuration } from '../util/duration.js';

type Params = Record<string, string>;
type Route = { method: string; pattern: RegExp; keys: string[]; status: number; run: (fleet: Fleet, p: Params, body: any, query: URLSearchParams) => unknown };

const routes: Route[] = [];
/** `status` is the success status: 201 for the routes that create something. */
function route(method: string | string[], path: string, run: Route['run'], status = 200) {
  const keys: string[] = [];
  const pattern = new RegExp('^' + path.replace(/:(\w+)/g, (_, k: string) => { keys.push(k); return '([^/]+)'; }) + '/?$');
  for (const m of [method].flat()) routes.push({ method: m, pattern, keys, status, run });
}

const required = (body: any, field: string): string => {
  const v = body?.[field];
  if (typeof v !== 'string' || v === '') throw new SimError(`${field}: required`, 400);
  return v;
};
const without = (body: any, ...fields: string[]) => Object.fromEntries(Object.entries(body ?? {}).filter(([k]) => !fields.includes(k)));
/** Duration fields of a body ("90s", or ms numbers) -> milliseconds. */
const durations = (body: any, fields: string[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const k of Object.keys(body ?? {})) if (!fields.includes(k)) throw new SimError(`${k}: unknown field; one of ${fields.join(', ')}`, 400);
  for (const k of fields) {
    const v = body?.[k];
    if (v === undefined) continue;
    const ms = typeof v === 'number' ? v : parseDuration(v);
    if (ms === null || !Number.isFinite(ms) || ms < 0) throw new SimError(`${k}: a duration such as "30s" (or milliseconds)`, 400);
    out[k] = ms;
  }
  return out;
};
const recordCall = (f: Fleet, id: string, eventName: 'ConnectCustomKeyStore' | 'DisconnectCustomKeyStore', actor: unknown) => {
  if (actor === undefined || actor === null) return;
  f.addTrailEvent({ store: id, eventName, actor });
};
const found = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new SimError(`no ${what}`, 404);
  return value;
};

route('GET', '/_sim/health', () => ({ ok: true }));
route('GET', '/_sim/fleet', (f, _p, _b, q) => f.snapshot({ account: q.get('account') ?? undefined, region: q.get('region') ?? undefined }));
route('GET', '/_sim/stats', (f) => f.stats());

route('GET', '/_sim/stores/:id', (f, p) => found(f.getStore(p.id!), `store ${p.id}`));
// `actor` ({ arn | service, sourceIp?, userAgent? }) in a body: CloudTrail records the KMS call the change takes.
route('POST', '/_sim/stores', (f, _p, b) => f.addStore(required(b, 'account'), required(b, 'region'), without(b, 'account', 'region', 'actor'), { actor: b?.actor }), 201);
route(['PATCH', 'POST'], '/_sim/stores/:id', (f, p, b) => f.setStore(p.id!, without(b, 'actor'), { actor: b?.actor }));
route('DELETE', '/_sim/stores/:id', (f, p, b) => { f.removeStore(p.id!, { actor: b?.actor }); return { deleted: p.id }; });
route('POST', '/_sim/stores/:id/connect', (f, p, b) => { f.connect(p.id!); recordCall(f, p.id!, 'ConnectCustomKeyStore', b?.actor); return f.getStore(p.id!); });
route('POST', '/_sim/stores/:id/disconnect', (f, p, b) => { f.disconnect(p.id!); recordCall(f, p.id!, 'DisconnectCustomKeyStore', b?.actor); return f.getStore(p.id!); });

// CloudWatch: what stores and clusters publish, and when datapoints become readable.
route('GET', '/_sim/metrics', (f, _p, _b, q) => {
  const account = q.get('account');
  const region = q.get('region');
  if (!account || !region) throw new SimError('account and region query parameters are required', 400);
  return f.metrics.list(account, region, f.now());
});
route('GET', '/_sim/metrics/:id', (f, p) => found(f.metrics.spec(p.id!), `store or cluster ${p.id}`));
route(['PATCH', 'PUT'], '/_sim/metrics/:id', (f, p, b) => f.setMetrics(p.id!, b));
route('GET', '/_sim/cloudwatch', (f) => f.metrics.settings);
route('PATCH', '/_sim/cloudwatch', (f, _p, b) => { f.metrics.configure(durations(b, ['publishDelay', 'history'])); return f.metrics.settings; });

// CloudTrail: every recorded event (delivered or not), recording one, and the delivery delay.
route('GET', '/_sim/cloudtrail/events', (f, _p, _b, q) => f.trail.everything({ account: q.get('account') ?? undefined, region: q.get('region') ?? undefined }));
route('POST', '/_sim/cloudtrail/events', (f, _p, b) => f.addTrailEvent(b), 201);
route('GET', '/_sim/cloudtrail', (f) => ({ deliveryDelay: f.trail.delay }));
route('PATCH', '/_sim/cloudtrail', (f, _p, b) => { const d = durations(b, ['deliveryDelay']); if (d.deliveryDelay !== undefined) f.trail.delay = d.deliveryDelay; return { deliveryDelay: f.trail.delay }; });

route('GET', '/_sim/clusters/:id', (f, p) => found(f.getCluster(p.id!), `cluster ${p.id}`));
route('POST', '/_sim/clusters', (f, _p, b) => f.addCluster(required(b, 'account'), required(b, 'region'), without(b, 'account', 'region')), 201);
route(['PATCH', 'POST'], '/_sim/clusters/:id', (f, p, b) => f.setCluster(p.id!, b));
route('DELETE', '/_sim/clusters/:id', (f, p) => { f.removeCluster(p.id!); return { deleted: p.id }; });
route('POST', '/_sim/clusters/:id/hsms', (f, p, b) => f.addHsm(p.id!, b), 201);
route(['PATCH', 'POST'], '/_sim/clusters/:id/hsms/:hsm', (f, p, b) => f.setHsm(p.id!, p.hsm!, b));
route('DELETE', '/_sim/clusters/:id/hsms/:hsm', (f, p) => { f.removeHsm(p.id!, p.hsm!); return { deleted: p.hsm }; });
// Fleet.setClusterCertificate rejects an unknown name (404).
route('PUT', '/_sim/clusters/:id/certificates/:name', (f, p, b) => f.setClusterCertificate(p.id!, p.name as CertificateName, b));
route('DELETE', '/_sim/clusters/:id/certificates/:name', (f, p) => f.setClusterCertificate(p.id!, p.name as CertificateName, null));

route('POST', '/_sim/accounts', (f, _p, b) => f.addAccount(b), 201);
route(['PATCH', 'POST'], '/_sim/accounts/:id', (f, p, b) => f.setAccount(p.id!, b));

route('GET', '/_sim/faults', (f) => f.getFaults());
route('PUT', '/_sim/faults', (f, _p, b) => f.replaceFaults(b));
route('PATCH', '/_sim/faults', (f, _p, b) => f.setFaults(b));
route('DELETE', '/_sim/faults', (f) => f.resetFaults());

route('GET', '/_sim/scp-deny', (f) => f.getScpDeny());
route('PUT', '/_sim/scp-deny', (f, _p, b) => f.setScpDeny(b));

route('GET', '/_sim/counters', (f) => f.counters());
route('GET', '/_sim/requests', (f, _p, _b, q) => f.requestLog(Object.fromEntries(['service', 'operation', 'account', 'region'].filter((k) => q.get(k)).map((k) => [k, q.get(k)!]))));
route('POST', '/_sim/counters/reset', (f) => { f.resetCounters(); return f.counters(); });
// One service's calls per operation, e.g. GET /_sim/counters/organizations: "0 Organizations calls between refreshes".
route('GET', '/_sim/counters/:service', (f, p) => {
  if (!(SERVICES as readonly string[]).includes(p.service!)) throw new SimError(`no service ${p.service}; one of ${SERVICES.join(', ')}`, 404);
  const ops = f.counters().byService[p.service as ServiceName] ?? {};
  let total = 0;
  for (const t of Object.values(ops)) total += t.ok + t.throttled + t.failed;
  return { service: p.service, total, byOperation: ops };
});

route('GET', '/_sim/clock', (f) => ({ now: f.now(), startedAt: f.startedAt, iso: new Date(f.now()).toISOString() }));
route('POST', '/_sim/clock', (f, _p, b) => {
  const raw = b?.advance ?? (b?.ms !== undefined ? `${Number(b.ms)}ms` : undefined);
  const ms = raw === undefined ? null : parseDuration(raw);
  if (ms === null) throw new SimError('advance: a duration such as "90s" or "1h" (or ms: <number>) is required', 400);
  const now = f.advanceClock(ms);
  return { now, iso: new Date(now).toISOString() };
});

route('POST', '/_sim/credentials/expire', (f, _p, b) => ({ expired: f.expireCredentials(b?.account) }));
route('POST', '/_sim/markers/invalidate', (f) => { f.invalidateMarkers(); return { ok: true }; });

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body ?? null, null, 1));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(data.length) });
  res.end(data);
}

export function handleControl(fleet: Fleet, req: IncomingMessage, res: ServerResponse, rawBody: Buffer): void {
  const url = new URL(req.url ?? '/', 'http://sim');
  const method = req.method ?? 'GET';
  let matchedPath = false;
  for (const r of routes) {
    const m = r.pattern.exec(url.pathname);
    if (!m) continue;
    matchedPath = true;
    if (r.method !== method) continue;
    const params = Object.fromEntries(r.keys.map((k, i) => [k, decodeURIComponent(m[i + 1]!)]));
    try {
      let body: unknown;
      if (rawBody.length > 0) {
        try { body = JSON.parse(rawBody.toString('utf8')); } catch { throw new SimError('the request body is not valid JSON', 400); }
      }
      // Every route sees the fleet as of now: scheduled changes (timeline, connect completions) that are due apply first.
      fleet.tick();
      send(res, r.status, r.run(fleet, params, body, url.searchParams));
    } catch (err) {
      if (err instanceof SimError) send(res, err.status, { error: err.message, ...(err.issues && { issues: err.issues }) });
      else if (err instanceof AwsError) send(res, 409, { error: err.message, code: err.code });
      else send(res, 500, { error: err instanceof Error ? err.message : String(err) });
    }
    return;
  }
  send(res, matchedPath ? 405 : 404, { error: `${matchedPath ? 'method not allowed' : 'no such control route'}: ${method} ${url.pathname}` });
}
