// Routing by labels (src/notify/routing.ts): Alertmanager's tree walk (first match, continue, fall back
// to the parent), inheritance, route minSeverity, per-route reminders, digests split per channel and
// groupBy. Pure: trees from the config schema, notifications from the label builder.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { alertLabels } from '../../src/alert/labels.js';
import type { AlertNotification, AlertSubject, Notification, Severity } from '../../src/model.js';
import {
  buildRouteTree, channelsForLabels, createRouter, legacyLabels, matchRoutes, reminderDue, repeatIntervalFor, routeToChannel,
} from '../../src/notify/routing.js';
import { alert, digest, subject } from './fixtures.js';

const HOUR = 3_600_000;
const CHANNELS = ['ops', 'payments', 'data', 'pager'];

function alerting(over: object): Config['alerting'] {
  return parseConfigText(stringify({
    regions: ['us-east-1'], accounts: [{ id: '111111111111' }],
    alerting: {
      channels: [
        { type: 'console', name: 'ops' }, { type: 'console', name: 'payments' }, { type: 'console', name: 'data' },
        { type: 'console', name: 'pager', minSeverity: 'critical' },
      ],
      ...over,
    },
  }), 'test.yaml', {}).alerting;
}

const TEAMS = {
  defaultChannels: ['ops'],
  routes: [
    { matchers: 'tag_team="payments"', channels: ['payments'], continue: true },
    { matchers: 'ou_path=~"/Prod/Data(/.*)?"', channels: ['data'], continue: true },
    { matchers: 'severity="critical"', channels: ['pager'] },
  ],
};

/** A labelled alert for an account with these owner facts. */
function owned(facts: Partial<AlertSubject>, over: Partial<AlertNotification> = {}): AlertNotification {
  const n = alert(over, { tags: {}, ouPath: null, ...facts });
  return { ...n, labels: alertLabels(n.condition, n.severity, n.subject) };
}
const reach = (a: Config['alerting'], n: Notification): string[] => {
  const tree = buildRouteTree(a, CHANNELS);
  return CHANNELS.filter((c) => routeToChannel(tree, n, c).length > 0);
};

