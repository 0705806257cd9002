// Routing: which channels take a notification, from `alerting.routes` (a tree like Alertmanager's route
// block) and the alert's labels (src/alert/labels.ts, carried in Notification.labels). Pure.
//
// The tree. An implicit default route sits on top: it matches every alert and sends to
// `alerting.defaultChannels` (absent: every channel). `alerting.routes` are its children. An alert walks
// the tree as Alertmanager's dispatcher does (dispatch/route.go, Route.Match; read, not copied): at a
// route whose matchers all match, the children are tried in order; the first child that matches takes
// the alert and the walk of the siblings stops there, unless that child has `continue: true`; a route
// none of whose children matched handles the alert itself. So an alert reaches one route, or several
// through `continue`. A child inherits what it does not set: channels, groupBy, repeatInterval and
// minSeverity. `channels: []` sends nowhere (a route that drops what it matches).
//
// What the route keys mean for this daemon:
//  - channels: channel ids (the channel's `name`, else "slack", "slack-2", ...). A channel reached through
//    several routes takes the notification once.
//  - minSeverity: part of the route's match, like a matcher on `severity`: a less severe alert does not
//    match the route and walks on to its next sibling (or stays with the parent). The channel's own
//    minSeverity always applies as well (a route narrows, never widens, what a channel takes: a
//    PagerDuty channel for critical alerts stays one). Resolved notifications carry the severity of the
//    alert they resolve, so they reach the channels that got its firing.
//  - repeatInterval (reminders per route): a firing alert's reminders reach the channels of a route
//    every repeatInterval of that route, counted from the firing (or its last update). The engine
//    reminds at the shortest interval among the routes the alert reaches (EvaluateInput.repeatIntervalFor);
//    a route with a longer interval takes a reminder when a whole multiple of its interval has passed
//    since the firing between the previous message and this one (reminderDue), so a route with 1h and
//    one with 4h get their reminders at about 1h, 2h, 3h... and 4h, 8h... The default route's is
//    alerting.repeatInterval.
//  - groupBy: how a storm digest (alerting.groupThreshold: one message for a poll with many alerts) is
//    split for the route's channels. Absent: one digest for everything the channel takes from it (as
//    before routes existed). [account_id] or [ou_path, tag_team]: one digest per distinct value of those
//    labels, and an alert alone in its group is sent as itself. ["..."]: every alert its own message,
//    never a digest. Outside storms every alert is its own message anyway (the finest grouping).
//  - matchers: Alertmanager's matchers (src/util/matchers.ts); a label the alert lacks matches as "".
//
// Drills reach every channel (that is their point). A notification queued by a version before labels
// existed is routed on the labels its fields give (legacyLabels). A digest reaches a channel with only
// the items routed to it: the same digest when that is all of them, else a digest of those items with
// an id derived from the original and the items (deterministic, so a replayed poll deduplicates).
import { createHash } from 'node:crypto';
import type { RouteConfig } from '../config/schema.js';
import { ALERT_NAMES, SEVERITY_RANK, type AlertNotification, type DigestNotification, type Notification, type Severity } from '../model.js';
import { formatMatchers, matches, type Matcher } from '../util/matchers.js';

/** One route with everything it inherits resolved. */
export interface RouteNode {
  /** Where it is configured: "default route", "alerting.routes[1].routes[0]". */
  path: string;
  matchers: Matcher[];
  channels: string[];
  continue: boolean;
  /** null: one digest; ['...']: never a digest; else the labels a digest is split by. */
  groupBy: string[] | null;
  repeatInterval: number;
  minSeverity: Severity | null;
  routes: RouteNode[];
}

export interface RoutingInput {
  routes?: RouteConfig[];
  defaultChannels?: string[];
  repeatInterval: number;
}

