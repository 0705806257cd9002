// CloudTrail through the real @aws-sdk/client-cloudtrail (AWS JSON 1.1): LookupEvents over the key store
// calls recorded from KMS calls (the caller's identity), the timeline and the control API (a scenario actor),
// the delivery delay, paging, validation, the 2 requests/s quota and IAM refusals.
import { CloudTrailClient, LookupEventsCommand, type LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import { ConnectCustomKeyStoreCommand, DisconnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { parseScenario, type ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { assumed, control, creds, kmsClient, rejection } from './helpers.js';

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const A = 'cks-00000000000000aaa';
const B = 'cks-00000000000000bbb';
const C = 'cks-00000000000000ccc';
const ALICE = { arn: 'arn:aws:sts::222222222222:assumed-role/PlatformAdmin/alice', sourceIp: '203.0.113.24', userAgent: 'aws-cli/2.15.30' };

const scenario = (extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  accounts: [
    { id: '111111111111' },
    {
      id: '222222222222',
      regions: {
        'us-east-1': {
          stores: [
            { id: A, name: 'store-a', type: 'EXTERNAL_KEY_STORE' },
            { id: B, name: 'store-b', clusterId: 'cluster-aaaabbbbcccc', state: 'DISCONNECTED' },
            { id: C, name: 'store-c', type: 'EXTERNAL_KEY_STORE' },
          ],
          clusters: [{ id: 'cluster-aaaabbbbcccc', hsms: [{ az: 'us-east-1a' }] }],
        },
      },
    },
  ],
  connection: { connectDelay: 0, disconnectDelay: 0 },
  cloudtrail: {
    deliveryDelay: '30s',
    events: [{ at: '-2h', store: B, eventName: 'DisconnectCustomKeyStore', actor: { arn: 'arn:aws:iam::222222222222:user/bob', sourceIp: '198.51.100.7' } }],
  },
  timeline: [
    { at: '1m', store: C, set: { state: 'DISCONNECTED' }, actor: { service: 'cloudformation.amazonaws.com' } },
    { at: '2m', store: C, set: { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' } },
  ],
  faults: { rateLimitPerSecond: 0, rateLimits: { LookupEvents: 0 } },
  ...extra,
});

const ctClient = (sim: RunningSimulator, account = '222222222222', region = 'us-east-1') =>
  new CloudTrailClient({ endpoint: sim.url, region, credentials: creds(account), maxAttempts: 1 });
const lookup = (sim: RunningSimulator, input: LookupEventsCommandInput = {}, account?: string) => ctClient(sim, account).send(new LookupEventsCommand(input));
const byName = (name: string) => ({ LookupAttributes: [{ AttributeKey: 'EventName' as const, AttributeValue: name }] });
const record = (e: { CloudTrailEvent?: string | undefined }) => JSON.parse(e.CloudTrailEvent!) as Record<string, any>;

describe('LookupEvents', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  beforeAll(async () => { sim = await startSimulator({ clock, scenario: scenario() }); });
  afterAll(() => sim.close());

  it('records a KMS call with the caller\'s assumed-role identity, visible only after the delivery delay', async () => {
    const kms = kmsClient(sim, 'us-east-1', assumed(sim, '222222222222', 'OpsRole'));
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: A }));
    const callAt = clock.now();
    expect((await lookup(sim, byName('DisconnectCustomKeyStore'))).Events!.map((e) => e.EventTime!.getTime())).toEqual([START - 2 * 3_600_000]);
    clock.advance(29_000);
    expect((await lookup(sim, byName('DisconnectCustomKeyStore'))).Events).toHaveLength(1);
    clock.advance(1_000);
    const events = (await lookup(sim, byName('DisconnectCustomKeyStore'))).Events!;
    expect(events).toHaveLength(2);
    const [e] = events;
    expect(e).toMatchObject({ EventName: 'DisconnectCustomKeyStore', EventSource: 'kms.amazonaws.com', ReadOnly: 'false', Username: 'ksw-test', Resources: [] });
    expect(e!.EventTime!.getTime()).toBe(Math.floor(callAt / 1000) * 1000);
    expect(e!.AccessKeyId).toMatch(/^ASIA/);
    const r = record(e!);
    expect(r.userIdentity).toMatchObject({
      type: 'AssumedRole',
      arn: 'arn:aws:sts::222222222222:assumed-role/OpsRole/ksw-test',
      accountId: '222222222222',
      accessKeyId: e!.AccessKeyId,
      sessionContext: { sessionIssuer: { type: 'Role', arn: 'arn:aws:iam::222222222222:role/OpsRole', userName: 'OpsRole' } },
    });
    expect(r.userIdentity.principalId).toMatch(/^AROA[0-9A-F]{17}:ksw-test$/);
    expect(r).toMatchObject({ eventName: 'DisconnectCustomKeyStore', awsRegion: 'us-east-1', sourceIPAddress: '127.0.0.1', requestParameters: { customKeyStoreId: A }, responseElements: null, readOnly: false, eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: '222222222222', additionalEventData: { customKeyStoreName: 'store-a' } });
    expect(r.userAgent).toMatch(/aws-sdk-js/);
    expect(r.eventTime).toBe(new Date(Math.floor(callAt / 1000) * 1000).toISOString().replace('.000Z', 'Z'));
  });

  it('records a failed call with errorCode and errorMessage', async () => {
    const kms = kmsClient(sim, 'us-east-1', creds('222222222222'));
    const err = await rejection(() => kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: A })));
    expect(err.name).toBe('CustomKeyStoreInvalidStateException');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: A }));
    clock.advance(31_000);
    const events = (await lookup(sim, { LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'keystore-watch-simulator' }] })).Events!;
    expect(events.map((e) => e.EventName)).toEqual(['ConnectCustomKeyStore', 'DisconnectCustomKeyStore']);
    expect(record(events[1]!)).toMatchObject({ errorCode: 'CustomKeyStoreInvalidStateException', userIdentity: { type: 'IAMUser', userName: 'keystore-watch-simulator' } });
    expect(record(events[0]!).errorCode).toBeUndefined();
  });

  it('records timeline changes that name an actor, and nothing for changes without one', async () => {
    clock.advance(2 * 60_000);
    const events = (await lookup(sim, { StartTime: new Date(START + 30_000), EndTime: new Date(START + 5 * 60_000) })).Events!;
    const forC = events.filter((e) => record(e).requestParameters?.customKeyStoreId === C);
    expect(forC.map((e) => e.EventName)).toEqual(['DisconnectCustomKeyStore']);
    expect(record(forC[0]!)).toMatchObject({ userIdentity: { type: 'AWSService', invokedBy: 'cloudformation.amazonaws.com' }, sourceIPAddress: 'cloudformation.amazonaws.com' });
    expect(forC[0]!.EventTime!.getTime()).toBe(START + 60_000);
  });

  it('has the scenario\'s past events; a ResourceName lookup finds no key store event (their records list no resources)', async () => {
    const bob = (await lookup(sim, { LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'bob' }] })).Events!;
    expect(bob).toHaveLength(1);
    expect(record(bob[0]!)).toMatchObject({ userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::222222222222:user/bob' }, sourceIPAddress: '198.51.100.7', requestParameters: { customKeyStoreId: B } });
    expect((await lookup(sim, { LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: B }] })).Events).toEqual([]);
    // Other accounts and regions see nothing of it.
    expect((await lookup(sim, {}, '111111111111')).Events).toEqual([]);
    expect((await ctClient(sim, '222222222222', 'eu-west-1').send(new LookupEventsCommand({}))).Events).toEqual([]);
  });

  it('records control API changes with an actor: create, update, connect, disconnect, delete', async () => {
    const add = await control(sim, 'POST', '/_sim/stores', { account: '222222222222', region: 'us-east-1', id: 'cks-00000000000000ddd', name: 'store-d', type: 'EXTERNAL_KEY_STORE', state: 'DISCONNECTED', actor: ALICE });
    expect(add.status).toBe(201);
    expect((await control(sim, 'PATCH', '/_sim/stores/cks-00000000000000ddd', { name: 'store-d2', xks: { accessKeyId: 'ABCDEFGHIJKLMNOPQRST' }, actor: ALICE })).status).toBe(200);
    expect((await control(sim, 'POST', '/_sim/stores/cks-00000000000000ddd/connect', { actor: ALICE })).status).toBe(200);
    expect((await control(sim, 'PATCH', '/_sim/stores/cks-00000000000000ddd', { state: 'DISCONNECTED', actor: ALICE })).status).toBe(200);
    expect((await control(sim, 'DELETE', '/_sim/stores/cks-00000000000000ddd', { actor: ALICE })).status).toBe(200);
    expect((await control(sim, 'PATCH', `/_sim/stores/${A}`, { state: 'DISCONNECTED', actor: { arn: 'not-an-arn' } })).status).toBe(400);
    clock.advance(31_000);
    const alice = (await lookup(sim, { LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'alice' }] })).Events!;
    expect(alice.map((e) => e.EventName).reverse()).toEqual(['CreateCustomKeyStore', 'UpdateCustomKeyStore', 'ConnectCustomKeyStore', 'DisconnectCustomKeyStore', 'DeleteCustomKeyStore']);
    const update = record(alice.find((e) => e.EventName === 'UpdateCustomKeyStore')!);
    expect(update.requestParameters).toEqual({
      customKeyStoreId: 'cks-00000000000000ddd',
      newCustomKeyStoreName: 'store-d2',
      xksProxyAuthenticationCredential: { accessKeyId: 'HIDDEN_DUE_TO_SECURITY_REASONS', rawSecretAccessKey: 'HIDDEN_DUE_TO_SECURITY_REASONS' },
    });
    expect(update).toMatchObject({ sourceIPAddress: '203.0.113.24', userAgent: 'aws-cli/2.15.30' });
    expect(record(alice.find((e) => e.EventName === 'CreateCustomKeyStore')!).responseElements).toEqual({ customKeyStoreId: 'cks-00000000000000ddd' });
    // The control API shows every event, delivered or not.
    const all = await control(sim, 'GET', '/_sim/cloudtrail/events?account=222222222222');
    expect(all.body.length).toBeGreaterThanOrEqual(alice.length + 5);
  });

  it('pages newest first with NextToken; refuses a token it did not issue', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await lookup(sim, { MaxResults: 2, ...(token && { NextToken: token }) });
      pages++;
      expect(r.Events!.length).toBeLessThanOrEqual(2);
      seen.push(...r.Events!.map((e) => e.EventId!));
      token = r.NextToken;
    } while (token && pages < 50);
    const all = (await lookup(sim, {})).Events!;
    expect(seen).toEqual(all.map((e) => e.EventId));
    expect(pages).toBe(Math.ceil(all.length / 2));
    const times = all.map((e) => e.EventTime!.getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect((await rejection(() => lookup(sim, { NextToken: 'Zm9yZ2Vk' }))).name).toBe('InvalidNextTokenException');
  });

  const invalid: [string, LookupEventsCommandInput, string][] = [
    ['two lookup attributes', { LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'a' }, { AttributeKey: 'Username', AttributeValue: 'b' }] }, 'InvalidLookupAttributesException'],
    ['an unknown attribute key', { LookupAttributes: [{ AttributeKey: 'Region' as never, AttributeValue: 'a' }] }, 'InvalidLookupAttributesException'],
    ['MaxResults 51', { MaxResults: 51 }, 'InvalidMaxResultsException'],
    ['MaxResults 0', { MaxResults: 0 }, 'InvalidMaxResultsException'],
    ['a start after the end', { StartTime: new Date(START + 60_000), EndTime: new Date(START) }, 'InvalidTimeRangeException'],
  ];
  for (const [what, input, name] of invalid) {
    it(`refuses ${what} (${name}, 400)`, async () => {
      const err = await rejection(() => lookup(sim, input));
      expect(err.name).toBe(name);
      expect(err.$metadata?.httpStatusCode).toBe(400);
      expect(err.message.length).toBeGreaterThan(10);
    });
  }
});

