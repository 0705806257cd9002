// The account's owner facts (OU path, configured tags) in every channel: console, Slack, webhook and
// PagerDuty custom details, hostile values included, and a Slack message received by a real local receiver.
import { afterEach, describe, expect, it } from 'vitest';
import { renderConsole } from '../../src/notify/console.js';
import { SlackNotifier, renderSlack } from '../../src/notify/slack.js';
import { renderWebhook } from '../../src/notify/webhook.js';
import { renderPagerDuty, type PagerDutyTrigger } from '../../src/notify/pagerduty.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { assertSlackPayload } from '../helpers/slack-limits.js';
import { HOSTILE, alert, digest } from './fixtures.js';

const owned = { ouPath: '/Prod/Payments', tags: { owner: 'payments', 'cost-center': 'cc-42' } };
const hostileOwner = {
  ouPath: `/${HOSTILE.channelPing}/${HOSTILE.newlines}`,
  tags: { [HOSTILE.bold.slice(0, 40)]: HOSTILE.userPing, owner: HOSTILE.unicode, team: HOSTILE.html },
};

describe('owner facts in the rendered alerts', () => {
  it('console: one owner line with the OU path and the tags', () => {
    const text = renderConsole(alert({}, owned));
    expect(text).toContain('  owner     ou /Prod/Payments, cost-center=cc-42, owner=payments\n');
    expect(renderConsole(alert())).not.toContain('owner ');
  });

  it('console: hostile values cannot add lines or escape sequences', () => {
    const text = renderConsole(alert({}, hostileOwner));
    const line = text.split('\n').find((l) => l.startsWith('  owner'))!;
    expect(line).toContain('<!channel> wake up');
    expect(text).not.toMatch(/\u001b/);
    expect(text.split('\n').filter((l) => l.includes('line2'))).toHaveLength(1);
  });

  it('Slack: a context line under the fields; hostile values neither ping nor format', () => {
    const p = renderSlack(alert({}, owned));
    const ctx = p.blocks.filter((b) => b.type === 'context').map((b) => (b as { elements: { text: string }[] }).elements[0]!.text);
    expect(ctx).toContain('*OU* `/Prod/Payments` · *cost-center* cc-42 · *owner* payments');
    assertSlackPayload(p);
    const h = renderSlack(alert({}, hostileOwner));
    assertSlackPayload(h);
    expect(JSON.stringify(h)).toContain('&lt;!channel&gt; wake up');
  });

  it('digests name each item\'s OU (console and Slack)', () => {
    const d = digest([alert({}, owned), alert({}, { storeId: 'cks-2', ouPath: '/Sandbox' }), alert({}, { storeId: 'cks-3' })]);
    const text = renderConsole(d);
    expect(text).toContain('ou /Prod/Payments');
    expect(text).toContain('ou /Sandbox');
    const slack = renderSlack(d);
    assertSlackPayload(slack);
    expect(JSON.stringify(slack)).toContain('· OU `/Prod/Payments`');
  });

  it('webhook: the subject carries ouPath and tags as they are', () => {
    const body = renderWebhook(alert({}, owned));
    expect(body.notification).toMatchObject({ subject: { ouPath: '/Prod/Payments', tags: { owner: 'payments', 'cost-center': 'cc-42' } } });
    const d = renderWebhook(digest([alert({}, owned)]));
    expect(JSON.stringify(d)).toContain('"ouPath":"/Prod/Payments"');
  });

  it('PagerDuty: ou_path and tags in custom_details, flattened and capped', () => {
    const [ev] = renderPagerDuty(alert({}, owned)) as PagerDutyTrigger[];
    expect(ev!.payload.custom_details).toMatchObject({ ou_path: '/Prod/Payments', tags: { owner: 'payments', 'cost-center': 'cc-42' } });
    const [h] = renderPagerDuty(alert({}, { ...hostileOwner, tags: { ...hostileOwner.tags, long: 'x'.repeat(5000) } })) as PagerDutyTrigger[];
    const details = h!.payload.custom_details as { ou_path: string; tags: Record<string, string> };
    expect(details.ou_path).not.toMatch(/[\r\n]/);
    expect(details.tags.long!.length).toBeLessThanOrEqual(256);
    const [none] = renderPagerDuty(alert()) as PagerDutyTrigger[];
    expect(none!.payload.custom_details).not.toHaveProperty('ou_path');
    expect(none!.payload.custom_details).not.toHaveProperty('tags');
  });
});

describe('owner facts in a Slack message received over HTTP', () => {
  let rx: Receiver | undefined;
  afterEach(async () => { await rx?.close(); });

  it('the receiver gets the OU path and tags', async () => {
    rx = await startReceiver();
    const s = new SlackNotifier({ type: 'slack', webhookUrl: `${rx.url}/services/T0/B0/owner-test`, minSeverity: 'warning' }, { timeoutMs: 5000 });
    expect(await s.send(alert({}, owned))).toMatchObject({ ok: true });
    const got = JSON.stringify(rx.requests[0]!.json);
    expect(got).toContain('`/Prod/Payments`');
    expect(got).toContain('*owner* payments');
    assertSlackPayload(rx.requests[0]!.json);
  });
});