describe('the tree walk', () => {
  const a = alerting(TEAMS);
  const cases: [string, Partial<AlertSubject>, Severity, string[]][] = [
    ['payments critical: team + pager (continue)', { tags: { team: 'payments' } }, 'critical', ['payments', 'pager']],
    ['payments warning: team only', { tags: { team: 'payments' } }, 'warning', ['payments']],
    ['data OU, nested', { ouPath: '/Prod/Data/Lake' }, 'warning', ['data']],
    ['data OU itself', { ouPath: '/Prod/Data' }, 'critical', ['data', 'pager']],
    ['an OU that only starts like it', { ouPath: '/Prod/DataScience' }, 'warning', ['ops']],
    ['both teams (tag and OU)', { tags: { team: 'payments' }, ouPath: '/Prod/Data' }, 'warning', ['payments', 'data']],
    ['nobody\'s warning: default route', {}, 'warning', ['ops']],
    ['nobody\'s critical: pager, and not the default', {}, 'critical', ['pager']],
  ];
  it.each(cases)('%s', (_n, facts, severity, expected) => {
    expect(reach(a, owned(facts, { severity }))).toEqual(expected);
  });

  it('without continue the first matching route stops the walk', () => {
    const b = alerting({ routes: [{ matchers: 'tag_team="payments"', channels: ['payments'] }, { matchers: 'severity="critical"', channels: ['pager'] }] });
    expect(reach(b, owned({ tags: { team: 'payments' } }, { severity: 'critical' }))).toEqual(['payments']);
  });

  it('no routes: every channel, each with its own minSeverity (today\'s behaviour)', () => {
    const b = alerting({});
    expect(reach(b, owned({}, { severity: 'warning' }))).toEqual(['ops', 'payments', 'data', 'pager']);
    // The router leaves minSeverity to the notifier (pager is critical-only there).
    expect(createRouter(b, CHANNELS.map((id) => ({ id }))).tree.channels).toEqual(CHANNELS);
  });

  it('a child that matches nothing leaves the alert with its parent; children inherit channels', () => {
    const b = alerting({ routes: [{ matchers: 'tag_team="payments"', channels: ['payments'], routes: [
      { matchers: 'region="eu-west-1"', channels: ['data'] },
      { matchers: 'alertname="KmsCustomKeyStoreFailed"' },
    ] }] });
    const tree = buildRouteTree(b, CHANNELS);
    expect(matchRoutes(tree, { tag_team: 'payments', region: 'eu-west-1' }).map((r) => r.path)).toEqual(['alerting.routes[0].routes[0]']);
    expect(matchRoutes(tree, { tag_team: 'payments', alertname: 'KmsCustomKeyStoreFailed' }).map((r) => [r.path, r.channels])).toEqual([['alerting.routes[0].routes[1]', ['payments']]]);
    expect(matchRoutes(tree, { tag_team: 'payments' }).map((r) => r.path)).toEqual(['alerting.routes[0]']);
    expect(matchRoutes(tree, {}).map((r) => r.path)).toEqual(['default route']);
  });

  it('channels: [] drops what it matches', () => {
    const b = alerting({ routes: [{ matchers: 'account_name=~".*-sandbox"', channels: [] }] });
    expect(reach(b, owned({ accountName: 'dev-sandbox' }))).toEqual([]);
    expect(reach(b, owned({ accountName: 'prod' }))).toEqual(CHANNELS);
  });

  it('route minSeverity narrows; a resolved carries its alert\'s severity', () => {
    const b = alerting({ routes: [{ channels: ['payments'], minSeverity: 'critical', continue: true }, { channels: ['ops'] }] });
    expect(reach(b, owned({}, { severity: 'warning' }))).toEqual(['ops']);
    expect(reach(b, owned({}, { severity: 'critical', kind: 'resolved' }))).toEqual(['ops', 'payments']);
  });

  it('a route\'s minSeverity is part of its match: a warning walks on to the next route', () => {
    const b = alerting({ defaultChannels: ['ops'], routes: [
      { matchers: 'tag_team="payments"', channels: ['pager'], minSeverity: 'critical' },
      { matchers: 'tag_team="payments"', channels: ['payments'] },
    ] });
    expect(reach(b, owned({ tags: { team: 'payments' } }, { severity: 'critical' }))).toEqual(['pager']);
    expect(reach(b, owned({ tags: { team: 'payments' } }, { severity: 'warning' }))).toEqual(['payments']);
    expect(reach(b, owned({}, { severity: 'critical' }))).toEqual(['ops']);
  });

  it('drills reach every channel whatever the routes', () => {
    expect(reach(alerting({ ...TEAMS, routes: [{ channels: [] }] }), owned({}, { kind: 'drill' }))).toEqual(CHANNELS);
  });

  it('a notification queued before labels existed is routed on its fields', () => {
    const old = alert({ severity: 'critical' }, { accountName: 'payments-prod' });
    expect(old.labels).toBeUndefined();
    expect(legacyLabels(old)).toMatchObject({ alertname: 'KmsCustomKeyStoreFailed', account_name: 'payments-prod', severity: 'critical' });
    const b = alerting({ defaultChannels: ['ops'], routes: [{ matchers: 'account_name="payments-prod"', channels: ['payments'] }] });
    expect(reach(b, old)).toEqual(['payments']);
  });

  it('channelsForLabels names the routes (check-config)', () => {
    const tree = buildRouteTree(alerting(TEAMS), CHANNELS);
    expect(channelsForLabels(tree, { tag_team: 'payments', severity: 'critical' }, 'critical').map((c) => [c.channel, c.routes.map((r) => r.path)]))
      .toEqual([['payments', ['alerting.routes[0]']], ['pager', ['alerting.routes[2]']]]);
  });
});

