// The schema of `alerting.routes`: a routing tree like Alertmanager's route block (what each key means,
// and how an alert walks the tree, is src/notify/routing.ts's header). Matchers are parsed here, so a bad
// one is a config error naming the key and the column (exit 2), and every channel a route names must be
// a configured channel id (its `name`, else "slack", "slack-2", ...: channel-ids.ts).
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';
import { LABEL_NAME } from '../util/prom-label.js';
import { MatcherSyntaxError, parseMatchers, type Matcher } from '../util/matchers.js';

const severity = z.enum(['critical', 'warning', 'info']);

/** One string (`'{a="b", c=~"d"}'` or `a=b, c=~d`) or a list of them, as Alertmanager's `matchers:`; parsed. */
export const matchersSchema = z.union([z.string(), z.array(z.string())]).transform((v, ctx): Matcher[] => {
  const list = typeof v === 'string' ? [v] : v;
  const out: Matcher[] = [];
  list.forEach((s, i) => {
    try {
      out.push(...parseMatchers(s));
    } catch (err) {
      const message = err instanceof MatcherSyntaxError ? `bad matcher: ${err.message}` : `bad matcher: ${(err as Error).message}`;
      ctx.addIssue({ code: 'custom', message, ...(typeof v === 'string' ? {} : { path: [i] }) });
    }
  });
  return out;
});

const repeatInterval = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null || ms < 60_000) {
    ctx.addIssue({ code: 'custom', message: `expected a duration of at least 1m such as "1h", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

/** groupBy: label names, or "..." alone (every label: each alert its own message, never a digest). */
const groupBy = z.array(z.string().refine((l) => l === '...' || LABEL_NAME.test(l), 'expected a label name such as account_id, ou_path or tag_team, or "..."'))
  .refine((g) => !g.includes('...') || g.length === 1, '"..." groups by every label and stands alone');

export interface RouteConfig {
  matchers: Matcher[];
  channels?: string[];
  continue: boolean;
  groupBy?: string[];
  repeatInterval?: number;
  minSeverity?: 'critical' | 'warning' | 'info';
  routes?: RouteConfig[];
}

export const routeSchema: z.ZodType<RouteConfig, unknown> = z.lazy(() => z.strictObject({
  /** All must match (an absent label matches as ""); none: the route matches every alert that reaches it. */
  matchers: matchersSchema.default([]),
  /** Channel ids; absent: the parent route's; [] sends nowhere (a route that drops what it matches). */
  channels: z.array(z.string().min(1)).optional(),
  /** Keep walking the following sibling routes after this one matched (Alertmanager's continue). */
  continue: z.boolean().default(false),
  groupBy: groupBy.optional(),
  repeatInterval: repeatInterval.optional(),
  minSeverity: severity.optional(),
  routes: z.array(routeSchema).optional(),
}));

/** Every channel named by a route or defaultChannels must be configured; called from the alerting schema. */
export function validateRoutes(routes: RouteConfig[] | undefined, defaultChannels: string[] | undefined, ids: string[], ctx: z.RefinementCtx): void {
  const known = new Set(ids);
  const unknown = (name: string, path: (string | number)[]) => ctx.addIssue({
    code: 'custom', path,
    message: `unknown channel ${JSON.stringify(name)}: routes name channels by their name (configured: ${ids.length ? ids.join(', ') : 'none'})`,
  });
  defaultChannels?.forEach((c, i) => { if (!known.has(c)) unknown(c, ['defaultChannels', i]); });
  const walk = (rs: RouteConfig[], path: (string | number)[], depth: number): void => {
    rs.forEach((r, i) => {
      const here = [...path, i];
      r.channels?.forEach((c, j) => { if (!known.has(c)) unknown(c, [...here, 'channels', j]); });
      if (depth >= 16 && r.routes?.length) ctx.addIssue({ code: 'custom', path: [...here, 'routes'], message: 'routes nest at most 16 levels deep' });
      else if (r.routes) walk(r.routes, [...here, 'routes'], depth + 1);
    });
  };
  if (routes) walk(routes, ['routes'], 1);
}
