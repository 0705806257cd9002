// Pure parts of regions and partitions: the SDK's partition table, config defaults, the per-account
// enabled-regions cache, and how an unanswered target is classified.
import { describe, expect, it } from 'vitest';
import { arnPartition, isAssumedRoleArn, partitionOfRegion, roleArnFor } from '../../src/config/partitions.js';
import { parseConfig } from '../../src/config/load.js';
import { EnabledRegions, regionsToPoll } from '../../src/discover/regions.js';
import { resolveAccounts } from '../../src/discover/targets.js';
import { classifyUnanswered, deniedAction, isExpiredCredentials, isScpDeny, mayBeRegionNotEnabled } from '../../src/collect/target-errors.js';

const config = (over: Record<string, unknown>) => parseConfig({ accounts: [{ id: '111111111111' }], regions: ['us-east-1'], ...over }, 't.yaml', {});

describe('partitions from the SDK metadata', () => {
  it('knows real regions, opt-in ones and other partitions, and nothing else', () => {
    expect(partitionOfRegion('us-east-1')).toEqual({ name: 'aws', homeRegion: 'us-east-1', dnsSuffix: 'amazonaws.com' });
    expect(partitionOfRegion('me-central-1')?.name).toBe('aws');
    expect(partitionOfRegion('il-central-1')?.name).toBe('aws');
    expect(partitionOfRegion('cn-north-1')).toEqual({ name: 'aws-cn', homeRegion: 'cn-northwest-1', dnsSuffix: 'amazonaws.com.cn' });
    expect(partitionOfRegion('us-gov-east-1')).toMatchObject({ name: 'aws-us-gov', homeRegion: 'us-gov-west-1' });
    // Match a partition's regex but are listed nowhere, or are pseudo-regions.
    for (const bad of ['us-east-7', 'eu-west1', 'xx-fake-9', 'aws-global', 'US-EAST-1', '', 'us-east-1 ']) expect(partitionOfRegion(bad), bad).toBeNull();
  });

  it('builds and reads ARNs in the partition', () => {
    expect(roleArnFor('aws-cn', '222222222222', 'KeystoreWatch')).toBe('arn:aws-cn:iam::222222222222:role/KeystoreWatch');
    expect(arnPartition('arn:aws-us-gov:iam::1:role/x')).toBe('aws-us-gov');
    expect(isAssumedRoleArn('arn:aws:sts::111111111111:assumed-role/irsa-role/botocore-session-1')).toBe(true);
    expect(isAssumedRoleArn('arn:aws-cn:sts::111111111111:assumed-role/r/s')).toBe(true);
    expect(isAssumedRoleArn('arn:aws:iam::111111111111:user/ops')).toBe(false);
    expect(isAssumedRoleArn('arn:aws:iam::111111111111:role/r')).toBe(false);
  });
});

describe('configuration: regions and partitions', () => {
  it('home region defaults to the partition home of the regions', () => {
    expect(config({}).aws.homeRegion).toBe('us-east-1');
    expect(config({ regions: ['cn-north-1', 'cn-northwest-1'] }).aws.homeRegion).toBe('cn-northwest-1');
    expect(config({ regions: ['us-gov-east-1'] }).aws.homeRegion).toBe('us-gov-west-1');
    expect(config({ regions: ['eu-west-1'], aws: { homeRegion: 'eu-west-1' } }).aws.homeRegion).toBe('eu-west-1');
    // regions: enabled: the role ARNs say the partition.
    expect(config({ regions: 'enabled', accounts: [{ id: '111111111111', roleArn: 'arn:aws-cn:iam::111111111111:role/KW' }] }).aws.homeRegion).toBe('cn-northwest-1');
    expect(config({ regions: 'enabled' }).aws.homeRegion).toBe('us-east-1');
  });

  it('accepts enabled, excludeRegions and refreshInterval with defaults', () => {
    const c = config({ regions: 'enabled', excludeRegions: ['ap-east-1'] });
    expect(c.regions).toBe('enabled');
    expect(c.excludeRegions).toEqual(['ap-east-1']);
    expect(c.organizations.refreshInterval).toBe(15 * 60_000);
    expect(c.aws.useFipsEndpoint).toBeNull();
  });

  it('organization role ARNs follow the partition', () => {
    const c = config({ regions: ['cn-north-1'], organizations: { enabled: true } });
    const accounts = resolveAccounts(c, [{ id: '222222222222', name: 'cn-prod', status: 'ACTIVE' }]);
    expect(accounts.find((a) => a.id === '222222222222')!.roleArn).toBe('arn:aws-cn:iam::222222222222:role/KeystoreWatch');
  });
});

