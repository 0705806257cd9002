import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import { redact } from '../../src/util/redact.js';

interface Case { name: string; raw?: string; config?: Record<string, unknown>; key: string }
const fixture = parse(readFileSync(new URL('../fixtures/config/bad-configs.yaml', import.meta.url), 'utf8')) as { base: Record<string, unknown>; cases: Case[] };

const env = { SLACK_URL: 'https://hooks.slack.com/services/T000/B000/canarysecretvalue' };

function textOf(c: Case): string {
  return c.raw ?? stringify({ ...fixture.base, ...c.config });
}

describe('configuration validation', () => {
  it('has at least 30 malformed configurations', () => expect(fixture.cases.length).toBeGreaterThanOrEqual(30));

  it.each(fixture.cases.map((c) => [c.name, c] as const))('rejects %s, naming the key', (_name, c) => {
    let error: unknown;
    try {
      parseConfigText(textOf(c), 'test.yaml', env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const err = error as ConfigError;
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('test.yaml');
    expect(err.problems.some((p) => p.startsWith(c.key) || p.includes(c.key))).toBe(true);
  });

  it('accepts the minimal configuration and fills defaults', () => {
    const c = parseConfigText(stringify(fixture.base), 'ok.yaml', env);
    expect(c.schedule).toBe('*/1 * * * *');
    expect(c.aws.concurrency).toBe(32);
    expect(c.alerting.confirmations).toBe(2);
    expect(c.alerting.repeatInterval).toBe(4 * 3600_000);
    expect(c.alerting.connectingTimeout).toEqual({ AWS_CLOUDHSM: 20 * 60_000, EXTERNAL_KEY_STORE: 5 * 60_000 });
  });

  it('interpolates ${ENV} and registers the value as a secret', () => {
    const c = parseConfigText(stringify({ ...fixture.base, alerting: { channels: [{ type: 'slack', webhookUrl: '${SLACK_URL}' }] } }), 'ok.yaml', env);
    expect(c.alerting.channels[0]).toMatchObject({ type: 'slack', webhookUrl: env.SLACK_URL });
    expect(redact(`posting to ${env.SLACK_URL} failed`)).not.toContain('canarysecretvalue');
  });

  it('uses ${VAR:-default} when the variable is unset', () => {
    const c = parseConfigText(stringify({ ...fixture.base, stateDir: '${KW_UNSET_DIR:-/var/lib/kw}' }), 'ok.yaml', {});
    expect(c.stateDir).toBe('/var/lib/kw');
  });

  it('accepts the shipped example configuration', () => {
    const text = readFileSync(new URL('../../config/keystore-watch.example.yaml', import.meta.url), 'utf8');
    const c = parseConfigText(text, 'example', { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/x', PAGERDUTY_ROUTING_KEY: 'R0123456789', WEBHOOK_SECRET: 'whsecret-123' });
    expect(c.regions.length).toBeGreaterThan(0);
  });
});

describe('organizations keys', () => {
  it('defaults: refresh every 15 minutes, no Organizations role, no tags, no OU filters', () => {
    const c = parseConfigText(stringify({ ...fixture.base, organizations: { enabled: true } }), 'ok.yaml', env);
    expect(c.organizations).toMatchObject({ refreshInterval: 15 * 60_000, roleArn: null, roleExternalId: null, tags: [], includeOUs: [], excludeOUs: [] });
  });

  it('takes the Organizations role apart from the member roles\' external id', () => {
    const c = parseConfigText(stringify({ ...fixture.base, organizations: {
      enabled: true, externalId: 'member-ext', roleArn: 'arn:aws:iam::999999999999:role/KeystoreWatchOrganizations', roleExternalId: 'org-ext',
      refreshInterval: '2m', tags: ['owner', 'cost-center', 'Équipe'], includeOUs: ['/Prod/Payments', 'ou-ab12-11111111'], excludeOUs: ['r-ab12'],
    } }), 'ok.yaml', env);
    expect(c.organizations).toMatchObject({ externalId: 'member-ext', roleExternalId: 'org-ext', refreshInterval: 120_000, tags: ['owner', 'cost-center', 'Équipe'] });
  });

  it('accepts tags and an ouPath on explicit accounts', () => {
    const c = parseConfigText(stringify({ regions: ['us-east-1'], accounts: [{ id: '111111111111', ouPath: '/Prod', tags: { owner: 'payments', 'cost-center': '' } }] }), 'ok.yaml', env);
    expect(c.accounts[0]).toMatchObject({ ouPath: '/Prod', tags: { owner: 'payments', 'cost-center': '' } });
  });
});
