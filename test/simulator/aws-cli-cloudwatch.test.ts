// The AWS CLI and botocore read the simulator's CloudWatch and CloudTrail: `aws cloudwatch list-metrics`,
// `aws cloudwatch get-metric-data`, `aws cloudtrail lookup-events` with --endpoint-url against the demo
// scenario. A current CLI speaks CloudWatch's AWS JSON 1.0; the Debian one (botocore 1.29) the query
// protocol with XML answers: that one runs through whichever installed botocore still speaks query.
// Skipped only when the tool is missing and CI is not set (CI installs awscli and python3-boto3).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requiredTool, runTool, toolWorks } from './cli-tools.js';
import { baseAccessKeyId } from '../../src/simulator/fleet.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv) => runTool(cmd, args, env, 60_000);
const has = toolWorks;
const required = requiredTool;
const haveAws = has('aws', ['--version']);

/** A Python whose botocore speaks CloudWatch's query protocol (Debian's python3-botocore 1.29 does). */
const QUERY_PROBE = "import boto3, botocore.session as s; assert s.get_session().get_service_model('cloudwatch').metadata['protocol'] == 'query'";
const queryPython = ['/usr/bin/python3', 'python3'].find((py) => has(py, ['-c', QUERY_PROBE]));

const env = (account = '222222222222') => ({
  ...process.env,
  AWS_ACCESS_KEY_ID: baseAccessKeyId(account),
  AWS_SECRET_ACCESS_KEY: 'x',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  AWS_PAGER: '',
  AWS_MAX_ATTEMPTS: '1',
});

let sim: RunningSimulator;
let dir: string;
beforeAll(async () => {
  sim = await startSimulator({});
  sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 0, jitterMs: 0 });
  dir = mkdtempSync(join(tmpdir(), 'ksw-cli-'));
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const ORDERS = 'cks-0c1d2e3f4a5b60010';
const PAYMENTS_XKS = 'cks-2b3c4d5e6f7a80002';

