// CloudWatch through the real @aws-sdk/client-cloudwatch (AWS JSON 1.0, awsQueryCompatible errors):
// GetMetricData over scenario metrics (statistics, periods, gaps, the CONNECTED gate, the publish delay,
// paging), validation as AWS answers it, ListMetrics, quotas, IAM refusals and injected faults.
import { CloudWatchClient, GetMetricDataCommand, ListMetricsCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { DisconnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { parseScenario, ScenarioError, type ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { baseAccessKeyId } from '../../src/simulator/fleet.js';
import { control, creds, kmsClient, rejection } from './helpers.js';

const MIN = 60_000;
const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const XKS = 'cks-0000000000000xks1';
const HSM_STORE = 'cks-0000000000000hsm1';
const CLUSTER = 'cluster-aaaabbbbcccc';

const scenario = (extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  accounts: [
    {
      id: '111111111111',
      regions: {
        'us-east-1': {
          stores: [
            {
              id: XKS, name: 'xks-1', type: 'EXTERNAL_KEY_STORE', xks: { uriEndpoint: 'https://proxy.example.net' },
              metrics: {
                XksProxyCertificateDaysToExpire: 5,
                XksProxyCredentialAge: { ramp: { from: 100, to: 110, start: 0, over: '10m' } },
                XksExternalKeyManagerStates: { Active: 2, Degraded: { series: [{ at: '5m', value: 1 }] } },
                XksProxyErrors: { Retryable: { series: [{ at: '-1h', value: 0 }, { at: '2m', value: 6 }, { at: '4m', value: 0 }] } },
                XksProxyLatency: { value: { series: [{ at: '-1h', value: 40 }, { at: '3m', value: 300 }] }, requests: 100 },
              },
            },
            { id: HSM_STORE, name: 'hsm-1', clusterId: CLUSTER, metrics: { CloudHSMKeyStoreThrottle: 2 } },
          ],
          clusters: [{ id: CLUSTER, hsms: [{ az: 'us-east-1a' }], metrics: { HsmUnhealthy: [{ value: 1, dimensions: { HsmId: 'hsm-aaaabbbbccc' } }, { value: 1 }] } }],
        },
      },
    },
    { id: '222222222222' },
  ],
  cloudwatch: { publishDelay: 0, history: '1h' },
  faults: { rateLimitPerSecond: 0 },
  ...extra,
});

const cwClient = (sim: RunningSimulator, account = '111111111111', region = 'us-east-1') =>
  new CloudWatchClient({ endpoint: sim.url, region, credentials: creds(account), maxAttempts: 1 });

const dims = (o: Record<string, string>) => Object.entries(o).map(([Name, Value]) => ({ Name, Value }));
const XKS_ERRORS = dims({ CustomKeyStoreId: XKS, KmsOperation: 'Decrypt', XksOperation: 'Decrypt', KeySpec: 'SYMMETRIC_DEFAULT', ErrorType: 'Retryable', ExceptionName: 'InternalException' });
const XKS_LATENCY = dims({ CustomKeyStoreId: XKS, KmsOperation: 'Decrypt', XksOperation: 'Decrypt', KeySpec: 'SYMMETRIC_DEFAULT' });
const q = (Id: string, MetricName: string, Dimensions: { Name: string; Value: string }[], Stat: string, Period = 60, Namespace = 'AWS/KMS'): MetricDataQuery =>
  ({ Id, MetricStat: { Metric: { Namespace, MetricName, Dimensions }, Period, Stat } });

async function data(sim: RunningSimulator, queries: MetricDataQuery[], from: number, to: number, extra: Record<string, unknown> = {}) {
  return cwClient(sim).send(new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: new Date(from), EndTime: new Date(to), ScanBy: 'TimestampAscending', ...extra }));
}
const series = (r: Awaited<ReturnType<typeof data>>, id: string) => {
  const m = r.MetricDataResults!.find((x) => x.Id === id)!;
  return m.Timestamps!.map((t, i) => [(t.getTime() - START) / MIN, m.Values![i]]);
};

