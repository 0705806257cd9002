// IAM refusals before a handler runs (service control policy denies, permissions an account lacks) and
// GenerateRandom against the store's real cluster, with the real KMS and STS clients.
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { DescribeCustomKeyStoresCommand, GenerateRandomCommand } from '@aws-sdk/client-kms';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScenario, type ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { assumed, control, creds, hsmClient, kmsClient, MGMT, rejection } from './helpers.js';

const PAYMENTS = '222222222222';
const LEDGER = '333333333333';
const HSMS = [{ az: 'us-east-1a' }, { az: 'us-east-1b' }];

const scenario = (): ScenarioInput => ({
  accounts: [
    { id: MGMT, regions: { 'us-east-1': { stores: [{ id: 'cks-00000000000000001', name: 'mgmt', clusterId: 'cluster-aaaaaaaaaaaa' }], clusters: [{ id: 'cluster-aaaaaaaaaaaa', hsms: HSMS }] } } },
    {
      id: PAYMENTS,
      regions: {
        'us-east-1': {
          stores: [
            { id: 'cks-00000000000000002', name: 'healthy', clusterId: 'cluster-bbbbbbbbbbbb' },
            { id: 'cks-00000000000000003', name: 'no-active-hsm', clusterId: 'cluster-cccccccccccc' },
            { id: 'cks-00000000000000004', name: 'cluster-gone', clusterId: 'cluster-dddddddddddd' },
            { id: 'cks-00000000000000005', name: 'xks', type: 'EXTERNAL_KEY_STORE' },
          ],
          clusters: [
            { id: 'cluster-bbbbbbbbbbbb', hsms: HSMS },
            { id: 'cluster-cccccccccccc', hsms: [{ az: 'us-east-1a', state: 'DEGRADED' }, { az: 'us-east-1b', state: 'CREATE_IN_PROGRESS' }] },
          ],
        },
        'eu-west-1': { stores: [{ id: 'cks-00000000000000006', name: 'eu', clusterId: 'cluster-eeeeeeeeeeee' }], clusters: [{ id: 'cluster-eeeeeeeeeeee', hsms: [{ az: 'eu-west-1a' }] }] },
      },
    },
    { id: LEDGER, missingPermissions: ['kms:GenerateRandom'], regions: { 'us-east-1': { stores: [{ id: 'cks-00000000000000007', name: 'ledger', clusterId: 'cluster-ffffffffffff' }], clusters: [{ id: 'cluster-ffffffffffff', hsms: HSMS }] } } },
  ],
  scpDeny: [{ account: PAYMENTS, region: 'eu-west-1', action: 'kms:DescribeCustomKeyStores' }],
  faults: { rateLimitPerSecond: 0 },
});

const sessionArn = (account: string) => `arn:aws:sts::${account}:assumed-role/keystore-watch/ksw-test`;