describe.runIf(required(haveAws))('AWS CLI: CloudWatch and CloudTrail', () => {
  const aws = async (args: string[], account?: string) => {
    const r = await run('aws', [...args, '--endpoint-url', sim.url, '--output', 'json'], env(account));
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
  };

  it('list-metrics and get-metric-data read the demo: a certificate 5 days from expiry, errors rising while CONNECTED', async () => {
    const listed = await aws(['cloudwatch', 'list-metrics', '--namespace', 'AWS/KMS', '--metric-name', 'XksProxyErrors', '--region', 'us-west-2']);
    const retryable = listed.Metrics.find((m: { Dimensions: { Name: string; Value: string }[] }) => m.Dimensions.some((d) => d.Name === 'ErrorType' && d.Value === 'Retryable'));
    expect(retryable.Dimensions.find((d: { Name: string }) => d.Name === 'CustomKeyStoreId').Value).toBe(ORDERS);
    const cert = (await aws(['cloudwatch', 'list-metrics', '--namespace', 'AWS/KMS', '--metric-name', 'XksProxyCertificateDaysToExpire', '--region', 'us-east-1'])).Metrics;
    expect(cert).toHaveLength(1);

    const queries = [
      { Id: 'errors', MetricStat: { Metric: { Namespace: 'AWS/KMS', MetricName: 'XksProxyErrors', Dimensions: retryable.Dimensions }, Period: 60, Stat: 'Sum' } },
    ];
    const file = join(dir, 'q.json');
    writeFileSync(file, JSON.stringify(queries));
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const r = await aws(['cloudwatch', 'get-metric-data', '--metric-data-queries', `file://${file}`, '--start-time', iso(now - 30 * 60_000), '--end-time', iso(now), '--scan-by', 'TimestampAscending', '--region', 'us-west-2']);
    const values: number[] = r.MetricDataResults[0].Values;
    expect(r.MetricDataResults[0].StatusCode).toBe('Complete');
    expect(values.length).toBeGreaterThanOrEqual(5);
    expect(values[values.length - 1]!).toBeGreaterThan(values[0]!);

    writeFileSync(file, JSON.stringify([{ Id: 'cert', MetricStat: { Metric: cert[0], Period: 300, Stat: 'Minimum' } }]));
    const c = await aws(['cloudwatch', 'get-metric-data', '--metric-data-queries', `file://${file}`, '--start-time', iso(now - 30 * 60_000), '--end-time', iso(now), '--region', 'us-east-1']);
    expect(new Set(c.MetricDataResults[0].Values)).toEqual(new Set([5]));
    expect(c.MetricDataResults[0].Id).toBe('cert');
    expect(cert[0].Dimensions).toContainEqual({ Name: 'CustomKeyStoreId', Value: PAYMENTS_XKS });
  }, 180_000);

  it('reports validation errors by their query code', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify([{ Id: 'a', MetricStat: { Metric: { Namespace: 'AWS/KMS', MetricName: 'XksProxyErrors' }, Period: 45, Stat: 'Sum' } }]));
    const r = await run('aws', ['cloudwatch', 'get-metric-data', '--metric-data-queries', `file://${file}`, '--start-time', '2026-01-01T00:00:00Z', '--end-time', '2026-01-01T01:00:00Z', '--region', 'us-east-1', '--endpoint-url', sim.url], env());
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('InvalidParameterValue');
    expect(r.stderr).toContain('Period must be 1, 5, 10, 20, 30, 60, or any multiple of 60');
  }, 120_000);

  it('lookup-events names who disconnected payments-hsm-staging, and from where', async () => {
    const r = await aws(['cloudtrail', 'lookup-events', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=DisconnectCustomKeyStore', '--region', 'us-east-1']);
    expect(r.Events).toHaveLength(1);
    const e = r.Events[0];
    expect(e.Username).toBe('alice');
    const record = JSON.parse(e.CloudTrailEvent);
    expect(record.userIdentity.arn).toBe('arn:aws:sts::222222222222:assumed-role/PlatformAdmin/alice');
    expect(record.sourceIPAddress).toBe('203.0.113.24');
    expect(record.requestParameters).toEqual({ customKeyStoreId: 'cks-3c4d5e6f7a8b90003' });
    const two = await run('aws', ['cloudtrail', 'lookup-events', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=A', 'AttributeKey=Username,AttributeValue=B', '--region', 'us-east-1', '--endpoint-url', sim.url], env());
    expect(two.status).not.toBe(0);
    expect(two.stderr).toContain('InvalidLookupAttributesException');
  }, 120_000);
});

const QUERY_CLIENT = String.raw`
import sys, json, datetime, boto3
url, account = sys.argv[1], sys.argv[2]
cw = boto3.client('cloudwatch', endpoint_url=url, region_name='us-west-2', aws_access_key_id='AKIASIM0' + account, aws_secret_access_key='x')
out = {}
metrics = [m for p in cw.get_paginator('list_metrics').paginate(Namespace='AWS/KMS') for m in p['Metrics']]
out['names'] = sorted(set(m['MetricName'] for m in metrics))
lat = [m for m in metrics if m['MetricName'] == 'XksProxyLatency'][0]
now = datetime.datetime.now(datetime.timezone.utc)
pages = []
kw = dict(MetricDataQueries=[{'Id': 'lat', 'MetricStat': {'Metric': lat, 'Period': 60, 'Stat': 'SampleCount'}}], StartTime=now - datetime.timedelta(minutes=20), EndTime=now, MaxDatapoints=4)
while True:
    r = cw.get_metric_data(**kw)
    pages.append([len(x['Values']) for x in r['MetricDataResults']] + [x['StatusCode'] for x in r['MetricDataResults']] + [sorted(set(x['Values'])) for x in r['MetricDataResults']])
    if 'NextToken' not in r: break
    kw['NextToken'] = r['NextToken']
out['pages'] = pages
out['ts_type'] = type(r['MetricDataResults'][0]['Timestamps'][0]).__name__ if r['MetricDataResults'][0]['Timestamps'] else None
try:
    cw.get_metric_data(MetricDataQueries=[{'Id': 'x', 'MetricStat': {'Metric': lat, 'Period': 60, 'Stat': 'Sum'}}] * 2, StartTime=now - datetime.timedelta(minutes=5), EndTime=now)
except cw.exceptions.InvalidParameterValueException as e:
    out['error'] = [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Message']]
print(json.dumps(out))
`;

describe.runIf(required(Boolean(queryPython)))('botocore over the query protocol (the Debian AWS CLI\'s wire)', () => {
  it('list_metrics pages, get_metric_data pages with NextToken, errors parse from ErrorResponse XML', async () => {
    const r = await run(queryPython ?? '/usr/bin/python3', ['-c', QUERY_CLIENT, sim.url, '222222222222'], env());
    expect(r.stderr).not.toMatch(/Traceback/);
    const out = JSON.parse(r.stdout);
    expect(out.names).toEqual(['XksExternalKeyManagerStates', 'XksProxyCertificateDaysToExpire', 'XksProxyCredentialAge', 'XksProxyErrors', 'XksProxyLatency']);
    // 20 minutes, 4 datapoints a page: PartialData until the last page; 600 requests a minute.
    expect(out.pages.length).toBeGreaterThanOrEqual(4);
    for (const p of out.pages.slice(0, -1)) expect(p).toEqual([4, 'PartialData', [600]]);
    expect(out.pages.at(-1)[1]).toBe('Complete');
    expect(out.ts_type).toBe('datetime');
    expect(out.error).toEqual(['InvalidParameterValue', 400, 'The value x for parameter MetricDataQueries.member.2.Id is duplicated.']);
  }, 120_000);
});
