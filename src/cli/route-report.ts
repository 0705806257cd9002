// What check-config prints about routing: for each account, the channels a critical alert about it
// reaches (and through which routes), and with --route, the channels a sample alert reaches. Pure: the
// configuration and the resolved accounts in, lines out.
import type { Config } from '../config/schema.js';
import { channelIds } from '../config/channel-ids.js';
import type { AccountRef } from '../discover/targets.js';
import { alertLabels } from '../alert/labels.js';
import { SEVERITY_RANK, type Severity } from '../model.js';
import { buildRouteTree, channelsForLabels, describeRoute } from '../notify/routing.js';
import { formatMatchers, parseMatchers, type Matcher } from '../util/matchers.js';
import { printable } from './common.js';

/** The labels of a sample alert given as `name=value,...` (a matcher list of `=` only). Throws on anything else. */
export function parseSampleLabels(input: string): Record<string, string> {
  let ms: Matcher[];
  try {
    ms = parseMatchers(input);
  } catch (err) {
    throw new Error(`--route: ${(err as Error).message}`);
  }
  const out: Record<string, string> = {};
  for (const m of ms) {
    if (m.type !== '=') throw new Error(`--route takes label=value pairs (the sample alert's labels), not ${m.type} matchers: ${formatMatchers([m])}`);
    out[m.name] = m.value;
  }
  if (out.severity !== undefined && !(out.severity in SEVERITY_RANK)) throw new Error(`--route: severity must be critical, warning or info, got ${JSON.stringify(out.severity)}`);
  return out;
}

/** The labels a critical KmsCustomKeyStoreFailed alert about a store of `a` would carry (no store facts). */
export function accountLabels(a: AccountRef, severity: Severity = 'critical'): Record<string, string> {
  return alertLabels('FAILED', severity, {
    accountId: a.id, accountName: a.name, region: '', storeId: null, storeName: null, storeType: null, state: null, errorCode: null,
    clusterId: null, details: {}, ouPath: a.ouPath, tags: a.tags,
  });
}

/** "payments (alerting.routes[0] {tag_team="payments"})", the channel's own minSeverity noted when it refuses. */
function reachLines(config: Config, labels: Record<string, string>): string[] {
  const ids = channelIds(config.alerting.channels);
  const tree = buildRouteTree(config.alerting, ids);
  const min = new Map(ids.map((id, i) => [id, config.alerting.channels[i]!.minSeverity]));
  const severity = (labels.severity ?? 'critical') as Severity;
  return channelsForLabels(tree, labels, severity).map((c) => {
    const own = min.get(c.channel);
    const refused = own !== undefined && SEVERITY_RANK[severity] < SEVERITY_RANK[own];
    return `${c.channel}${refused ? ` (not sent: below the channel's minSeverity ${own})` : ''} via ${c.routes.map(describeRoute).join(', ')}`;
  });
}

/** check-config's routing section: the tree's shape, then one line per account. */
export function routingReport(config: Config, accounts: readonly AccountRef[]): string[] {
  const { routes, defaultChannels } = config.alerting;
  const lines = [routes?.length
    ? `  routing: ${countRoutes(routes)} route(s) under the default route; alerts no route takes go to ${defaultChannels ? (defaultChannels.length ? defaultChannels.join(', ') : 'no channel') : 'every channel'}`
    : `  routing: no alerting.routes: every channel takes every alert its minSeverity allows${defaultChannels ? ` (default route: ${defaultChannels.join(', ') || 'no channel'})` : ''}`];
  if (config.alerting.channels.length === 0) return [...lines, '  routing: no channels are configured: alerts are only logged and shown in /api/v1/alerts'];
  lines.push('  a critical alert about each account reaches:');
  for (const a of accounts) {
    const reach = reachLines(config, accountLabels(a));
    lines.push(`    ${a.id}  ${printable(a.name).padEnd(24)} ${reach.length ? reach.join('; ') : 'NO CHANNEL'}`);
  }
  return lines;
}

/** check-config --route: the channels the sample reaches; the facts of the account it names are added. */
export function sampleRouteReport(config: Config, accounts: readonly AccountRef[], sample: Record<string, string>): string[] {
  const account = accounts.find((a) => a.id === sample.account_id || (sample.account_id === undefined && a.name === sample.account_name));
  const labels = { ...(account ? accountLabels(account) : { alertname: 'KmsCustomKeyStoreFailed', severity: 'critical' }), ...sample };
  const shown = Object.entries(labels).map(([name, value]) => ({ name, type: '=' as const, value }));
  const lines = [`route ${printable(formatMatchers(shown))}${account ? ` (with the labels of account ${account.id})` : ''}:`];
  const reach = reachLines(config, labels);
  return [...lines, ...(reach.length ? reach.map((l) => `  ${printable(l)}`) : ['  reaches no channel'])];
}

const countRoutes = (rs: readonly { routes?: readonly unknown[] }[]): number => rs.reduce((n, r) => n + 1 + countRoutes((r.routes ?? []) as { routes?: unknown[] }[]), 0);
