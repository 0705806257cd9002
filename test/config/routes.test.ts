// alerting.routes in the configuration (src/config/routes.ts): a bad route is a config error naming the
// file and the key (exit 2); a good one parses to matchers and milliseconds.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ConfigError, parseConfigText } from '../../src/config/load.js';

interface Case { name: string; routes?: unknown; defaultChannels?: unknown; key: string; says: string }
const fixture = parse(readFileSync(new URL('../fixtures/config/bad-routes.yaml', import.meta.url), 'utf8')) as { base: { alerting: object }; cases: Case[] };
const text = (alerting: object) => stringify({ ...fixture.base, alerting: { ...fixture.base.alerting, ...alerting } });

describe('alerting.routes validation', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('rejects %s, naming the key', (_n, c) => {
    let error: unknown;
    try {
      parseConfigText(text({ ...(c.routes !== undefined && { routes: c.routes }), ...(c.defaultChannels !== undefined && { defaultChannels: c.defaultChannels }) }), 'routes.yaml', {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const err = error as ConfigError;
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('routes.yaml');
    const problem = err.problems.find((p) => p.startsWith(`${c.key}:`) || p.startsWith(`${c.key}.`) || p.startsWith(`${c.key} `));
    expect(problem, err.message).toBeDefined();
    expect(problem).toContain(c.says);
  });

  it('parses a tree: matchers, channels by name, durations, inheritance left to the router', () => {
    const c = parseConfigText(text({
      defaultChannels: ['ops'],
      routes: [
        { matchers: 'tag_team="payments"', channels: ['payments'], continue: true, repeatInterval: '1h', groupBy: ['account_id'] },
        { matchers: ['severity="critical"', 'ou_path=~"/Prod(/.*)?"'], channels: ['ops', 'webhook-2'], minSeverity: 'critical', routes: [{ matchers: '{code="NETWORK_ERRORS"}' }] },
      ],
    }), 'ok.yaml', {});
    expect(c.alerting.defaultChannels).toEqual(['ops']);
    const [a, b] = c.alerting.routes!;
    expect(a).toEqual({ matchers: [{ name: 'tag_team', type: '=', value: 'payments' }], channels: ['payments'], continue: true, repeatInterval: 3_600_000, groupBy: ['account_id'] });
    expect(b!.matchers).toEqual([{ name: 'severity', type: '=', value: 'critical' }, { name: 'ou_path', type: '=~', value: '/Prod(/.*)?' }]);
    expect(b!.routes![0]).toEqual({ matchers: [{ name: 'code', type: '=', value: 'NETWORK_ERRORS' }], continue: false });
  });

  it('no routes: the keys stay absent (the default route: every channel)', () => {
    const c = parseConfigText(text({}), 'ok.yaml', {});
    expect(c.alerting.routes).toBeUndefined();
    expect(c.alerting.defaultChannels).toBeUndefined();
  });
});
