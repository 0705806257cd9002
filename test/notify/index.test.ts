import { describe, expect, it } from 'vitest';
import { channelSchema, type ChannelConfig } from '../../src/config/schema.js';
import { channelIds, createNotifiers, routeNotification } from '../../src/notify/index.js';
import type { Severity } from '../../src/model.js';
import { alert, digest } from './fixtures.js';

const ch = (c: Record<string, unknown>): ChannelConfig => channelSchema.parse(c);

const CHANNELS = [
  ch({ type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/X' }),
  ch({ type: 'pagerduty', routingKey: 'rk-0123456789' }),
  ch({ type: 'webhook', url: 'https://hooks.example.com/kms', hmacSecret: 'whsec-0123456789' }),
  ch({ type: 'console' }),
  ch({ type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/Y', minSeverity: 'critical' }),
  ch({ type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/Z', name: 'sec-team' }),
  ch({ type: 'webhook', url: 'https://hooks.example.com/2', minSeverity: 'info' }),
];

describe('createNotifiers', () => {
  it('builds one notifier per channel with stable ids: name, else type, then type-2, ...', () => {
    const ns = createNotifiers(CHANNELS, { consoleWriter: () => {} });
    expect(ns.map((n) => [n.id, n.type])).toEqual([
      ['slack', 'slack'],
      ['pagerduty', 'pagerduty'],
      ['webhook', 'webhook'],
      ['console', 'console'],
      ['slack-2', 'slack'],
      ['sec-team', 'slack'],
      ['webhook-2', 'webhook'],
    ]);
    expect(ns.map((n) => n.minIntervalMs)).toEqual([1000, 0, 0, 0, 1000, 1000, 0]);
    expect(createNotifiers([])).toEqual([]);
  });

  it('de-duplicates colliding names in configuration order', () => {
    expect(channelIds([{ type: 'slack', name: 'ops' }, { type: 'webhook', name: 'ops' }, { type: 'slack', name: 'slack-2' }, { type: 'slack' }])).toEqual(['ops', 'ops-2', 'slack-2', 'slack-3']);
    expect(channelIds([{ type: 'slack', name: 'slack-2' }, { type: 'slack' }])).toEqual(['slack-2', 'slack-2-2']);
    expect(channelIds([{ type: 'slack', name: 'slack' }, { type: 'slack' }])).toEqual(['slack', 'slack-2']);
  });

  it('routes by minSeverity: defaults are slack warning, pagerduty critical, webhook warning, console info', () => {
    const ns = createNotifiers(CHANNELS, { consoleWriter: () => {} });
    const ids = (sev: Severity, kind: 'firing' | 'reminder' | 'resolved' = 'firing') => routeNotification(ns, alert({ severity: sev, kind })).map((n) => n.id);
    expect(ids('critical')).toEqual(['slack', 'pagerduty', 'webhook', 'console', 'slack-2', 'sec-team', 'webhook-2']);
    expect(ids('warning')).toEqual(['slack', 'webhook', 'console', 'sec-team', 'webhook-2']);
    expect(ids('info')).toEqual(['console', 'webhook-2']);
    // Resolved notifications follow the severity of the alert they resolve.
    expect(ids('critical', 'resolved')).toEqual(ids('critical'));
    expect(ids('warning', 'resolved')).toEqual(ids('warning'));
    expect(ids('warning', 'reminder')).toEqual(ids('warning'));
  });

  it('drills go to every channel, whatever their severity', () => {
    const ns = createNotifiers(CHANNELS, { consoleWriter: () => {} });
    expect(routeNotification(ns, alert({ kind: 'drill', severity: 'info' }))).toHaveLength(CHANNELS.length);
  });

  it('a digest goes to channels that take at least one item, and each renders only its items', () => {
    const ns = createNotifiers(CHANNELS, { consoleWriter: () => {} });
    const warnOnly = digest([alert({ severity: 'warning', condition: 'SINGLE_AZ' }), alert({ severity: 'warning', condition: 'SINGLE_AZ' }, { storeId: 'cks-2' })]);
    expect(routeNotification(ns, warnOnly).map((n) => n.id)).toEqual(['slack', 'webhook', 'console', 'sec-team', 'webhook-2']);
    const mixed = digest([alert(), alert({ severity: 'warning', condition: 'SINGLE_AZ' }, { storeId: 'cks-2' })]);
    const pd = ns.find((n) => n.id === 'pagerduty')!;
    expect(pd.accepts(mixed)).toBe(true);
    expect(pd.render(mixed)).toHaveLength(1);
  });

  it('passes the runbook base URL and the console writer through', async () => {
    const out: string[] = [];
    const [c] = createNotifiers([ch({ type: 'console' })], { runbookBaseUrl: 'https://wiki.example.com/runbooks.md', consoleWriter: (t) => out.push(t) });
    await c!.send(alert());
    expect(out.join('')).toContain('https://wiki.example.com/runbooks.md#kmscustomkeystorefailed');
  });
});
