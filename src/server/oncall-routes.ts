// The on-call endpoints (issue 16 items 3, 4, 8, 9): silences and acknowledgements. Every mutating one
// is access 'write' (the bearer token; 403 with how to enable writes when no http.authToken is set).
//
//   GET    /api/v1/silences                 { silences: [...] } (active, pending, expired; config shorthands)
//   POST   /api/v1/silences                 { matchers, startsAt?, endsAt, createdBy, comment } -> { silenceId, silence }
//   DELETE /api/v1/silences/:id             expires it now ({ by } in the body or ?by=) -> { silence }
//   POST   /api/v1/alerts/:id/ack           { by, comment, until? } -> { ack }   (:id is the alertKey, URI-encoded)
//
// Times are RFC 3339 strings (or epoch milliseconds). The actions themselves are src/alert/oncall.ts
// (OnCallActions), which the status page calls too.
import { HttpError, type HttpRoute, type HttpRouteContext } from './http.js';
import { OnCallError, type AuditEvent, type OnCallActions, type SilenceView } from '../alert/oncall.js';
import type { Ack } from '../alert/silences.js';

export interface OnCallRoutesSource {
  /** The actions, or null when this replica cannot write (a follower: the answer names why). */
  actions(): OnCallActions | null;
  /** Why actions() is null (e.g. "this replica follows; send writes to the leader"). */
  unavailable?(): string;
}

function time(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    // RFC 3339 only: Date.parse accepts many other shapes.
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(v)) {
      const t = Date.parse(v);
      if (Number.isFinite(t)) return t;
    }
  }
  throw new HttpError(400, `${field} must be an RFC 3339 time (e.g. 2026-11-30T12:00:00Z)`);
}

const iso = (t: number | null | undefined): string | null => (t === null || t === undefined ? null : t >= 8.64e15 ? null : new Date(t).toISOString());

export const silenceJson = (s: SilenceView) => ({
  id: s.id, status: s.status, source: s.source, matchers: s.matchers,
  startsAt: iso(s.startsAt), endsAt: iso(s.endsAt), createdBy: s.createdBy, comment: s.comment, createdAt: iso(s.createdAt),
  expiredBy: s.expiredBy ?? null, expiredAt: iso(s.expiredAt),
});

export const ackJson = (a: Ack) => ({ alertId: a.alertKey, firedAt: iso(a.firedAt), by: a.by, comment: a.comment, at: iso(a.at), until: iso(a.until) });

function bodyObject(v: unknown): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'expected a JSON object');
  return v as Record<string, unknown>;
}

async function run<T>(ctx: HttpRouteContext, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OnCallError) { ctx.send(err.status, `${err.message}\n`); return undefined; }
    throw err;
  }
}

export function onCallRoutes(src: OnCallRoutesSource): HttpRoute[] {
  const actions = (): OnCallActions => {
    const a = src.actions();
    if (!a) throw new HttpError(503, src.unavailable?.() ?? 'on-call actions are not available on this replica');
    return a;
  };
  return [
    {
      method: 'GET', path: '/api/v1/silences', access: 'read',
      handle: (ctx) => ctx.json({ silences: actions().silences().map(silenceJson) }),
    },
    {
      method: 'POST', path: '/api/v1/silences', access: 'write',
      handle: async (ctx) => {
        const b = bodyObject(await ctx.jsonBody());
        const a = actions();
        const endsAt = time(b.endsAt, 'endsAt');
        if (endsAt === undefined) throw new HttpError(400, 'endsAt is required (RFC 3339)');
        const matchers = b.matchers;
        if (!Array.isArray(matchers) || !matchers.every((m) => typeof m === 'string' || (m && typeof m === 'object'))) {
          throw new HttpError(400, 'matchers must be a list of strings like "account_id=\\"222222222222\\"" (or Alertmanager {name, value, isRegex, isEqual} objects)');
        }
        const s = await run(ctx, () => a.addSilence({
          matchers: matchers.map(matcherText),
          startsAt: time(b.startsAt, 'startsAt'), endsAt,
          createdBy: b.createdBy as string, comment: (b.comment ?? '') as string,
        }));
        if (s) ctx.json({ silenceId: s.id, silence: silenceJson(s) });
      },
    },
    {
      method: 'DELETE', path: '/api/v1/silences/:id', access: 'write',
      handle: async (ctx) => {
        const b = bodyObject(await ctx.jsonBody());
        const by = (b.by ?? ctx.url.searchParams.get('by') ?? 'api') as string;
        const s = await run(ctx, () => actions().expireSilence(ctx.params.id!, by));
        if (s) ctx.json({ silence: silenceJson(s) });
      },
    },
    {
      method: 'POST', path: '/api/v1/alerts/:id/ack', access: 'write',
      handle: async (ctx) => {
        const b = bodyObject(await ctx.jsonBody());
        const until = time(b.until, 'until');
        const ack = await run(ctx, () => actions().ack(ctx.params.id!, b.by as string, (b.comment ?? '') as string, until ?? null));
        if (ack) ctx.json({ ack: ackJson(ack) });
      },
    },
  ];
}

/** An Alertmanager API matcher object ({ name, value, isRegex, isEqual }) as matcher text; a string as it is. */
function matcherText(m: unknown): string {
  if (typeof m === 'string') return m;
  const o = m as { name?: unknown; value?: unknown; isRegex?: unknown; isEqual?: unknown };
  if (typeof o.name !== 'string' || typeof o.value !== 'string') throw new HttpError(400, 'a matcher object needs string name and value');
  const op = o.isRegex === true ? (o.isEqual === false ? '!~' : '=~') : (o.isEqual === false ? '!=' : '=');
  return `${o.name}${op}${JSON.stringify(o.value)}`;
}

/** /api/v1/events: the change history and the audit events (type "audit"), newest first. */
export function mergeAuditEvents(history: readonly { at: string }[], audit: readonly AuditEvent[], limit: number): unknown[] {
  const a = audit.map((e) => ({ ...e.detail, type: 'audit', action: e.action, by: e.by, at: new Date(e.at).toISOString(), id: e.id }));
  return [...history, ...a].sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0)).slice(0, limit);
}
