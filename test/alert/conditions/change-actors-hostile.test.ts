// "Who changed it" from hostile CloudTrail events: every field of an event is text someone else wrote
// (a principal ARN, a user agent, request parameters, even the event name). From the parsed event through
// the alert's details to each rendering: secrets dropped, values capped, Slack neither pinging nor
// formatting, one line per value on the console, PagerDuty fields within its limits. Pure: no I/O.
import { describe, expect, it } from 'vitest';
import { parseEvent } from '../../../src/collect/cloudtrail.js';
import { actorDetails, ACTOR_DETAIL } from '../../../src/alert/conditions/change-actors.js';
import type { ChangeAttribution } from '../../../src/model.js';
import { renderConsole } from '../../../src/notify/console.js';
import { renderSlack } from '../../../src/notify/slack.js';
import { renderWebhook } from '../../../src/notify/webhook.js';
import { renderPagerDuty, type PagerDutyTrigger } from '../../../src/notify/pagerduty.js';
import { assertSlackPayload } from '../../helpers/slack-limits.js';
import { HOSTILE, alert } from '../../notify/fixtures.js';

const SECRET = 'xks-proxy-secret-VALUE-do-not-leak-0123456789';
const LONG = 'A<!channel>*_'.repeat(20_000);

function hostileEvent() {
  return parseEvent({
    EventName: `DisconnectCustomKeyStore${HOSTILE.newlines}${LONG}`,
    EventId: `${HOSTILE.link}${LONG}`,
    EventTime: new Date(Date.UTC(2026, 10, 30, 9, 0, 0)),
    Resources: [{ ResourceName: 'cks-0123456789abcdef0' }],
    CloudTrailEvent: JSON.stringify({
      userIdentity: { type: `IAMUser${HOSTILE.channelPing}${LONG}`, arn: `arn:aws:iam::111122223333:user/${HOSTILE.channelPing}${HOSTILE.newlines}${LONG}` },
      sourceIPAddress: `${HOSTILE.herePing}${LONG}`,
      userAgent: `${HOSTILE.unicode}${LONG}`,
      requestParameters: {
        customKeyStoreId: 'cks-0123456789abcdef0',
        note: `${HOSTILE.bold}${HOSTILE.userPing}${LONG}`,
        xksProxyAuthenticationCredential: { accessKeyId: 'AKIAHOSTILE', rawSecretAccessKey: SECRET },
        keyStorePassword: SECRET,
        nested: { password: SECRET, fine: HOSTILE.html },
      },
    }),
  });
}

function attribution(): ChangeAttribution {
  const parsed = hostileEvent();
  expect(parsed).not.toBeNull();
  return { accountId: '111122223333', region: 'eu-west-1', storeId: 'cks-0123456789abcdef0', change: 'DISCONNECTED', seenAt: 1, status: 'found', actor: parsed!.actor } as ChangeAttribution;
}

describe('hostile CloudTrail events in alerts', () => {
  it('parsing drops every credential field and caps what it keeps', () => {
    const a = attribution();
    const text = JSON.stringify(a.actor);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('rawSecretAccessKey');
    expect(a.actor!.requestParameters).not.toHaveProperty('keyStorePassword');
    expect(a.actor!.principal.length).toBeLessThanOrEqual(300);
    expect(a.actor!.source!.length).toBeLessThanOrEqual(200);
    expect(a.actor!.userAgent!.length).toBeLessThanOrEqual(200);
    for (const v of Object.values(a.actor!.requestParameters)) expect(v.length).toBeLessThanOrEqual(200);
    // Fields AWS fills in are capped too: a bug or a forged event must not carry megabytes into a page.
    expect(a.actor!.eventName.length).toBeLessThanOrEqual(200);
    expect(a.actor!.eventId.length).toBeLessThanOrEqual(200);
    expect(a.actor!.identityType.length).toBeLessThanOrEqual(200);
  });

  it('the details stay bounded and every rendering stays safe', () => {
    const details = actorDetails(attribution());
    for (const [k, v] of Object.entries(details)) expect(v.length, k).toBeLessThanOrEqual(1000);
    expect(details[ACTOR_DETAIL.by]).toMatch(/^arn:aws:iam::111122223333:user\//);
    const n = alert({ condition: 'DISCONNECTED' }, { state: 'DISCONNECTED', errorCode: null, details });

    const slack = renderSlack(n);
    assertSlackPayload(slack);
    const slackText = JSON.stringify(slack);
    expect(slackText).not.toMatch(/<!channel>|<!here|<@U123ABC>|<https:\/\/evil/);
    expect(slackText).toContain('&lt;!channel&gt;');
    expect(slackText).not.toContain(SECRET);

    const console = renderConsole(n);
    expect(console).not.toMatch(/\u001b|\u202e/);
    for (const line of console.split('\n')) expect(line).not.toMatch(/^line[234]/);

    const [pd] = renderPagerDuty(n) as PagerDutyTrigger[];
    expect(pd!.payload.summary.length).toBeLessThanOrEqual(1024);
    expect(JSON.stringify(pd)).not.toContain(SECRET);

    const hook = JSON.stringify(renderWebhook(n));
    expect(hook).not.toContain(SECRET);
    expect(hook.length).toBeLessThan(64 * 1024);
  });
});