describe('GetMetricData', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  beforeAll(async () => { sim = await startSimulator({ clock, scenario: scenario() }); });
  afterAll(() => sim.close());

  it('answers each statistic per minute from the scenario; a quiet minute has no datapoint, never a zero', async () => {
    clock.advance(10 * MIN);
    const r = await data(sim, [
      q('cert', 'XksProxyCertificateDaysToExpire', dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' }), 'Minimum'),
      q('age', 'XksProxyCredentialAge', dims({ CustomKeyStoreId: XKS }), 'Maximum'),
      q('errs', 'XksProxyErrors', XKS_ERRORS, 'Sum'),
      q('reqs', 'XksProxyLatency', XKS_LATENCY, 'SampleCount'),
      q('lat', 'XksProxyLatency', XKS_LATENCY, 'Average'),
      q('degraded', 'XksExternalKeyManagerStates', dims({ CustomKeyStoreId: XKS, XksExternalKeyManagerState: 'Degraded' }), 'Maximum'),
      q('unhealthy', 'HsmUnhealthy', dims({ ClusterId: CLUSTER }), 'Maximum', 60, 'AWS/CloudHSM'),
      q('throttle', 'CloudHSMKeyStoreThrottle', dims({ CustomKeyStoreId: HSM_STORE, KmsOperation: 'Decrypt', KeySpec: 'SYMMETRIC_DEFAULT' }), 'Sum'),
    ], START, START + 8 * MIN);
    expect(r.MetricDataResults!.map((m) => m.StatusCode)).toEqual(Array(8).fill('Complete'));
    expect(series(r, 'cert')).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((m) => [m, 5]));
    expect(series(r, 'age')).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((m) => [m, 100 + m]));
    // Errors only in minutes 2 and 3: no zeros around them.
    expect(series(r, 'errs')).toEqual([[2, 6], [3, 6]]);
    expect(series(r, 'reqs')).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((m) => [m, 100]));
    // KMS records a request that timed out as the 250 ms limit.
    expect(series(r, 'lat')).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((m) => [m, m < 3 ? 40 : 250]));
    // A step series has no data before its first point.
    expect(series(r, 'degraded')).toEqual([[5, 1], [6, 1], [7, 1]]);
    expect(series(r, 'unhealthy')).toHaveLength(8);
    expect(series(r, 'throttle')[0]).toEqual([0, 2]);
    expect(r.MetricDataResults!.find((m) => m.Id === 'cert')!.Label).toBe('XksProxyCertificateDaysToExpire');
  });

  it('aggregates period buckets aligned on StartTime, and answers descending by default', async () => {
    const r = await cwClient(sim).send(new GetMetricDataCommand({
      MetricDataQueries: [q('errs', 'XksProxyErrors', XKS_ERRORS, 'Sum', 300), q('n', 'XksProxyErrors', XKS_ERRORS, 'SampleCount', 300), q('p', 'XksProxyLatency', XKS_LATENCY, 'p90', 300), q('avg', 'XksProxyLatency', XKS_LATENCY, 'Average', 300)],
      StartTime: new Date(START + 30_000), EndTime: new Date(START + 10 * MIN),
    }));
    // StartTime is rounded down to the minute: buckets 12:00 and 12:05, newest first.
    expect(series(r, 'errs')).toEqual([[0, 12]]);
    expect(series(r, 'n')).toEqual([[0, 12]]);
    expect(series(r, 'p')).toEqual([[5, 250], [0, 250]]);
    expect(series(r, 'avg')).toEqual([[5, 250], [0, (3 * 40 + 2 * 250) / 5]]);
  });

  it('needs the full dimension set, the namespace and a matching unit: otherwise an empty series', async () => {
    const r = await data(sim, [
      q('partial', 'XksProxyErrors', dims({ CustomKeyStoreId: XKS }), 'Sum'),
      q('ns', 'XksProxyCertificateDaysToExpire', dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' }), 'Minimum', 60, 'AWS/CloudHSM'),
      { Id: 'unit', MetricStat: { Metric: { Namespace: 'AWS/KMS', MetricName: 'XksProxyLatency', Dimensions: XKS_LATENCY }, Period: 60, Stat: 'Average', Unit: 'Seconds' } },
      { Id: 'rightunit', MetricStat: { Metric: { Namespace: 'AWS/KMS', MetricName: 'XksProxyLatency', Dimensions: XKS_LATENCY }, Period: 60, Stat: 'Average', Unit: 'Milliseconds' } },
      q('other', 'XksProxyCredentialAge', dims({ CustomKeyStoreId: 'cks-0000000000000none' }), 'Maximum'),
    ], START, START + 5 * MIN);
    for (const id of ['partial', 'ns', 'unit', 'other']) expect(series(r, id)).toEqual([]);
    expect(series(r, 'rightunit')).toHaveLength(5);
    // Another account sees none of this account's metrics.
    const other = await cwClient(sim, '222222222222').send(new GetMetricDataCommand({ MetricDataQueries: [q('cert', 'XksProxyCertificateDaysToExpire', dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' }), 'Minimum')], StartTime: new Date(START), EndTime: new Date(START + 5 * MIN) }));
    expect(other.MetricDataResults![0]!.Values).toEqual([]);
  });

  it('has history before the start, none before it, and omits ReturnData: false queries', async () => {
    const r = await data(sim, [q('cert', 'XksProxyCertificateDaysToExpire', dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' }), 'Minimum', 600), { ...q('hidden', 'XksProxyCredentialAge', dims({ CustomKeyStoreId: XKS }), 'Maximum'), ReturnData: false }], START - 3 * 3_600_000, START);
    expect(r.MetricDataResults!.map((m) => m.Id)).toEqual(['cert']);
    const points = series(r, 'cert');
    // history: 1h, so buckets from -60 min only.
    expect(points[0]![0]).toBe(-60);
    expect(points).toHaveLength(6);
  });

  it('publishes XKS metrics only while the store is CONNECTED; history stays', async () => {
    const at = clock.now();
    await kmsClient(sim).send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: XKS }));
    clock.advance(5 * MIN);
    const r = await data(sim, [q('cert', 'XksProxyCertificateDaysToExpire', dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' }), 'Minimum')], at - 3 * MIN, clock.now());
    const minutes = series(r, 'cert').map(([m]) => m as number);
    expect(minutes.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...minutes) * MIN + START).toBeLessThan(at);
    // The cluster's metric does not depend on any store.
    const h = await data(sim, [q('u', 'HsmUnhealthy', dims({ ClusterId: CLUSTER }), 'Maximum', 60, 'AWS/CloudHSM')], at, clock.now());
    expect(series(h, 'u').length).toBeGreaterThanOrEqual(4);
  });
});

describe('values over time: the control API and the publish delay', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  beforeAll(async () => { sim = await startSimulator({ clock, scenario: scenario({ cloudwatch: { publishDelay: '2m', history: '1h' } }) }); });
  afterAll(() => sim.close());

  it('a value set at run time applies from then on; a minute is readable only publishDelay after it ends', async () => {
    clock.advance(10 * MIN);
    const certDims = dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' });
    const before = await data(sim, [q('cert', 'XksProxyCertificateDaysToExpire', certDims, 'Minimum')], START, clock.now());
    // 12:10 now: minute 12:07 ended 12:08, readable from 12:10; 12:08 not yet.
    expect(series(before, 'cert').at(-1)).toEqual([7, 5]);
    const put = await control(sim, 'PUT', `/_sim/metrics/${XKS}`, { XksProxyCertificateDaysToExpire: 2, XksProxyCredentialAge: null });
    expect(put.status).toBe(200);
    expect(put.body.XksProxyCertificateDaysToExpire).toBe(2);
    clock.advance(4 * MIN);
    const after = await data(sim, [q('cert', 'XksProxyCertificateDaysToExpire', certDims, 'Minimum'), q('age', 'XksProxyCredentialAge', dims({ CustomKeyStoreId: XKS }), 'Maximum')], START, clock.now());
    const points = series(after, 'cert');
    expect(points.at(-1)).toEqual([11, 2]);
    expect(points.find(([m]) => m === 9)).toEqual([9, 5]);
    // The removed metric keeps its history and stops.
    expect(series(after, 'age').at(-1)![0]).toBe(9);
  });

  it('refuses metrics that do not fit the store (400, the field named)', async () => {
    const r = await control(sim, 'PUT', `/_sim/metrics/${HSM_STORE}`, { XksProxyErrors: 3 });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/XksProxyErrors: not a metric AWS publishes for an AWS_CLOUDHSM store/);
    expect((await control(sim, 'PUT', '/_sim/metrics/cks-00000000000000000', { XksProxyErrors: 3 })).status).toBe(404);
    expect((await control(sim, 'PATCH', `/_sim/metrics/${XKS}`, { XksExternalKeyManagerStates: { Broken: 1 } })).body.error).toMatch(/Broken: not a XksExternalKeyManagerState/);
  });
});

describe('paging and validation', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  beforeAll(async () => { sim = await startSimulator({ clock, scenario: scenario() }); clock.advance(30 * MIN); });
  afterAll(() => sim.close());

  it('pages by MaxDatapoints with NextToken: PartialData until a series is complete', async () => {
    const queries = [q('cert', 'XksProxyCertificateDaysToExpire', dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' }), 'Minimum'), q('reqs', 'XksProxyLatency', XKS_LATENCY, 'SampleCount')];
    const seen: Record<string, number[][]> = { cert: [], reqs: [] };
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await data(sim, queries, START, START + 10 * MIN, { MaxDatapoints: 7, ...(token && { NextToken: token }) });
      pages++;
      for (const m of r.MetricDataResults!) {
        seen[m.Id!]!.push(...series(r, m.Id!) as number[][]);
        const done = seen[m.Id!]!.length === 10;
        expect(m.StatusCode).toBe(done ? 'Complete' : 'PartialData');
      }
      token = r.NextToken;
    } while (token && pages < 10);
    expect(pages).toBe(3);
    expect(seen.cert!.map(([m]) => m)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen.reqs!.map(([m]) => m)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const bad = await rejection(() => data(sim, queries, START, START + 10 * MIN, { NextToken: 'bm90LWEtdG9rZW4' }));
    expect(bad.name).toBe('InvalidNextToken');
  });

  it('accepts 500 queries and refuses 501 as AWS does (InvalidParameterValue, x-amzn-query-error)', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => q(`m${i}`, 'XksProxyCredentialAge', dims({ CustomKeyStoreId: `cks-${String(i).padStart(17, '0')}` }), 'Maximum', 300));
    const ok = await data(sim, many(500), START, START + 10 * MIN);
    expect(ok.MetricDataResults).toHaveLength(500);
    const err = await rejection(() => data(sim, many(501), START, START + 10 * MIN));
    expect(err.name).toBe('InvalidParameterValueException');
    expect(err.message).toBe('The collection MetricDataQueries must not have a size greater than 500.');
    expect(err.$metadata?.httpStatusCode).toBe(400);
    expect((err as { Error?: { Code?: string; Type?: string } }).Error).toMatchObject({ Code: 'InvalidParameterValue', Type: 'Sender' });
    // On the wire: the JSON type in __type, the query code in x-amzn-query-error.
    const res = await fetch(sim.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'GraniteServiceVersion20100801.GetMetricData', authorization: `AWS4-HMAC-SHA256 Credential=${baseAccessKeyId('111111111111')}/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0` },
      body: JSON.stringify({ MetricDataQueries: many(501), StartTime: START / 1000, EndTime: START / 1000 + 600 }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.0');
    expect(res.headers.get('x-amzn-query-error')).toBe('InvalidParameterValue;Sender');
    expect(await res.json()).toEqual({ __type: 'com.amazonaws.cloudwatch#InvalidParameterValueException', message: 'The collection MetricDataQueries must not have a size greater than 500.' });
  });

  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['StartTime after EndTime', { StartTime: new Date(START + MIN), EndTime: new Date(START) }, 'InvalidParameterValueException', /StartTime must be less than the parameter EndTime/],
    ['a duplicate Id', { MetricDataQueries: [q('a', 'X', [], 'Sum'), q('a', 'Y', [], 'Sum')] }, 'InvalidParameterValueException', /a for parameter MetricDataQueries.member.2.Id is duplicated/],
    ['an Id with a capital first letter', { MetricDataQueries: [q('A1', 'X', [], 'Sum')] }, 'InvalidParameterValueException', /MetricDataQueries.member.1.Id is not valid/],
    ['a Period of 45 s', { MetricDataQueries: [q('a', 'X', [], 'Sum', 45)] }, 'InvalidParameterValueException', /Period must be 1, 5, 10, 20, 30, 60, or any multiple of 60/],
    ['an unknown statistic', { MetricDataQueries: [q('a', 'X', [], 'Median')] }, 'InvalidParameterValueException', /Median for parameter MetricDataQueries.member.1.MetricStat.Stat is not a valid statistic/],
    ['an expression (not simulated)', { MetricDataQueries: [{ Id: 'e', Expression: 'SEARCH(\'{AWS/KMS,CustomKeyStoreId}\', \'Sum\', 60)' }] }, 'InvalidParameterValueException', /does not evaluate expressions/],
    ['both MetricStat and Expression', { MetricDataQueries: [{ ...q('a', 'X', [], 'Sum'), Expression: 'a*2' }] }, 'InvalidParameterCombinationException', /Exactly one of the parameters/],
    ['no query returning data', { MetricDataQueries: [{ ...q('a', 'X', [], 'Sum'), ReturnData: false }] }, 'InvalidParameterCombinationException', /ReturnData/],
    ['no Stat', { MetricDataQueries: [{ Id: 'a', MetricStat: { Metric: { Namespace: 'AWS/KMS', MetricName: 'X' }, Period: 60 } }] }, 'MissingRequiredParameterException', /The parameter MetricDataQueries.member.1.MetricStat.Stat is required/],
  ];
  for (const [what, input, name, message] of cases) {
    it(`refuses ${what}`, async () => {
      const err = await rejection(() => cwClient(sim).send(new GetMetricDataCommand({ MetricDataQueries: [q('ok', 'X', [], 'Sum')], StartTime: new Date(START), EndTime: new Date(START + MIN), ...input } as never)));
      expect(err.name).toBe(name);
      expect(err.message).toMatch(message);
      expect(err.$metadata?.httpStatusCode).toBe(400);
    });
  }
});

describe('ListMetrics', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  beforeAll(async () => { sim = await startSimulator({ clock, scenario: scenario() }); clock.advance(10 * MIN); });
  afterAll(() => sim.close());

  it('lists the series that have datapoints, with their full dimension sets, filtered as asked', async () => {
    const all = await cwClient(sim).send(new ListMetricsCommand({}));
    const names = all.Metrics!.map((m) => `${m.Namespace} ${m.MetricName} ${m.Dimensions!.map((d) => `${d.Name}=${d.Value}`).join(',')}`).sort();
    expect(names).toContain(`AWS/KMS XksProxyErrors CustomKeyStoreId=${XKS},ErrorType=Retryable,ExceptionName=InternalException,KeySpec=SYMMETRIC_DEFAULT,KmsOperation=Decrypt,XksOperation=Decrypt`);
    expect(names).toContain(`AWS/CloudHSM HsmUnhealthy ClusterId=${CLUSTER},HsmId=hsm-aaaabbbbccc`);
    expect(names).toContain(`AWS/CloudHSM HsmUnhealthy ClusterId=${CLUSTER}`);
    expect(names.filter((n) => n.includes('XksExternalKeyManagerStates'))).toHaveLength(2);
    const kmsOnly = await cwClient(sim).send(new ListMetricsCommand({ Namespace: 'AWS/KMS', MetricName: 'XksProxyLatency', Dimensions: [{ Name: 'CustomKeyStoreId', Value: XKS }] }));
    expect(kmsOnly.Metrics).toHaveLength(1);
    expect((await cwClient(sim).send(new ListMetricsCommand({ Dimensions: [{ Name: 'CustomKeyStoreId', Value: 'cks-nope' }] }))).Metrics).toEqual([]);
    expect((await cwClient(sim, '222222222222').send(new ListMetricsCommand({}))).Metrics).toEqual([]);
    expect((await cwClient(sim, '111111111111', 'eu-west-1').send(new ListMetricsCommand({}))).Metrics).toEqual([]);
    const err = await rejection(() => cwClient(sim).send(new ListMetricsCommand({ RecentlyActive: 'PT1H' as never })));
    expect(err.name).toBe('InvalidParameterValueException');
  });
});

describe('quotas, IAM and injected faults', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  const one = () => data(sim, [q('a', 'XksProxyCredentialAge', dims({ CustomKeyStoreId: XKS }), 'Maximum')], START, START + MIN);
  beforeAll(async () => { sim = await startSimulator({ clock, scenario: scenario() }); });
  afterAll(() => sim.close());
  beforeEach(() => { clock.advance(5000); sim.fleet.replaceFaults({ rateLimitPerSecond: 0 }); });

  it('GetMetricData allows 50 requests per second per account and region, then Throttling', async () => {
    for (let i = 0; i < 50; i++) await one();
    const err = await rejection(one);
    expect(err.name).toBe('Throttling');
    expect(err.message).toBe('Rate exceeded');
    expect(err.$metadata?.httpStatusCode).toBe(400);
    // Another region has its own quota; a second later this one has too.
    await cwClient(sim, '111111111111', 'eu-west-1').send(new ListMetricsCommand({}));
    clock.advance(1000);
    await one();
    expect(sim.fleet.counters().byTarget['111111111111/us-east-1/GetMetricData']).toMatchObject({ ok: 51, throttled: 1 });
  });

  it('a role without cloudwatch:GetMetricData gets AccessDenied (403) naming the action', async () => {
    sim.fleet.setAccount('111111111111', { missingPermissions: ['cloudwatch:GetMetricData'] });
    try {
      const err = await rejection(one);
      expect(err.name).toBe('AccessDenied');
      expect(err.$metadata?.httpStatusCode).toBe(403);
      expect(err.message).toBe('User: arn:aws:iam::111111111111:user/keystore-watch-simulator is not authorized to perform: cloudwatch:GetMetricData because no identity-based policy allows the cloudwatch:GetMetricData action');
      // ListMetrics is another action.
      await cwClient(sim).send(new ListMetricsCommand({}));
    } finally {
      sim.fleet.setAccount('111111111111', { missingPermissions: [] });
    }
  });

  it('AccessDenied in the query protocol is an XML ErrorResponse (403); in JSON the query code rides in x-amzn-query-error', async () => {
    sim.fleet.setAccount('111111111111', { missingPermissions: ['cloudwatch:ListMetrics'] });
    try {
      const auth = `AWS4-HMAC-SHA256 Credential=${baseAccessKeyId('111111111111')}/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0`;
      const query = await fetch(sim.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', authorization: auth }, body: 'Action=ListMetrics&Version=2010-08-01&Namespace=AWS%2FKMS' });
      expect(query.status).toBe(403);
      const xml = await query.text();
      expect(xml).toContain('<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code>');
      expect(xml).toContain('is not authorized to perform: cloudwatch:ListMetrics because no identity-based policy allows the cloudwatch:ListMetrics action');
      const json = await fetch(sim.url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'GraniteServiceVersion20100801.ListMetrics', authorization: auth }, body: '{}' });
      expect(json.status).toBe(403);
      expect(json.headers.get('x-amzn-query-error')).toBe('AccessDenied;Sender');
      expect(((await json.json()) as { __type: string }).__type).toBe('com.amazonaws.cloudwatch#AccessDeniedException');
    } finally {
      sim.fleet.setAccount('111111111111', { missingPermissions: [] });
    }
  });

  it('injected errors use CloudWatch codes: InternalServiceError 500, and by JSON type name', async () => {
    sim.fleet.setFaults({ errors: [{ service: 'cloudwatch', operation: 'GetMetricData', error: 'InternalServiceError', remaining: 1 }, { service: 'cloudwatch', error: 'LimitExceededException', remaining: 1 }] });
    const a = await rejection(one);
    expect(a.name).toBe('InternalServiceFault');
    expect(a.$metadata?.httpStatusCode).toBe(500);
    const b = await rejection(one);
    expect(b.name).toBe('LimitExceededException');
    await one();
  });
});

