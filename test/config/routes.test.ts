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

describe('the shipped routing examples', () => {
  const env = {
    PAYMENTS_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/payments', DATA_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/data',
    PLATFORM_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/platform', PAGERDUTY_ROUTING_KEY: 'R0123456789abcdef',
  };

  it('config/routing.example.yaml is a valid configuration', () => {
    const text = readFileSync(new URL('../../config/routing.example.yaml', import.meta.url), 'utf8');
    const c = parseConfigText(text, 'routing.example.yaml', env);
    expect(c.alerting.routes).toHaveLength(4);
    expect(c.alerting.defaultChannels).toEqual(['platform-slack']);
  });

  it("the README's routing example is valid under a minimal configuration", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('routes:') && b.startsWith('alerting:'));
    expect(block).toBeDefined();
    const c = parseConfigText(`regions: [us-east-1]\naccounts: [{ id: "111111111111" }]\n${block}`, 'README.md', env);
    expect(c.alerting.routes!.map((r) => r.channels)).toEqual([['payments-slack'], ['data-slack'], ['oncall']]);
  });
});

describe('hostile route trees', () => {
  it('refuses nesting deeper than 16 levels, naming the key', () => {
    let route: Record<string, unknown> = { channels: ['ops'] };
    for (let i = 0; i < 20; i++) route = { routes: [route] };
    let error: unknown;
    try {
      parseConfigText(text({ routes: [route] }), 'deep.yaml', {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join('\n')).toMatch(/alerting\.routes\[0\](\.routes\[0\]){15}\.routes: routes nest at most 16 levels deep/);
  });
});
