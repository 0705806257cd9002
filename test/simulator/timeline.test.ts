// Timeline entries for this round's scenario fields (opt-in regions, roles, SCP denies), applied on the
// simulated clock and seen through the real SDK clients; durations in a timeline `set` keep their units.
import { DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { parseScenario, type ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { creds, kmsClient, MGMT, rejection } from './helpers.js';

const MEMBER = '222222222222';

const scenario = (): ScenarioInput => ({
  accounts: [{ id: MGMT }, { id: MEMBER, regions: { 'us-east-1': { stores: [{ id: 'cks-00000000000000001', name: 'a', clusterId: 'cluster-aaaaaaaaaaaa', state: 'DISCONNECTED' }] } } }],
  timeline: [
    { at: '10s', account: MEMBER, set: { optInRegions: ['il-central-1'], roles: { KeystoreWatch: { maxSessionDuration: '2h' } } } },
    { at: '10s', store: 'cks-00000000000000001', set: { connectDelay: '5s' } },
    { at: '20s', scpDeny: [{ account: MEMBER, region: 'us-east-1', action: 'kms:*' }] },
    { at: '30s', scpDeny: [] },
  ],
  faults: { rateLimitPerSecond: 0 },
});

describe('timeline', () => {
  let sim: RunningSimulator;
  const clock = manualClock(Date.UTC(2025, 0, 1));
  beforeAll(async () => { sim = await startSimulator({ scenario: scenario(), clock }); });
  afterAll(() => sim.close());

  const assume = (DurationSeconds: number) => new STSClient({ endpoint: sim.url, region: 'us-east-1', credentials: creds(), maxAttempts: 1 })
    .send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${MEMBER}:role/KeystoreWatch`, RoleSessionName: 'ksw', DurationSeconds }));

  it('enables an opt-in region, sets a role MaxSessionDuration and a connect delay with their units, then adds and lifts an SCP', async () => {
    const member = kmsClient(sim, 'il-central-1', creds(MEMBER));
    expect((await rejection(() => member.send(new DescribeCustomKeyStoresCommand({})))).name).toBe('UnrecognizedClientException');
    expect((await rejection(() => assume(7200))).message).toContain('MaxSessionDuration');
    sim.fleet.advanceClock(10_000);
    expect((await member.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toEqual([]);
    expect((await assume(7200)).Credentials).toBeDefined();
    expect(sim.fleet.getStore('cks-00000000000000001')!.connectDelay).toBe(5_000);
    sim.fleet.advanceClock(10_000);
    const denied = await rejection(() => kmsClient(sim, 'us-east-1', creds(MEMBER)).send(new DescribeCustomKeyStoresCommand({})));
    expect(denied.message).toContain('explicit deny in a service control policy');
    sim.fleet.advanceClock(10_000);
    expect((await kmsClient(sim, 'us-east-1', creds(MEMBER)).send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toHaveLength(1);
  });

  it('refuses timeline entries naming a default region as opt-in, or an SCP for an unknown account', () => {
    const base = scenario();
    expect(() => parseScenario({ ...base, timeline: [{ at: '1s', account: MEMBER, set: { optInRegions: ['us-east-1'] } }] })).toThrow(/timeline\[0\]\.set\.optInRegions\[0\]: us-east-1 is enabled by default/);
    expect(() => parseScenario({ ...base, timeline: [{ at: '1s', scpDeny: [{ account: '999999999999', action: 'kms:*' }] }] })).toThrow(/timeline\[0\]\.scpDeny\[0\]\.account/);
    expect(() => parseScenario({ ...base, timeline: [{ at: '1s', scpDeny: [], faults: {} }] })).toThrow(/exactly one of store, cluster, account, faults or scpDeny/);
  });
});