/** The tree with inheritance resolved; `channels` are every configured channel id, in order. */
export function buildRouteTree(alerting: RoutingInput, channels: readonly string[]): RouteNode {
  const root: RouteNode = {
    path: 'default route', matchers: [], channels: alerting.defaultChannels ?? [...channels], continue: false,
    groupBy: null, repeatInterval: alerting.repeatInterval, minSeverity: null, routes: [],
  };
  const build = (r: RouteConfig, parent: RouteNode, path: string): RouteNode => {
    const node: RouteNode = {
      path, matchers: r.matchers, channels: r.channels ?? parent.channels, continue: r.continue,
      groupBy: r.groupBy ?? parent.groupBy, repeatInterval: r.repeatInterval ?? parent.repeatInterval,
      minSeverity: r.minSeverity ?? parent.minSeverity, routes: [],
    };
    node.routes = (r.routes ?? []).map((c, i) => build(c, node, `${path}.routes[${i}]`));
    return node;
  };
  root.routes = (alerting.routes ?? []).map((r, i) => build(r, root, `alerting.routes[${i}]`));
  return root;
}

const passes = (min: Severity | null, s: Severity): boolean => min === null || (SEVERITY_RANK[s] ?? 0) >= SEVERITY_RANK[min];

/** The routes an alert with these labels (severity included) reaches, in tree order (Alertmanager's Route.Match). */
export function matchRoutes(root: RouteNode, labels: Readonly<Record<string, string>>): RouteNode[] {
  const severity = (labels.severity ?? 'info') as Severity;
  const walk = (r: RouteNode): RouteNode[] => {
    if (!passes(r.minSeverity, severity) || !matches(r.matchers, labels)) return [];
    const all: RouteNode[] = [];
    for (const child of r.routes) {
      const got = walk(child);
      all.push(...got);
      if (got.length > 0 && !child.continue) break;
    }
    return all.length > 0 ? all : [r];
  };
  return walk(root);
}

/** Whether a reminder is due on a route with `interval`: a multiple of it since the anchor lies in (previous, createdAt]. */
export function reminderDue(r: { anchor: number; previous: number }, createdAt: number, interval: number): boolean {
  if (!(interval > 0)) return true;
  return Math.floor((createdAt - r.anchor) / interval) > Math.floor((r.previous - r.anchor) / interval);
}

/** Labels of a notification queued before labels existed: the ones its fields give. */
export function legacyLabels(n: AlertNotification): Record<string, string> {
  const out: Record<string, string> = { alertname: ALERT_NAMES[n.condition] ?? n.condition, severity: n.severity };
  const s = n.subject;
  const put = (k: string, v: string | null | undefined) => { if (v) out[k] = v; };
  if (n.condition !== 'SELF') {
    put('account_id', s.accountId); put('account_name', s.accountName); put('region', s.region);
    put('custom_key_store_id', s.storeId); put('custom_key_store_name', s.storeName); put('custom_key_store_type', s.storeType);
    put('cloudhsm_cluster_id', s.clusterId); put('ou_path', s.ouPath); put('code', s.errorCode);
  }
  return out;
}

export const labelsOf = (n: AlertNotification): Record<string, string> => n.labels ?? legacyLabels(n);

/** How one channel takes one alert: the routes that reach it there. */
export interface ChannelRoute {
  channel: string;
  routes: RouteNode[];
}

/**
 * The channels an alert with these labels and severity reaches, each with the routes that lead there
 * (channels in the order routes name them). The channel's own minSeverity is
 * the notifier's to apply.
 */
export function channelsForLabels(root: RouteNode, labels: Readonly<Record<string, string>>, severity: Severity): ChannelRoute[] {
  const out = new Map<string, RouteNode[]>();
  for (const r of matchRoutes(root, { ...labels, severity })) {
    for (const c of r.channels) {
      const list = out.get(c);
      if (list) list.push(r);
      else out.set(c, [r]);
    }
  }
  return [...out].map(([channel, routes]) => ({ channel, routes }));
}

/** Whether `channel` takes this alert notification (routes, route minSeverity, per-route reminders). */
function alertReaches(root: RouteNode, n: AlertNotification, channel: string): RouteNode | null {
  if (n.kind === 'drill') return root;
  const reach = channelsForLabels(root, labelsOf(n), n.severity).find((c) => c.channel === channel);
  if (!reach) return null;
  if (n.kind !== 'reminder' || !n.reminder) return reach.routes[0]!;
  return reach.routes.find((r) => reminderDue(n.reminder!, n.createdAt, r.repeatInterval)) ?? null;
}