describe('control API and timeline', () => {
  let sim: RunningSimulator;
  const clock = manualClock(START);
  beforeAll(async () => {
    sim = await startSimulator({ clock, scenario: scenario({ timeline: [{ at: '5m', store: XKS, set: { metrics: { XksProxyCertificateDaysToExpire: 1 } } }, { at: '5m', cluster: CLUSTER, set: { metrics: { HsmUnhealthy: null } } }] }) });
  });
  afterAll(() => sim.close());

  it('a timeline entry changes metrics at its scheduled time; the control API lists series and tunes the delays', async () => {
    clock.advance(9 * MIN);
    const r = await data(sim, [q('cert', 'XksProxyCertificateDaysToExpire', dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' }), 'Minimum'), q('u', 'HsmUnhealthy', dims({ ClusterId: CLUSTER }), 'Maximum', 60, 'AWS/CloudHSM')], START, START + 9 * MIN);
    expect(series(r, 'cert')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((m) => [m, m < 5 ? 5 : 1]));
    expect(series(r, 'u').map(([m]) => m)).toEqual([0, 1, 2, 3, 4]);
    const listed = await control(sim, 'GET', '/_sim/metrics?account=111111111111&region=us-east-1');
    expect(listed.status).toBe(200);
    expect(listed.body.map((m: { metricName: string }) => m.metricName)).toContain('XksProxyLatency');
    expect((await control(sim, 'GET', '/_sim/metrics')).status).toBe(400);
    expect((await control(sim, 'GET', `/_sim/metrics/${XKS}`)).body.XksProxyCertificateDaysToExpire).toBe(1);
    expect((await control(sim, 'PATCH', '/_sim/cloudwatch', { publishDelay: '3m' })).body).toEqual({ publishDelay: 180_000, history: 3_600_000 });
    expect((await control(sim, 'PATCH', '/_sim/cloudwatch', { delay: '3m' })).status).toBe(400);
    const later = await data(sim, [q('cert', 'XksProxyCertificateDaysToExpire', dims({ CustomKeyStoreId: XKS, CertificateName: 'proxy.example.net' }), 'Minimum')], START, START + 9 * MIN);
    expect(series(later, 'cert').at(-1)![0]).toBe(5);
    expect((await control(sim, 'PATCH', '/_sim/cloudtrail', { deliveryDelay: '2m' })).body).toEqual({ deliveryDelay: 120_000 });
  });

  it('refuses timeline metrics that do not fit the store, naming the entry', () => {
    expect(() => parseScenario(scenario({ timeline: [{ at: '1m', store: HSM_STORE, set: { metrics: { XksProxyLatency: 3 } } }] }), 't.yaml'))
      .toThrow(/t\.yaml: timeline\[0\]\.set\.metrics\.XksProxyLatency: not a metric AWS publishes for an AWS_CLOUDHSM store/);
    expect(() => parseScenario(scenario({ timeline: [{ at: '1m', store: XKS, set: { metrics: { XksProxyLatency: { series: [{ at: '2m', value: 1 }, { at: '1m', value: 2 }] } } } }] }), 't.yaml'))
      .toThrow(/points must be in ascending order/);
  });
});

describe('scenario metrics', () => {
  it('names the file path of a metric that does not fit its owner', () => {
    const bad = (metrics: unknown, type = 'EXTERNAL_KEY_STORE') => () => parseScenario({ accounts: [{ id: '111111111111', regions: { 'us-east-1': { stores: [{ id: XKS, type, ...(type === 'AWS_CLOUDHSM' && { clusterId: CLUSTER }), metrics }] } } }] } as never, 'f.yaml');
    expect(bad({ XksProxyErrors: { Sometimes: 1 } })).toThrow(/f\.yaml: accounts\[0\]\.regions\.us-east-1\.stores\[0\]\.metrics\.XksProxyErrors\.Sometimes: not a ErrorType/);
    expect(bad({ HsmUnhealthy: 1 })).toThrow(/metrics\.HsmUnhealthy: not a metric AWS publishes for an EXTERNAL_KEY_STORE store/);
    expect(bad({ XksProxyCertificateDaysToExpire: 1 }, 'AWS_CLOUDHSM')).toThrow(/not a metric AWS publishes for an AWS_CLOUDHSM store/);
    expect(bad({ XksProxyCredentialAge: { ramp: { from: 1, to: 2, over: '-5m' } } })).toThrow(ScenarioError);
    expect(bad({ XksProxyCredentialAge: { series: [{ at: 'soon', value: 1 }] } })).toThrow(/not a duration/);
  });
});