describe('regionsToPoll', () => {
  it('takes the list or the enabled regions, minus the excluded ones', () => {
    expect(regionsToPoll(['us-east-1', 'eu-west-1'], null, ['eu-west-1'])).toEqual(['us-east-1']);
    expect(regionsToPoll('enabled', ['ap-east-1', 'us-east-1'], ['ap-east-1'])).toEqual(['us-east-1']);
    expect(regionsToPoll('enabled', null, [])).toBeNull();
  });
});

describe('EnabledRegions cache', () => {
  function cache() {
    let now = 0;
    let calls = 0;
    let answer: string[] | Error = ['us-east-1'];
    const c = new EnabledRegions({
      refreshInterval: 60_000, now: () => now, toError: (e) => ({ code: (e as Error).name, message: (e as Error).message }),
      fetch: async () => { calls++; await Promise.resolve(); if (answer instanceof Error) throw answer; return answer; },
    });
    return { c, set: (a: string[] | Error) => { answer = a; }, tick: (ms: number) => { now += ms; }, calls: () => calls };
  }

  it('asks once per account per interval, and once for concurrent askers', async () => {
    const k = cache();
    const [a, b] = await Promise.all([k.c.get('1'), k.c.get('1')]);
    expect(a.regions).toEqual(['us-east-1']);
    expect(b.regions).toEqual(['us-east-1']);
    expect(k.calls()).toBe(1);
    k.tick(59_999);
    await k.c.get('1');
    expect(k.calls()).toBe(1);
    k.tick(1);
    k.set(['us-east-1', 'me-central-1']);
    expect((await k.c.get('1')).regions).toEqual(['us-east-1', 'me-central-1']);
    expect(k.calls()).toBe(2);
  });

  it('keeps the last good answer when a refresh fails, and tries again at the next ask', async () => {
    const k = cache();
    await k.c.get('1');
    k.tick(60_000);
    k.set(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const failed = await k.c.get('1');
    expect(failed).toMatchObject({ regions: ['us-east-1'], error: { code: 'AccessDeniedException' } });
    await k.c.get('1');
    expect(k.calls()).toBe(3);
    // Never answered: null, with the error.
    expect(await k.c.get('2')).toMatchObject({ regions: null, error: { code: 'AccessDeniedException' } });
    k.c.retain(new Set(['2']));
    expect(k.c.peek('1')).toBeNull();
  });
});

describe('EnabledRegions cache under wall-clock steps', () => {
  it('refreshes after refreshInterval of monotonic time, whatever the wall clock did', async () => {
    let wall = Date.UTC(2026, 0, 1);
    let mono = 0;
    let calls = 0;
    const c = new EnabledRegions({
      refreshInterval: 60_000, now: () => wall, monotonic: () => mono, toError: (e) => ({ code: 'X', message: String(e) }),
      fetch: async () => { calls++; return ['us-east-1']; },
    });
    await c.get('1');
    wall -= 3_600_000; // back an hour: with the wall clock the cache would stay "fresh" for 61 minutes
    mono += 60_000;
    wall += 60_000;
    await c.get('1');
    expect(calls).toBe(2);
    wall += 7_200_000; // forward two hours: no refresh before the interval
    mono += 1_000;
    await c.get('1');
    expect(calls).toBe(2);
  });
});

describe('unanswered targets', () => {
  it('tells a region not enabled from bad credentials', () => {
    // ListRegions known: authoritative.
    expect(classifyUnanswered('me-central-1', ['us-east-1'], false)).toBe('not_enabled');
    expect(classifyUnanswered('us-east-1', ['us-east-1'], true)).toBe('failed');
    // Unknown: the same credentials answering elsewhere this poll says they are valid.
    expect(classifyUnanswered('me-central-1', null, true)).toBe('not_enabled');
    expect(classifyUnanswered('me-central-1', null, false)).toBe('failed');
  });

  it('classifies codes and messages as AWS words them', () => {
    expect(mayBeRegionNotEnabled('UnrecognizedClientException')).toBe(true);
    expect(mayBeRegionNotEnabled('InvalidClientTokenId')).toBe(true);
    expect(mayBeRegionNotEnabled('AccessDeniedException')).toBe(false);
    expect(isExpiredCredentials('ExpiredTokenException')).toBe(true);
    expect(isExpiredCredentials('UnrecognizedClientException')).toBe(false);
    const scp = 'User: arn:aws:sts::1:assumed-role/R/s is not authorized to perform: kms:DescribeCustomKeyStores with an explicit deny in a service control policy';
    expect(isScpDeny({ code: 'AccessDeniedException', message: scp })).toBe(true);
    expect(isScpDeny({ code: 'AccessDeniedException', message: scp.replace('service control', 'identity-based') })).toBe(false);
    expect(isScpDeny({ code: 'KMSInternalException', message: scp })).toBe(false);
    expect(deniedAction(scp)).toBe('kms:DescribeCustomKeyStores');
    expect(deniedAction('User: x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/R')).toBe('sts:AssumeRole');
    expect(deniedAction('The security token included in the request is invalid.')).toBeNull();
  });
});
