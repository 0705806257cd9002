// STS AssumeRole through fromTemporaryCredentials, and Organizations ListAccounts, with the real SDKs.
import { DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { ListAccountsCommand, paginateListAccounts } from '@aws-sdk/client-organizations';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { assumed, creds, kmsClient, MGMT, orgClient, rejection, withSim } from './helpers.js';

const ACCOUNTS = ['111111111111', '222222222222', '333333333333'];

/** A raw STS query request signed (in scope only) with `as`: base credentials by default, issued ones with their token, or none (null). */
async function stsRaw(sim: RunningSimulator, body: string, as: { accessKeyId: string; sessionToken?: string } | null = creds()) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (as) headers.authorization = `AWS4-HMAC-SHA256 Credential=${as.accessKeyId}/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0`;
  if (as?.sessionToken) headers['x-amz-security-token'] = as.sessionToken;
  const res = await fetch(sim.url, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

describe('STS AssumeRole', () => {
  let sim: RunningSimulator;
  const clock = manualClock();
  beforeAll(async () => {
    sim = await startSimulator({ clock });
    sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 0, jitterMs: 0 });
  });
  afterAll(() => sim.close());

  it('assumes a role into each account; the issued keys are bound to that account', async () => {
    const expected: Record<string, string[]> = {
      '111111111111': ['security-audit-hsm'],
      '222222222222': ['payments-hsm', 'payments-hsm-staging', 'payments-xks'],
      '333333333333': ['analytics-hsm', 'analytics-hsm-old', 'analytics-xks'],
    };
    const keys = new Set<string>();
    for (const account of ACCOUNTS) {
      const provider = assumed(sim, account);
      const c = await provider();
      expect(c.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
      expect(c.sessionToken).toBeTruthy();
      keys.add(c.accessKeyId);
      const stores = await kmsClient(sim, 'us-east-1', provider).send(new DescribeCustomKeyStoresCommand({}));
      expect(stores.CustomKeyStores!.map((s) => s.CustomKeyStoreName).sort()).toEqual(expected[account]);
    }
    expect(keys.size).toBe(3);
    const ident = await stsRaw(sim, 'Action=GetCallerIdentity&Version=2011-06-15');
    expect(ident.text).toContain(`<Account>${MGMT}</Account>`);
  });

  it('denies an unknown account, a denied role and a wrong ExternalId with AccessDenied', async () => {
    const unknown = await rejection(() => assumed(sim, '999999999999')());
    expect(unknown.name).toBe('AccessDenied');
    sim.fleet.setAccount('222222222222', { denyAssumeRole: ['keystore-watch'] });
    expect((await rejection(() => assumed(sim, '222222222222')())).name).toBe('AccessDenied');
    expect((await assumed(sim, '222222222222', 'other-role')()).accessKeyId).toMatch(/^ASIA/);
    sim.fleet.setAccount('222222222222', { denyAssumeRole: true });
    expect((await rejection(() => assumed(sim, '222222222222', 'other-role')())).name).toBe('AccessDenied');
    sim.fleet.setAccount('222222222222', { denyAssumeRole: false, externalId: 'secret-ext' });
    expect((await rejection(() => assumed(sim, '222222222222')())).name).toBe('AccessDenied');
    expect((await assumed(sim, '222222222222', 'keystore-watch', { ExternalId: 'secret-ext' })()).accessKeyId).toMatch(/^ASIA/);
    sim.fleet.setAccount('222222222222', { externalId: null });
  });

  it('answers ExpiredTokenException for expired issued credentials; the simulated clock does not expire them', async () => {
    const provider = assumed(sim, '333333333333', 'keystore-watch', { DurationSeconds: 900 });
    const kms = kmsClient(sim, 'us-east-1', provider);
    await kms.send(new DescribeCustomKeyStoresCommand({}));
    clock.advance(3_600_000); // credential lifetimes run on wall-clock time, like the SDK's cache
    await kms.send(new DescribeCustomKeyStoresCommand({}));
    expect(sim.fleet.expireCredentials('333333333333')).toBeGreaterThan(0);
    const err = await rejection(() => kms.send(new DescribeCustomKeyStoresCommand({})));
    expect(err.name).toBe('ExpiredTokenException');
    expect(err.$metadata?.httpStatusCode).toBe(400);
    const other = await assumed(sim, '222222222222')();
    const res = await stsRaw(sim, 'Action=GetCallerIdentity&Version=2011-06-15', other);
    expect(res.text).toContain('<Account>222222222222</Account>');
    sim.fleet.expireCredentials();
    const expired = await stsRaw(sim, 'Action=GetCallerIdentity&Version=2011-06-15', other);
    expect(expired.status).toBe(403);
    expect(expired.text).toContain('<Code>ExpiredToken</Code>');
  });

  it('validates DurationSeconds and RoleSessionName, and rejects chaining beyond one hour', async () => {
    const bad = await stsRaw(sim, `Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::222222222222:role/x&RoleSessionName=s&DurationSeconds=100`);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('<Code>ValidationError</Code>');
    const chained = assumed(sim, '222222222222');
    const c = await chained();
    const res = await stsRaw(sim, 'Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::333333333333:role/x&RoleSessionName=chain&DurationSeconds=7200', c);
    expect(res.status).toBe(400);
    expect(res.text).toContain('role chaining');
  });

  it('rejects an unsigned STS request with MissingAuthenticationToken (403, XML)', async () => {
    const res = await stsRaw(sim, 'Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::222222222222:role/x&RoleSessionName=ab', null);
    expect(res.status).toBe(403);
    expect(res.text).toMatch(/<ErrorResponse[^>]*><Error><Type>Sender<\/Type><Code>MissingAuthenticationToken<\/Code>/);
    const unknown = await stsRaw(sim, 'Action=Frobnicate&Version=2011-06-15');
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('<Code>InvalidAction</Code>');
  });
});

describe('Organizations ListAccounts', () => {
  const many = {
    managementAccount: '100000000000',
    accounts: Array.from({ length: 47 }, (_, i) => ({ id: String(100000000000 + i), status: (['ACTIVE', 'SUSPENDED', 'PENDING_CLOSURE', 'CLOSED'] as const)[i % 4] })),
    faults: { rateLimitPerSecond: 0 },
  };

  it('pages with MaxResults <= 20 and NextToken, each account once, with Status and State', async () => {
    await withSim({ scenario: many }, async (sim) => {
      const org = orgClient(sim, creds('100000000000'));
      for (const pageSize of [1, 7, 20]) {
        const ids: string[] = [];
        for await (const page of paginateListAccounts({ client: org, pageSize }, {})) {
          expect(page.Accounts!.length).toBeLessThanOrEqual(pageSize);
          ids.push(...page.Accounts!.map((a) => a.Id!));
        }
        expect(ids).toEqual(many.accounts.map((a) => a.id));
      }
      const first = await org.send(new ListAccountsCommand({ MaxResults: 4 }));
      expect(first.Accounts!.map((a) => [a.Status, a.State])).toEqual([['ACTIVE', 'ACTIVE'], ['SUSPENDED', 'SUSPENDED'], ['PENDING_CLOSURE', 'PENDING_CLOSURE'], ['SUSPENDED', 'CLOSED']]);
      expect(first.Accounts![0]!.JoinedTimestamp).toBeInstanceOf(Date);
      const tooMany = await rejection(() => org.send(new ListAccountsCommand({ MaxResults: 21 })));
      expect(tooMany.name).toBe('InvalidInputException');
      expect(tooMany.Reason).toBe('MAX_VALUE_EXCEEDED');
      expect((await rejection(() => org.send(new ListAccountsCommand({ NextToken: 'bogus' })))).name).toBe('InvalidInputException');
    });
  });

  it('may answer empty pages that still carry NextToken', async () => {
    await withSim({ scenario: { ...many, organizations: { emptyPages: true } } }, async (sim) => {
      const org = orgClient(sim, creds('100000000000'));
      const first = await org.send(new ListAccountsCommand({}));
      expect(first.Accounts).toEqual([]);
      expect(first.NextToken).toBeTruthy();
      const ids: string[] = [];
      let empty = 0;
      for await (const page of paginateListAccounts({ client: org, pageSize: 20 }, {})) {
        if (page.Accounts!.length === 0) empty++;
        ids.push(...page.Accounts!.map((a) => a.Id!));
      }
      expect(ids.length).toBe(47);
      expect(empty).toBe(3);
    });
  });

  it('only the management account (or a delegated administrator) may list accounts', async () => {
    await withSim({ scenario: { ...many, organizations: { delegatedAdministrators: ['100000000004'] } } }, async (sim) => {
      const member = await rejection(() => orgClient(sim, creds('100000000001')).send(new ListAccountsCommand({})));
      expect(member.name).toBe('AccessDeniedException');
      expect(member.$metadata?.httpStatusCode).toBe(403);
      expect((await orgClient(sim, creds('100000000004')).send(new ListAccountsCommand({}))).Accounts!.length).toBe(20);
    });
    await withSim({ scenario: { ...many, organizations: { enabled: false } } }, async (sim) => {
      const err = await rejection(() => orgClient(sim, creds('100000000000')).send(new ListAccountsCommand({})));
      expect(err.name).toBe('AWSOrganizationsNotInUseException');
      expect(err.$metadata?.httpStatusCode).toBe(404);
    });
  });
});
