// KMS Create/Update/DeleteCustomKeyStore through the real KMS client: the state rules of the API reference,
// CloudTrail records of each call (failed ones too), and the proxy credential age restarting on rotation.
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CreateCustomKeyStoreCommand, DeleteCustomKeyStoreCommand, DescribeCustomKeyStoresCommand, DisconnectCustomKeyStoreCommand, UpdateCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { creds, kmsClient, rejection } from './helpers.js';

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const DAY = 86_400_000;
const XKS = 'cks-00000000000000aaa';
const HSM = 'cks-00000000000000bbb';
const CRED = { AccessKeyId: 'ABCDEFGHIJKLMNOPQRST', RawSecretAccessKey: 'a'.repeat(43) };

describe('custom key store administration', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  const kms = () => kmsClient(sim, 'us-east-1', creds('222222222222'));
  const trail = async (name: string) => {
    clock.advance(1_000);
    const r = await new CloudTrailClient({ endpoint: sim.url, region: 'us-east-1', credentials: creds('222222222222'), maxAttempts: 1 }).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }] }));
    return r.Events!.map((e) => JSON.parse(e.CloudTrailEvent!) as Record<string, any>);
  };
  beforeAll(async () => {
    sim = await startSimulator({
      clock,
      scenario: {
        accounts: [{ id: '222222222222', regions: { 'us-east-1': {
          stores: [
            { id: XKS, name: 'xks', type: 'EXTERNAL_KEY_STORE', metrics: { XksProxyCredentialAge: 120 } },
            { id: HSM, name: 'hsm', clusterId: 'cluster-aaaabbbbcccc' },
          ],
          clusters: [{ id: 'cluster-aaaabbbbcccc', hsms: [{ az: 'us-east-1a' }] }, { id: 'cluster-ddddeeeeffff', hsms: [{ az: 'us-east-1a' }] }],
        } } }],
        cloudwatch: { publishDelay: 0 },
        cloudtrail: { deliveryDelay: 0 },
        connection: { connectDelay: 0, disconnectDelay: 0 },
        faults: { rateLimitPerSecond: 0 },
      },
    });
  });
  afterAll(() => sim.close());

  it('updates a CONNECTED external store\'s name and credential, restarting XksProxyCredentialAge at 0', async () => {
    clock.advance(10 * 60_000);
    await kms().send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: XKS, NewCustomKeyStoreName: 'xks-renamed', XksProxyAuthenticationCredential: CRED }));
    const entry = (await kms().send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: XKS }))).CustomKeyStores![0]!;
    expect(entry.CustomKeyStoreName).toBe('xks-renamed');
    expect(entry.XksProxyConfiguration!.AccessKeyId).toBe(CRED.AccessKeyId);
    expect(entry.ConnectionState).toBe('CONNECTED');
    const [update] = await trail('UpdateCustomKeyStore');
    expect(update!.requestParameters).toEqual({ customKeyStoreId: XKS, newCustomKeyStoreName: 'xks-renamed', xksProxyAuthenticationCredential: { accessKeyId: 'HIDDEN_DUE_TO_SECURITY_REASONS', rawSecretAccessKey: 'HIDDEN_DUE_TO_SECURITY_REASONS' } });
    expect(update!.userIdentity.arn).toBe('arn:aws:iam::222222222222:user/keystore-watch-simulator');
    const rotatedAt = clock.now();
    clock.advance(2 * DAY);
    const cw = new CloudWatchClient({ endpoint: sim.url, region: 'us-east-1', credentials: creds('222222222222'), maxAttempts: 1 });
    const age = await cw.send(new GetMetricDataCommand({
      MetricDataQueries: [{ Id: 'age', MetricStat: { Metric: { Namespace: 'AWS/KMS', MetricName: 'XksProxyCredentialAge', Dimensions: [{ Name: 'CustomKeyStoreId', Value: XKS }] }, Period: 3600, Stat: 'Maximum' } }],
      StartTime: new Date(rotatedAt - 3_600_000), EndTime: new Date(clock.now()), ScanBy: 'TimestampAscending',
    }));
    const values = age.MetricDataResults![0]!.Values!;
    expect(values[0]).toBe(120);
    expect(values[1]).toBeLessThan(0.1);
    expect(values.at(-1)!).toBeGreaterThan(1.9);
    expect(values.at(-1)!).toBeLessThanOrEqual(2);
  });

  it('refuses what needs DISCONNECTED and records the failed call', async () => {
    const err = await rejection(() => kms().send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: XKS, XksProxyUriEndpoint: 'https://other.example.com' })));
    expect(err.name).toBe('CustomKeyStoreInvalidStateException');
    const hsm = await rejection(() => kms().send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: HSM, NewCustomKeyStoreName: 'x' })));
    expect(hsm.name).toBe('CustomKeyStoreInvalidStateException');
    const del = await rejection(() => kms().send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: HSM })));
    expect(del.name).toBe('CustomKeyStoreInvalidStateException');
    const failed = (await trail('UpdateCustomKeyStore')).filter((e) => e.errorCode);
    expect(failed.map((e) => [e.errorCode, e.requestParameters.customKeyStoreId])).toEqual([['CustomKeyStoreInvalidStateException', HSM], ['CustomKeyStoreInvalidStateException', XKS]]);
    expect((await trail('DeleteCustomKeyStore'))[0]!.errorCode).toBe('CustomKeyStoreInvalidStateException');
  });

  it('updates and deletes a DISCONNECTED CloudHSM store; creates a store DISCONNECTED; names stay unique', async () => {
    await kms().send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: HSM }));
    await kms().send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: HSM, CloudHsmClusterId: 'cluster-ddddeeeeffff', KeyStorePassword: 'hunter22' }));
    const [upd] = await trail('UpdateCustomKeyStore');
    expect(upd!.requestParameters).toEqual({ customKeyStoreId: HSM, cloudHsmClusterId: 'cluster-ddddeeeeffff', keyStorePassword: 'HIDDEN_DUE_TO_SECURITY_REASONS' });
    await kms().send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: HSM }));
    expect((await rejection(() => kms().send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: HSM })))).name).toBe('CustomKeyStoreNotFoundException');
    expect((await trail('DeleteCustomKeyStore'))[0]).toMatchObject({ requestParameters: { customKeyStoreId: HSM }, additionalEventData: { customKeyStoreName: 'hsm', clusterId: 'cluster-ddddeeeeffff' } });

    const created = await kms().send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'new-xks', CustomKeyStoreType: 'EXTERNAL_KEY_STORE', XksProxyUriEndpoint: 'https://xks.new.example.com', XksProxyUriPath: '/kms/xks/v1', XksProxyConnectivity: 'PUBLIC_ENDPOINT', XksProxyAuthenticationCredential: CRED }));
    expect(created.CustomKeyStoreId).toMatch(/^cks-[0-9a-f]{17}$/);
    const entry = (await kms().send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'new-xks' }))).CustomKeyStores![0]!;
    expect(entry).toMatchObject({ CustomKeyStoreId: created.CustomKeyStoreId, ConnectionState: 'DISCONNECTED', CustomKeyStoreType: 'EXTERNAL_KEY_STORE' });
    expect(entry.CreationDate!.getTime()).toBe(clock.now());
    const [create] = await trail('CreateCustomKeyStore');
    expect(create!.responseElements).toEqual({ customKeyStoreId: created.CustomKeyStoreId });
    expect(create!.requestParameters.xksProxyAuthenticationCredential).toEqual({ accessKeyId: 'HIDDEN_DUE_TO_SECURITY_REASONS', rawSecretAccessKey: 'HIDDEN_DUE_TO_SECURITY_REASONS' });
    const dup = await rejection(() => kms().send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'new-xks', CloudHsmClusterId: 'cluster-aaaabbbbcccc', KeyStorePassword: 'hunter22', TrustAnchorCertificate: 'x' })));
    expect(dup.name).toBe('CustomKeyStoreNameInUseException');
    expect((await trail('CreateCustomKeyStore')).filter((e) => e.errorCode === 'CustomKeyStoreNameInUseException')).toHaveLength(1);
  });
});