describe('quota and IAM', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  beforeAll(async () => { sim = await startSimulator({ clock, scenario: scenario({ faults: { rateLimitPerSecond: 0 } }) }); });
  afterAll(() => sim.close());
  beforeEach(() => { clock.advance(5000); });

  it('allows 2 LookupEvents per second per account and region, then ThrottlingException (400)', async () => {
    await lookup(sim);
    await lookup(sim);
    const err = await rejection(() => lookup(sim));
    expect(err.name).toBe('ThrottlingException');
    expect(err.message).toBe('Rate exceeded');
    expect(err.$metadata?.httpStatusCode).toBe(400);
    await ctClient(sim, '222222222222', 'eu-west-1').send(new LookupEventsCommand({}));
    await lookup(sim, {}, '111111111111');
    clock.advance(999);
    expect((await rejection(() => lookup(sim))).name).toBe('ThrottlingException');
    clock.advance(1);
    await lookup(sim);
    expect(sim.fleet.counters().byTarget['222222222222/us-east-1/LookupEvents']).toEqual({ ok: 3, throttled: 2, failed: 0 });
  });

  it('a role without cloudtrail:LookupEvents gets AccessDeniedException (400) naming the action; an SCP deny says so', async () => {
    sim.fleet.setAccount('222222222222', { missingPermissions: ['cloudtrail:LookupEvents'] });
    try {
      const err = await rejection(() => ctClient(sim, '222222222222', 'us-east-1').send(new LookupEventsCommand({})));
      expect(err.name).toBe('AccessDeniedException');
      expect(err.$metadata?.httpStatusCode).toBe(400);
      expect(err.message).toBe('User: arn:aws:iam::222222222222:user/keystore-watch-simulator is not authorized to perform: cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action');
    } finally {
      sim.fleet.setAccount('222222222222', { missingPermissions: [] });
    }
    sim.fleet.setScpDeny([{ account: '222222222222', action: 'cloudtrail:*' }]);
    try {
      clock.advance(1000);
      const err = await rejection(() => lookup(sim));
      expect(err.message).toMatch(/cloudtrail:LookupEvents with an explicit deny in a service control policy$/);
    } finally {
      sim.fleet.setScpDeny([]);
    }
  });
});

