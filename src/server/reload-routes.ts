// POST (or PUT) /-/reload: re-read and apply the configuration file, like SIGHUP (src/config/reload.ts).
// The path and verbs are Prometheus' and Alertmanager's (web.go: router.Post/Put("/-/reload")), so a
// config-reloader sidecar written for them works unchanged. A write: it needs the bearer token, and
// answers 403 saying how to enable writes when no http.authToken is set (src/server/http.ts).
// Answers 200 with what was applied and what needs a restart, or 500 with every problem (Prometheus
// answers a failed reload with 500 too; the running configuration stays).
import type { ReloadOutcome } from '../config/reload.js';
import type { HttpRoute, HttpRouteContext } from './http.js';

/** Who asked, for the audit event: the caller's address (one token means one identity: "api"). */
export function callerOf(ctx: Pick<HttpRouteContext, 'req'>): string {
  const addr = ctx.req.socket.remoteAddress ?? 'unknown';
  return `api (${addr})`;
}

export function reloadRoutes(reload: (by: string) => Promise<ReloadOutcome>): HttpRoute[] {
  const handle = async (ctx: HttpRouteContext) => {
    const o = await reload(callerOf(ctx));
    ctx.json({ status: o.ok ? 'success' : 'error', at: new Date(o.at).toISOString(), by: o.by, source: o.source, applied: o.applied, restartRequired: o.restartRequired, problems: o.problems }, o.ok ? 200 : 500);
  };
  return [
    { method: 'POST', path: '/-/reload', access: 'write', handle },
    { method: 'PUT', path: '/-/reload', access: 'write', handle },
  ];
}
