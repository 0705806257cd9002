// The status page link (AlertNotification.statusUrl, stamped when http.externalUrl is set) in every
// channel's rendering; absent, nothing changes.
import { describe, expect, it } from 'vitest';
import { renderSlack } from '../../src/notify/slack.js';
import { renderPagerDuty } from '../../src/notify/pagerduty.js';
import { renderWebhook } from '../../src/notify/webhook.js';
import { renderConsole } from '../../src/notify/console.js';
import { alert, digest } from './fixtures.js';

const URL_ = 'https://ops.example.com/kw/stores/222222222222/us-east-1/cks-1234567890abcdef0';

describe('status page links in notifications', () => {
  it('Slack lists it first among the links, and per store in a digest', () => {
    const text = JSON.stringify(renderSlack(alert({ statusUrl: URL_ })));
    expect(text).toContain(`<${URL_}|Status page: this store>`);
    expect(JSON.stringify(renderSlack(alert()))).not.toContain('Status page');
    const d = JSON.stringify(renderSlack(digest([alert({ statusUrl: URL_ }), alert({ id: 'b', statusUrl: `${URL_}2` })])));
    expect(d).toContain(`<${URL_}|status>`);
  });

  it('PagerDuty: first link and client_url; the runbook stays the client_url without it', () => {
    const [e] = renderPagerDuty(alert({ statusUrl: URL_ }), { routingKey: 'k' }) as { links: { href: string }[]; client_url: string }[];
    expect(e!.links[0]!.href).toBe(URL_);
    expect(e!.client_url).toBe(URL_);
    const [plain] = renderPagerDuty(alert(), { routingKey: 'k' }) as { client_url: string }[];
    expect(plain!.client_url).toContain('runbooks.md#');
  });

  it('webhook body and console text carry it', () => {
    expect((renderWebhook(alert({ statusUrl: URL_ })).notification as { statusUrl?: string }).statusUrl).toBe(URL_);
    expect(renderConsole(alert({ statusUrl: URL_ }))).toContain(`status    ${URL_}`);
  });
});