describe('scenario actors and past events', () => {
  it('names the field of a bad actor or a past event for an unknown store', () => {
    const base = scenario();
    expect(() => parseScenario({ ...base, timeline: [{ at: '1m', store: A, set: { state: 'DISCONNECTED' }, actor: { arn: 'arn:aws:iam::222222222222:group/ops' } }] }, 's.yaml'))
      .toThrow(/s\.yaml: timeline\[0\]\.actor\.arn: must be an IAM user, root or assumed-role ARN/);
    expect(() => parseScenario({ ...base, timeline: [{ at: '1m', faults: { latencyMs: 1 }, actor: { service: 'cloudformation.amazonaws.com' } }] }, 's.yaml'))
      .toThrow(/timeline\[0\]\.actor: an actor applies only to store entries/);
    expect(() => parseScenario({ ...base, cloudtrail: { events: [{ at: '-1h', store: 'cks-00000000000000zzz', eventName: 'DisconnectCustomKeyStore', actor: ALICE }] } }, 's.yaml'))
      .toThrow(/cloudtrail\.events\[0\]\.store: no store with id cks-00000000000000zzz/);
    expect(() => parseScenario({ ...base, cloudtrail: { events: [{ at: '-1h', store: A, eventName: 'ScheduleKeyDeletion', actor: ALICE }] } } as never, 's.yaml'))
      .toThrow(/cloudtrail\.events\[0\]\.eventName/);
  });
});