describe('service control policies and missing permissions', () => {
  let sim: RunningSimulator;
  beforeAll(async () => { sim = await startSimulator({ scenario: scenario() }); });
  afterAll(() => sim.close());

  it('an SCP deny answers the explicit-deny AccessDeniedException (400 for KMS) in its region only', async () => {
    const role = assumed(sim, PAYMENTS);
    const err = await rejection(() => kmsClient(sim, 'eu-west-1', role).send(new DescribeCustomKeyStoresCommand({})));
    expect([err.name, err.$metadata?.httpStatusCode]).toEqual(['AccessDeniedException', 400]);
    expect(err.message).toBe(`User: ${sessionArn(PAYMENTS)} is not authorized to perform: kms:DescribeCustomKeyStores with an explicit deny in a service control policy`);
    expect((await kmsClient(sim, 'us-east-1', role).send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toHaveLength(4);
    // Other actions in the region are not denied.
    expect((await hsmClient(sim, 'eu-west-1', role).send(new DescribeClustersCommand({}))).Clusters).toHaveLength(1);
    expect(sim.fleet.counters().byTarget[`${PAYMENTS}/eu-west-1/DescribeCustomKeyStores`]).toMatchObject({ failed: 1, ok: 0 });
  });

  it('wildcards and every region; never the management account; STS answers AccessDenied 403', async () => {
    expect((await control(sim, 'PUT', '/_sim/scp-deny', [{ account: PAYMENTS, action: 'kms:*' }, { account: MGMT, action: '*' }, { account: LEDGER, action: 'sts:AssumeRole' }])).status).toBe(200);
    const role = assumed(sim, PAYMENTS);
    for (const region of ['us-east-1', 'eu-west-1']) {
      expect((await rejection(() => kmsClient(sim, region, role).send(new DescribeCustomKeyStoresCommand({})))).message).toContain('explicit deny in a service control policy');
    }
    expect((await rejection(() => kmsClient(sim, 'us-east-1', role).send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: 'cks-00000000000000002' })))).message)
      .toBe(`User: ${sessionArn(PAYMENTS)} is not authorized to perform: kms:GenerateRandom with an explicit deny in a service control policy`);
    // SCPs do not apply to the management account.
    expect((await kmsClient(sim, 'us-east-1').send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toHaveLength(1);
    const sts = new STSClient({ endpoint: sim.url, region: 'us-east-1', credentials: creds(LEDGER), maxAttempts: 1 });
    const denied = await rejection(() => sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${PAYMENTS}:role/x`, RoleSessionName: 'ksw' })));
    expect([denied.name, denied.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(denied.message).toBe(`User: arn:aws:iam::${LEDGER}:user/keystore-watch-simulator is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::${PAYMENTS}:role/x with an explicit deny in a service control policy`);
    expect((await control(sim, 'GET', '/_sim/scp-deny')).body).toHaveLength(3);
    expect((await control(sim, 'PUT', '/_sim/scp-deny', [{ account: PAYMENTS, action: 'DescribeCustomKeyStores' }])).status).toBe(400);
    expect((await control(sim, 'PUT', '/_sim/scp-deny', [{ account: '999999999999', action: 'kms:*' }])).status).toBe(404);
    await control(sim, 'PUT', '/_sim/scp-deny', []);
    expect((await kmsClient(sim, 'eu-west-1', role).send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toHaveLength(1);
  });

  it('kms:GenerateRandom missing from an account answers the identity-based implicit deny; other calls work', async () => {
    const role = assumed(sim, LEDGER);
    const err = await rejection(() => kmsClient(sim, 'us-east-1', role).send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: 'cks-00000000000000007' })));
    expect([err.name, err.$metadata?.httpStatusCode]).toEqual(['AccessDeniedException', 400]);
    expect(err.message).toBe(`User: ${sessionArn(LEDGER)} is not authorized to perform: kms:GenerateRandom because no identity-based policy allows the kms:GenerateRandom action`);
    expect((await kmsClient(sim, 'us-east-1', role).send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toHaveLength(1);
    await control(sim, 'PATCH', `/_sim/accounts/${LEDGER}`, { missingPermissions: [] });
    expect((await kmsClient(sim, 'us-east-1', role).send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: 'cks-00000000000000007' }))).Plaintext).toHaveLength(8);
  });
});

describe('GenerateRandom against the store cluster', () => {
  let sim: RunningSimulator;
  beforeAll(async () => { sim = await startSimulator({ scenario: scenario() }); });
  afterAll(() => sim.close());

  const generate = (id: string) => kmsClient(sim, 'us-east-1', assumed(sim, PAYMENTS)).send(new GenerateRandomCommand({ NumberOfBytes: 4, CustomKeyStoreId: id }));

  it('answers KMSInternalException (500) while the CONNECTED store has no ACTIVE HSM, bytes once one is ACTIVE', async () => {
    expect((await generate('cks-00000000000000002')).Plaintext).toHaveLength(4);
    for (const id of ['cks-00000000000000003', 'cks-00000000000000004']) {
      const err = await rejection(() => generate(id));
      expect([err.name, err.$metadata?.httpStatusCode]).toEqual(['KMSInternalException', 500]);
    }
    const hsm = sim.fleet.getCluster('cluster-cccccccccccc')!.hsms[1]!;
    sim.fleet.setHsm('cluster-cccccccccccc', hsm.id, { state: 'ACTIVE' });
    expect((await generate('cks-00000000000000003')).Plaintext).toHaveLength(4);
    // Losing the HSMs again (the cluster keeps ACTIVE state) breaks it again.
    sim.fleet.setCluster('cluster-cccccccccccc', { hsms: [] });
    expect((await rejection(() => generate('cks-00000000000000003'))).name).toBe('KMSInternalException');
  });

  it('rejects an external key store with UnsupportedOperationException, as the KMS model documents', async () => {
    const err = await rejection(() => generate('cks-00000000000000005'));
    expect([err.name, err.$metadata?.httpStatusCode]).toEqual(['UnsupportedOperationException', 400]);
  });
});

describe('scenario checks', () => {
  it('refuses an SCP for an unknown account, a bad action or region, and a bad missing permission', () => {
    const base = scenario();
    expect(() => parseScenario({ ...base, scpDeny: [{ account: '999999999999', action: 'kms:*' }] })).toThrow(/scpDeny\[0\]\.account: 999999999999 is not one of accounts/);
    expect(() => parseScenario({ ...base, scpDeny: [{ account: PAYMENTS, action: 'kms DescribeCustomKeyStores' }] })).toThrow(/scpDeny\[0\]\.action: must be an IAM action/);
    expect(() => parseScenario({ ...base, scpDeny: [{ account: PAYMENTS, region: 'us-east-7', action: 'kms:*' }] })).toThrow(/scpDeny\[0\]\.region: us-east-7 is not a region/);
    expect(() => parseScenario({ accounts: [{ id: MGMT, missingPermissions: ['GenerateRandom'] }] })).toThrow(/missingPermissions\[0\]/);
  });
});
