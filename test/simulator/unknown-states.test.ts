// States the SDK does not know (AWS adds enum values): a scenario, the timeline and the control API
// can put one on a store, a cluster or an HSM, and the real SDK clients receive it verbatim.
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { ConnectCustomKeyStoreCommand, DescribeCustomKeyStoresCommand, DisconnectCustomKeyStoreCommand, GenerateRandomCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { parseScenario, ScenarioError, type ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { control, hsmClient, kmsClient, MGMT, rejection } from './helpers.js';

const scenario = (): ScenarioInput => ({
  accounts: [{
    id: MGMT,
    regions: {
      'us-east-1': {
        stores: [
          { id: 'cks-00000000000000001', name: 'quarantined', clusterId: 'cluster-aaaaaaaaaaaa', unknownState: 'QUARANTINED' },
          { id: 'cks-00000000000000002', name: 'later', clusterId: 'cluster-bbbbbbbbbbbb' },
        ],
        clusters: [
          { id: 'cluster-aaaaaaaaaaaa', unknownState: 'HIBERNATING', hsms: [{ az: 'us-east-1a', unknownState: 'PATCHING' }] },
          { id: 'cluster-bbbbbbbbbbbb', hsms: [{ az: 'us-east-1a' }] },
        ],
      },
    },
  }],
  timeline: [
    { at: '10s', store: 'cks-00000000000000002', set: { unknownState: 'PENDING_REVIEW' } },
    { at: '10s', cluster: 'cluster-bbbbbbbbbbbb', set: { unknownState: 'SLEEPING' } },
  ],
  faults: { rateLimitPerSecond: 0 },
});

describe('unknown states on the wire', () => {
  let sim: RunningSimulator;
  const clock = manualClock(Date.UTC(2025, 0, 1));
  beforeAll(async () => { sim = await startSimulator({ scenario: scenario(), clock }); });
  afterAll(() => sim.close());

  const storeState = async (id: string) => (await kmsClient(sim).send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }))).CustomKeyStores![0]!;

  it('serves a scenario store, cluster and HSM state the SDK does not know, verbatim', async () => {
    const s = await storeState('cks-00000000000000001');
    expect(s.ConnectionState).toBe('QUARANTINED');
    expect(s).not.toHaveProperty('ConnectionErrorCode');
    const c = (await hsmClient(sim).send(new DescribeClustersCommand({ Filters: { clusterIds: ['cluster-aaaaaaaaaaaa'] } }))).Clusters![0]!;
    expect(c.State).toBe('HIBERNATING');
    expect(c.Hsms![0]!.State).toBe('PATCHING');
    // The states filter matches the unknown value too.
    const filtered = await hsmClient(sim).send(new DescribeClustersCommand({ Filters: { states: ['HIBERNATING'] } }));
    expect(filtered.Clusters!.map((x) => x.ClusterId)).toEqual(['cluster-aaaaaaaaaaaa']);
  });

  it('the timeline sets unknown states', async () => {
    expect((await storeState('cks-00000000000000002')).ConnectionState).toBe('CONNECTED');
    sim.fleet.advanceClock(10_000);
    expect((await storeState('cks-00000000000000002')).ConnectionState).toBe('PENDING_REVIEW');
    const c = (await hsmClient(sim).send(new DescribeClustersCommand({ Filters: { clusterIds: ['cluster-bbbbbbbbbbbb'] } }))).Clusters![0]!;
    expect(c.State).toBe('SLEEPING');
  });

  it('the control API sets and clears them; a known value or a lower-case one is refused as unknownState', async () => {
    const id = 'cks-00000000000000002';
    expect((await control(sim, 'PATCH', `/_sim/stores/${id}`, { unknownState: 'ARCHIVED' })).body.state).toBe('ARCHIVED');
    expect((await storeState(id)).ConnectionState).toBe('ARCHIVED');
    expect((await control(sim, 'PATCH', `/_sim/stores/${id}`, { unknownState: 'CONNECTED' })).status).toBe(400);
    expect((await control(sim, 'PATCH', `/_sim/stores/${id}`, { unknownState: 'archived' })).status).toBe(400);
    expect((await control(sim, 'PATCH', `/_sim/stores/${id}`, { state: 'CONNECTED', unknownState: 'ARCHIVED' })).status).toBe(400);
    // state: stays strict (typos are caught).
    expect((await control(sim, 'PATCH', `/_sim/stores/${id}`, { state: 'QUARANTINED' })).status).toBe(400);
    expect((await control(sim, 'PATCH', `/_sim/stores/${id}`, { state: 'CONNECTED' })).body.state).toBe('CONNECTED');
    expect((await storeState(id)).ConnectionState).toBe('CONNECTED');

    const hsmId = sim.fleet.getCluster('cluster-bbbbbbbbbbbb')!.hsms[0]!.id;
    expect((await control(sim, 'PATCH', `/_sim/clusters/cluster-bbbbbbbbbbbb/hsms/${hsmId}`, { unknownState: 'REBOOTING' })).body.state).toBe('REBOOTING');
    expect((await control(sim, 'PATCH', '/_sim/clusters/cluster-bbbbbbbbbbbb', { state: 'ACTIVE' })).body.state).toBe('ACTIVE');
    const c = (await hsmClient(sim).send(new DescribeClustersCommand({ Filters: { clusterIds: ['cluster-bbbbbbbbbbbb'] } }))).Clusters![0]!;
    expect([c.State, c.Hsms![0]!.State]).toEqual(['ACTIVE', 'REBOOTING']);
  });

  it('a store in an unknown state refuses connect, disconnect and GenerateRandom (never kinder than AWS)', async () => {
    const kms = kmsClient(sim);
    const CustomKeyStoreId = 'cks-00000000000000001';
    expect((await rejection(() => kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId })))).name).toBe('CustomKeyStoreInvalidStateException');
    expect((await rejection(() => kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId })))).name).toBe('CustomKeyStoreInvalidStateException');
    expect((await rejection(() => kms.send(new GenerateRandomCommand({ CustomKeyStoreId, NumberOfBytes: 8 })))).name).toBe('CustomKeyStoreInvalidStateException');
  });
});

describe('unknown states in a scenario file', () => {
  const bad = (store: Record<string, unknown>) => () => parseScenario({ accounts: [{ id: MGMT, regions: { 'us-east-1': { stores: [{ clusterId: 'cluster-aaaaaaaaaaaa', ...store }] } } }] });
  it('refuses both state and unknownState, a known value, and a value not in UPPER_SNAKE_CASE', () => {
    expect(bad({ state: 'CONNECTED', unknownState: 'QUARANTINED' })).toThrow(/stores\[0\]\.unknownState: give state or unknownState, not both/);
    expect(bad({ unknownState: 'FAILED' })).toThrow(/unknownState: is a known state/);
    expect(bad({ unknownState: 'Quarantined' })).toThrow(ScenarioError);
    expect(bad({ unknownState: 'QUARANTINED', errorCode: 'NETWORK_ERRORS' })).toThrow(/errorCode: KMS reports an errorCode only when state is FAILED/);
    expect(bad({ unknownState: 'QUARANTINED' })).not.toThrow();
  });
});
