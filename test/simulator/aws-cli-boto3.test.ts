// The AWS CLI and boto3 are stricter about response shapes than the JS SDK. These tests skip only
// when the tool is missing and CI is not set (in CI they must run: Debian packages awscli, python3-boto3).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requiredTool, runTool, toolWorks } from './cli-tools.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { creds } from './helpers.js';

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv) => runTool(cmd, args, env, 30_000);
const has = toolWorks;
const required = requiredTool;
const haveAws = has('aws', ['--version']);
const haveBoto3 = has('python3', ['-c', 'import boto3']);

let sim: RunningSimulator;
const env = () => ({
  ...process.env,
  AWS_ACCESS_KEY_ID: creds().accessKeyId,
  AWS_SECRET_ACCESS_KEY: 'x',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  AWS_PAGER: '',
  AWS_MAX_ATTEMPTS: '1',
});

beforeAll(async () => {
  sim = await startSimulator({});
  sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 0, jitterMs: 0 });
});
afterAll(() => sim.close());

describe.runIf(required(haveAws))('AWS CLI', () => {
  const aws = async (...args: string[]) => {
    const r = await run('aws', [...args, '--endpoint-url', sim.url, '--output', 'json'], env());
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
  };

  it('lists custom key stores, paginating with --page-size', async () => {
    const all = await aws('kms', 'describe-custom-key-stores', '--region', 'us-east-1');
    expect(all.CustomKeyStores.map((s: { CustomKeyStoreId: string }) => s.CustomKeyStoreId)).toEqual(['cks-0a1b2c3d4e5f60001']);
    const paged = await aws('kms', 'describe-custom-key-stores', '--region', 'eu-west-1', '--page-size', '1');
    expect(paged.CustomKeyStores).toEqual([]);
    const r = await run('aws', ['sts', 'assume-role', '--role-arn', 'arn:aws:iam::222222222222:role/keystore-watch', '--role-session-name', 'cli', '--endpoint-url', sim.url, '--region', 'us-east-1', '--output', 'json'], env());
    expect(r.status).toBe(0);
    const c = JSON.parse(r.stdout).Credentials;
    const memberEnv = { ...env(), AWS_ACCESS_KEY_ID: c.AccessKeyId, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey, AWS_SESSION_TOKEN: c.SessionToken };
    const member = JSON.parse((await run('aws', ['kms', 'describe-custom-key-stores', '--region', 'eu-west-1', '--page-size', '1', '--endpoint-url', sim.url, '--output', 'json'], memberEnv)).stdout);
    expect(member.CustomKeyStores.map((s: { CustomKeyStoreName: string }) => s.CustomKeyStoreName).sort()).toEqual(['eu-xks', 'payments-hsm-eu']);
    expect(member.CustomKeyStores.find((s: { CustomKeyStoreName: string }) => s.CustomKeyStoreName === 'eu-xks').XksProxyConfiguration.Connectivity).toBe('VPC_ENDPOINT_SERVICE');
  });

  it('describes clusters and lists accounts; reports errors by code', async () => {
    const clusters = await aws('cloudhsmv2', 'describe-clusters', '--region', 'us-east-1', '--filters', 'clusterIds=cluster-auditprimary');
    expect(clusters.Clusters[0].Hsms).toHaveLength(2);
    const accounts = await aws('organizations', 'list-accounts', '--region', 'us-east-1');
    expect(accounts.Accounts.map((a: { Id: string }) => a.Id)).toEqual(['111111111111', '222222222222', '333333333333']);
    const r = await run('aws', ['kms', 'describe-custom-key-stores', '--custom-key-store-id', 'cks-00000000000000000', '--endpoint-url', sim.url, '--region', 'us-east-1'], env());
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('CustomKeyStoreNotFoundException');
  });
});

// Older CLIs (e.g. Debian's) predate Account ListRegions: that one case runs when the CLI knows it.
const haveListRegions = haveAws && has('aws', ['account', 'list-regions', 'help']);