describe('reminders per route', () => {
  it('reminderDue: a multiple of the interval since the anchor in (previous, now]', () => {
    const r = { anchor: 0, previous: 0 };
    expect(reminderDue(r, HOUR, HOUR)).toBe(true);
    expect(reminderDue(r, HOUR, 4 * HOUR)).toBe(false);
    expect(reminderDue({ anchor: 0, previous: 3 * HOUR + 1000 }, 4 * HOUR + 2000, 4 * HOUR)).toBe(true);
    expect(reminderDue({ anchor: 0, previous: 4 * HOUR + 2000 }, 5 * HOUR + 3000, 4 * HOUR)).toBe(false);
  });

  it('the engine reminds at the shortest interval of the routes that reach a taking channel', () => {
    const b = alerting({ repeatInterval: '4h', routes: [
      { matchers: 'tag_team="payments"', channels: ['payments'], repeatInterval: '1h', continue: true },
      { channels: ['ops'], repeatInterval: '2h' },
      { channels: ['pager'], repeatInterval: '30m' },
    ] });
    const tree = buildRouteTree(b, CHANNELS);
    const min = new Map<string, Severity>([['pager', 'critical']]);
    expect(repeatIntervalFor(tree, { tag_team: 'payments', severity: 'warning' }, min)).toBe(HOUR);
    expect(repeatIntervalFor(tree, { severity: 'warning' }, min)).toBe(2 * HOUR);
    // The ops route matched first (no continue), so pager's 30m is never reached.
    expect(repeatIntervalFor(tree, { severity: 'critical' }, min)).toBe(2 * HOUR);
    expect(repeatIntervalFor(buildRouteTree(alerting({}), CHANNELS), { severity: 'info' }, min)).toBe(4 * HOUR);
  });

  it('hourly reminders for the team, every 4h for the catch-all, over a day', () => {
    const b = alerting({ repeatInterval: '4h', routes: [
      { matchers: 'tag_team="payments"', channels: ['payments'], repeatInterval: '1h', continue: true },
      { channels: ['ops'] },
    ] });
    const tree = buildRouteTree(b, CHANNELS);
    const got: Record<string, number[]> = { payments: [], ops: [] };
    // Reminders the engine sends hourly, each poll a little late (polls every 70 s).
    let previous = 0;
    for (let t = 70_000; t <= 24 * HOUR; t += 70_000) {
      if (t - previous < HOUR) continue;
      const n = owned({ tags: { team: 'payments' } }, { kind: 'reminder', createdAt: t, reminder: { anchor: 0, previous } });
      for (const c of ['payments', 'ops']) if (routeToChannel(tree, n, c).length) got[c]!.push(Math.floor(t / HOUR));
      previous = t;
    }
    expect(got.payments).toHaveLength(23);
    expect(got.ops).toEqual([4, 8, 12, 16, 20]);
  });
});

describe('digests', () => {
  const a = alerting({ ...TEAMS, routes: [
    { matchers: 'tag_team="payments"', channels: ['payments'], continue: true, groupBy: ['account_id'] },
    { matchers: 'tag_team="data"', channels: ['data'], continue: true, groupBy: ['...'] },
    { channels: ['ops'] },
  ] });
  const tree = buildRouteTree(a, CHANNELS);
  const items = [
    owned({ tags: { team: 'payments' }, accountId: '111111111111', storeId: 'cks-1' }),
    owned({ tags: { team: 'payments' }, accountId: '111111111111', storeId: 'cks-2' }),
    owned({ tags: { team: 'payments' }, accountId: '222222222222', storeId: 'cks-3' }),
    owned({ tags: { team: 'data' }, storeId: 'cks-4' }),
    owned({ tags: { team: 'data' }, storeId: 'cks-5' }),
  ];
  const d = digest(items);

  it('the catch-all gets the whole digest, unchanged', () => {
    expect(routeToChannel(tree, d, 'ops')).toEqual([d]);
  });

  it('a team gets only its items, split by its groupBy; a lone alert goes as itself', () => {
    const got = routeToChannel(tree, d, 'payments');
    expect(got).toHaveLength(2);
    const [first, second] = got;
    expect(first!.kind).toBe('digest');
    expect((first as typeof d).items.map((i) => i.subject.storeId)).toEqual(['cks-1', 'cks-2']);
    expect(first!.id).toMatch(new RegExp(`^${d.id}:[0-9a-f]{16}$`));
    expect(first!.labels).toMatchObject({ account_id: '111111111111', tag_team: 'payments' });
    expect(second).toBe(items[2]);
    // Deterministic: the same digest routed again gives the same ids (the outbox deduplicates a replay).
    expect(routeToChannel(tree, d, 'payments').map((n) => n.id)).toEqual(got.map((n) => n.id));
  });

  it('groupBy ["..."]: every alert its own message', () => {
    expect(routeToChannel(tree, d, 'data')).toEqual([items[3], items[4]]);
  });

  it('a channel no item reaches gets nothing', () => {
    expect(routeToChannel(tree, d, 'pager')).toEqual([]);
  });
});
