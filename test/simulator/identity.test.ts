// Who the caller is and what STS grants: partitions in ARNs, GetCallerIdentity, base identities that
// are role sessions (role chaining), and a role's own MaxSessionDuration, with the real STS client.
import { DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { ListAccountsCommand, OrganizationsClient } from '@aws-sdk/client-organizations';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseAccessKeyId } from '../../src/simulator/fleet.js';
import type { ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { creds, kmsClient, MGMT, rejection } from './helpers.js';

const MEMBER = '222222222222';
const TOOLING = '444444444444';

type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const stsClient = (sim: RunningSimulator, region: string, credentials: Creds = creds()) => new STSClient({ endpoint: sim.url, region, credentials, maxAttempts: 1 });
const assume = (sim: RunningSimulator, region: string, credentials: Creds, RoleArn: string, DurationSeconds?: number) =>
  stsClient(sim, region, credentials).send(new AssumeRoleCommand({ RoleArn, RoleSessionName: 'ksw', ...(DurationSeconds && { DurationSeconds }) }));

describe('the aws-cn partition', () => {
  let sim: RunningSimulator;
  const scenario: ScenarioInput = {
    partition: 'aws-cn',
    accounts: [
      { id: MGMT },
      { id: MEMBER, regions: { 'cn-north-1': { stores: [{ name: 'bj-hsm', clusterId: 'cluster-aaaaaaaaaaaa' }] }, 'cn-northwest-1': { stores: [{ name: 'nx-xks', type: 'EXTERNAL_KEY_STORE' }] } } },
    ],
  };
  beforeAll(async () => { sim = await startSimulator({ scenario }); });
  afterAll(() => sim.close());

  it('ARNs carry the partition: GetCallerIdentity, AssumeRole, Organizations', async () => {
    const me = await stsClient(sim, 'cn-northwest-1').send(new GetCallerIdentityCommand({}));
    expect(me.Arn).toBe(`arn:aws-cn:iam::${MGMT}:user/keystore-watch-simulator`);
    const r = await assume(sim, 'cn-north-1', creds(), `arn:aws-cn:iam::${MEMBER}:role/KeystoreWatch`);
    expect(r.AssumedRoleUser!.Arn).toBe(`arn:aws-cn:sts::${MEMBER}:assumed-role/KeystoreWatch/ksw`);
    const org = await new OrganizationsClient({ endpoint: sim.url, region: 'cn-northwest-1', credentials: creds(), maxAttempts: 1 }).send(new ListAccountsCommand({}));
    expect(org.Accounts!.map((a) => a.Arn!.split(':').slice(0, 3).join(':'))).toEqual(['arn:aws-cn:organizations', 'arn:aws-cn:organizations']);
  });

  it('cn-north-1 and cn-northwest-1 work with assumed credentials; a commercial region does not know them', async () => {
    const provider = fromTemporaryCredentials({ params: { RoleArn: `arn:aws-cn:iam::${MEMBER}:role/KeystoreWatch`, RoleSessionName: 'ksw' }, masterCredentials: creds(), clientConfig: { endpoint: sim.url, region: 'cn-northwest-1', maxAttempts: 1 } });
    const names = [];
    for (const region of ['cn-north-1', 'cn-northwest-1']) {
      names.push(...(await kmsClient(sim, region, provider).send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.map((s) => s.CustomKeyStoreName));
    }
    expect(names).toEqual(['bj-hsm', 'nx-xks']);
    expect((await rejection(() => kmsClient(sim, 'us-east-1', provider).send(new DescribeCustomKeyStoresCommand({})))).name).toBe('UnrecognizedClientException');
  });

  it('a role ARN of another partition answers AccessDenied, naming the caller in its own partition', async () => {
    const err = await rejection(() => assume(sim, 'cn-north-1', creds(), `arn:aws:iam::${MEMBER}:role/KeystoreWatch`));
    expect([err.name, err.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(err.message).toBe(`User: arn:aws-cn:iam::${MGMT}:user/keystore-watch-simulator is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::${MEMBER}:role/KeystoreWatch`);
  });
});

describe('base identities, role chaining and MaxSessionDuration', () => {
  let sim: RunningSimulator;
  const scenario: ScenarioInput = {
    accounts: [
      { id: MGMT },
      { id: MEMBER, roles: { LongRole: { maxSessionDuration: '4h' } } },
      { id: TOOLING },
    ],
    credentials: { baseAccount: TOOLING, baseIdentity: 'role', baseRoleName: 'ksw-irsa' },
  };
  beforeAll(async () => { sim = await startSimulator({ scenario }); });
  afterAll(() => sim.close());

  it('sim.credentials are a role session of the tooling account (ASIA keys)', async () => {
    expect(sim.credentials.accessKeyId).toBe(`ASIASIM0${TOOLING}`);
    const me = await stsClient(sim, 'us-east-1', sim.credentials).send(new GetCallerIdentityCommand({}));
    expect(me.Account).toBe(TOOLING);
    expect(me.Arn).toBe(`arn:aws:sts::${TOOLING}:assumed-role/ksw-irsa/keystore-watch-base`);
    expect(me.UserId).toMatch(/^AROA[0-9A-F]{17}:keystore-watch-base$/);
    const user = await stsClient(sim, 'us-east-1', creds(TOOLING)).send(new GetCallerIdentityCommand({}));
    expect(user.Arn).toBe(`arn:aws:iam::${TOOLING}:user/keystore-watch-simulator`);
    expect(user.UserId).toMatch(/^AIDA[0-9A-F]{17}$/);
  });

  it('a role-session caller asking for more than 3,600 s gets the role chaining ValidationError; an IAM user does not', async () => {
    const arn = `arn:aws:iam::${MEMBER}:role/LongRole`;
    const chained = await rejection(() => assume(sim, 'us-east-1', sim.credentials, arn, 7200));
    expect([chained.name, chained.$metadata?.httpStatusCode]).toEqual(['ValidationError', 400]);
    expect(chained.message).toBe('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    expect((await assume(sim, 'us-east-1', sim.credentials, arn, 3600)).Credentials!.AccessKeyId).toMatch(/^ASIA/);
    expect((await assume(sim, 'us-east-1', creds(TOOLING), arn, 4 * 3600)).Credentials!.AccessKeyId).toMatch(/^ASIA/);
    // A session issued by AssumeRole chains too.
    const first = (await assume(sim, 'us-east-1', creds(TOOLING), arn)).Credentials!;
    const second = await rejection(() => assume(sim, 'us-east-1', { accessKeyId: first.AccessKeyId!, secretAccessKey: first.SecretAccessKey!, sessionToken: first.SessionToken! }, `arn:aws:iam::${MGMT}:role/x`, 3601));
    expect(second.message).toContain('role chaining');
  });

  it("a role's MaxSessionDuration (default 1 hour) caps DurationSeconds with the real message", async () => {
    const over = await rejection(() => assume(sim, 'us-east-1', creds(TOOLING), `arn:aws:iam::${MEMBER}:role/LongRole`, 4 * 3600 + 1));
    expect([over.name, over.message]).toEqual(['ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.']);
    const dflt = await rejection(() => assume(sim, 'us-east-1', creds(TOOLING), `arn:aws:iam::${MEMBER}:role/KeystoreWatch`, 3601));
    expect(dflt.message).toBe('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    sim.fleet.setAccount(MEMBER, { roles: { KeystoreWatch: { maxSessionDuration: '2h' } } });
    expect((await assume(sim, 'us-east-1', creds(TOOLING), `arn:aws:iam::${MEMBER}:role/KeystoreWatch`, 7200)).Credentials).toBeDefined();
    expect(() => sim.fleet.setAccount(MEMBER, { roles: { KeystoreWatch: { maxSessionDuration: '13h' } } })).toThrow(/between 1h and 12h/);
  });

  it('both key forms work for every account of the scenario', async () => {
    for (const id of [MGMT, MEMBER]) {
      const me = await stsClient(sim, 'eu-west-1', { accessKeyId: baseAccessKeyId(id, 'role'), secretAccessKey: 'x' }).send(new GetCallerIdentityCommand({}));
      expect(me.Account).toBe(id);
    }
  });
});