describe.runIf(required(haveAws))('AWS CLI: regions, identity, denials', () => {
  it('an opt-in region the account has not enabled answers UnrecognizedClientException; GetCallerIdentity names the user', async () => {
    const r = await run('aws', ['kms', 'describe-custom-key-stores', '--region', 'me-central-1', '--endpoint-url', sim.url], env());
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('UnrecognizedClientException');
    expect(r.stderr).toContain('The security token included in the request is invalid.');
    const sts = await run('aws', ['sts', 'get-caller-identity', '--region', 'us-east-1', '--endpoint-url', sim.url, '--output', 'json'], env());
    expect(sts.status).toBe(0);
    const me = JSON.parse(sts.stdout);
    expect(me).toMatchObject({ Account: '111111111111', Arn: 'arn:aws:iam::111111111111:user/keystore-watch-simulator' });
    expect(me.UserId).toMatch(/^AIDA[0-9A-F]{17}$/);
    const stsOptIn = await run('aws', ['sts', 'get-caller-identity', '--region', 'af-south-1', '--endpoint-url', sim.url], env());
    expect(stsOptIn.status).not.toBe(0);
    expect(stsOptIn.stderr).toContain('InvalidClientTokenId');
  }, 180_000); // three CLI processes: slow on a loaded 2-core machine

  it.runIf(haveListRegions)('account list-regions follows NextToken and filters by status', async () => {
    const r = await run('aws', ['account', 'list-regions', '--region-opt-status-contains', 'ENABLED', 'ENABLED_BY_DEFAULT', '--region', 'us-east-1', '--endpoint-url', sim.url, '--output', 'json'], env());
    expect(r.stderr).toBe('');
    const names = JSON.parse(r.stdout).Regions.map((x: { RegionName: string }) => x.RegionName);
    expect(names).toHaveLength(17);
    expect(names).toContain('ap-northeast-3');
    expect(names).not.toContain('me-central-1');
  }, 120_000);
});

const BOTO3 = String.raw`
import json, sys, boto3
url = sys.argv[1]
base = dict(endpoint_url=url, region_name='us-east-1', aws_access_key_id='AKIASIM0111111111111', aws_secret_access_key='x')
out = {}
kms = boto3.client('kms', **base)
out['mgmt'] = [s['CustomKeyStoreId'] for p in kms.get_paginator('describe_custom_key_stores').paginate(PaginationConfig={'PageSize': 1}) for s in p['CustomKeyStores']]
c = boto3.client('sts', **base).assume_role(RoleArn='arn:aws:iam::333333333333:role/keystore-watch', RoleSessionName='boto3')['Credentials']
member = dict(endpoint_url=url, region_name='us-east-1', aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'])
stores = [s for p in boto3.client('kms', **member).get_paginator('describe_custom_key_stores').paginate(PaginationConfig={'PageSize': 1}) for s in p['CustomKeyStores']]
out['member'] = sorted((s['CustomKeyStoreName'], s['ConnectionState'], s['CreationDate'].year) for s in stores)
out['clusters'] = [(cl['ClusterId'], len(cl['Hsms'])) for cl in boto3.client('cloudhsmv2', **member).describe_clusters()['Clusters']]
try:
    kms.describe_custom_key_stores(CustomKeyStoreId='cks-00000000000000000')
except kms.exceptions.CustomKeyStoreNotFoundException as e:
    out['error'] = e.response['Error']['Code']
ident = boto3.client('sts', **base).get_caller_identity()
out['identity'] = [ident['Account'], ident['Arn']]
acct = boto3.client('account', **base)
out['regions'] = sorted(r['RegionName'] for p in acct.get_paginator('list_regions').paginate(RegionOptStatusContains=['ENABLED', 'ENABLED_BY_DEFAULT']) for r in p['Regions'])
try:
    boto3.client('kms', **dict(base, region_name='il-central-1')).describe_custom_key_stores()
except Exception as e:
    out['optIn'] = e.response['Error']['Code']
print(json.dumps(out))
`;

describe.runIf(required(haveBoto3))('boto3', () => {
  it('pages stores, assumes a role, describes clusters and maps modeled errors', async () => {
    const r = await run('python3', ['-c', BOTO3, sim.url], env());
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.mgmt).toEqual(['cks-0a1b2c3d4e5f60001']);
    expect(out.member).toEqual([['analytics-hsm', 'CONNECTED', 2023], ['analytics-hsm-old', 'FAILED', 2022], ['analytics-xks', 'CONNECTING', 2024]]);
    expect(out.clusters).toEqual([['cluster-analyticsprd', 2]]);
    expect(out.error).toBe('CustomKeyStoreNotFoundException');
    expect(out.identity).toEqual(['111111111111', 'arn:aws:iam::111111111111:user/keystore-watch-simulator']);
    expect(out.regions).toHaveLength(17);
    expect(out.optIn).toBe('UnrecognizedClientException');
  });
});