/**
 * The shortest reminder interval among the routes the alert reaches that lead to a channel which
 * takes it (`channelMin`: each channel's own minSeverity): what the engine reminds at. An alert no
 * channel takes reminds at the default route's interval.
 */
export function repeatIntervalFor(root: RouteNode, labels: Readonly<Record<string, string>>, channelMin: ReadonlyMap<string, Severity>): number {
  const severity = (labels.severity ?? 'info') as Severity;
  let min = Infinity;
  for (const c of channelsForLabels(root, labels, severity)) {
    if (!passes(channelMin.get(c.channel) ?? null, severity)) continue;
    for (const r of c.routes) min = Math.min(min, r.repeatInterval);
  }
  return Number.isFinite(min) ? min : root.repeatInterval;
}

/**
 * What `channel` gets of notification `n`: [] (not routed there), [n], or for a digest the digests (and
 * lone alerts) its routes make of the items routed to it (see the header: groupBy).
 */
export function routeToChannel(root: RouteNode, n: Notification, channel: string): Notification[] {
  if (n.kind !== 'digest') return alertReaches(root, n, channel) ? [n] : [];
  const groups = new Map<string, AlertNotification[]>();
  for (const item of n.items) {
    const via = alertReaches(root, item, channel);
    if (!via) continue;
    const key = groupKey(via.groupBy, item);
    const g = groups.get(key);
    if (g) g.push(item);
    else groups.set(key, [item]);
  }
  const out: Notification[] = [];
  for (const items of groups.values()) {
    if (items.length === 1) out.push(items[0]!);
    else if (items.length === n.items.length) out.push(n);
    else out.push(subDigest(n, items));
  }
  return out;
}

function groupKey(groupBy: string[] | null, item: AlertNotification): string {
  if (groupBy === null) return '';
  if (groupBy.includes('...')) return `\u0000${item.id}`;
  const labels = labelsOf(item);
  return JSON.stringify(groupBy.map((l) => labels[l] ?? ''));
}

function subDigest(n: DigestNotification, items: AlertNotification[]): DigestNotification {
  const hash = createHash('sha256');
  let severity: Severity = 'info';
  for (const i of items) {
    hash.update(i.id).update('\n');
    if (SEVERITY_RANK[i.severity] > SEVERITY_RANK[severity]) severity = i.severity;
  }
  const sets = items.map(labelsOf);
  const labels: Record<string, string> = { ...sets[0] };
  for (const s of sets.slice(1)) for (const k of Object.keys(labels)) if (s[k] !== labels[k]) delete labels[k];
  return { id: `${n.id}:${hash.digest('hex').slice(0, 16)}`, kind: 'digest', severity, items, createdAt: n.createdAt, labels };
}

/** One line per route for check-config and logs: `alerting.routes[0] {tag_team="payments"} -> payments-slack`. */
export function describeRoute(r: RouteNode): string {
  return `${r.path}${r.matchers.length ? ` ${formatMatchers(r.matchers)}` : ''}`;
}

/** The routing of one configuration: for the outbox (route), the engine (repeatIntervalFor) and check-config. */
export interface Router {
  readonly tree: RouteNode;
  route(n: Notification, channelId: string): Notification[];
  repeatIntervalFor(labels: Readonly<Record<string, string>>): number;
}

/**
 * The router of `alerting` for these channels (ids in order, each with its own minSeverity when known).
 * The default route's channels are every channel given.
 */
export function createRouter(alerting: RoutingInput, channels: readonly { id: string; minSeverity?: Severity }[]): Router {
  const tree = buildRouteTree(alerting, channels.map((c) => c.id));
  const channelMin = new Map<string, Severity>();
  for (const c of channels) if (c.minSeverity) channelMin.set(c.id, c.minSeverity);
  return {
    tree,
    route: (n, channelId) => routeToChannel(tree, n, channelId),
    repeatIntervalFor: (labels) => repeatIntervalFor(tree, labels, channelMin),
  };
}
