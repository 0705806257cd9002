// The real daemon (poller, snapshot, metrics, HTTP server, state) against the in-process simulator.
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, sdkThreadsSelfAlert } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import type { RunningSimulator } from '../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from './helpers/sim.js';
import { mustRun, promtoolCheckMetrics } from './helpers/tools.js';

let sim: RunningSimulator;
let daemon: Daemon;
const TOKEN = 'test-token-0123456789abcdef';

beforeAll(async () => {
  sim = await simulator('poller-fleet.yaml');
  daemon = new Daemon({ config: simConfig(sim, { http: { authToken: TOKEN } }), logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false });
  await daemon.start();
});
afterAll(async () => {
  await daemon?.stop(1000);
  await sim?.close();
});

const get = (path: string, auth = true) => fetch(`${daemon.url}${path}`, { headers: auth ? { authorization: `Bearer ${TOKEN}` } : {} });
const metricsText = async () => (await get('/metrics')).text();
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('daemon end to end', () => {
  it('is alive at once and ready only after the first poll', async () => {
    expect((await get('/healthz', false)).status).toBe(200);
    expect((await get('/readyz', false)).status).toBe(503);
    expect(await daemon.pollNow()).toBe(true);
    expect((await get('/readyz', false)).status).toBe(200);
  });

  it('requires the bearer token on /metrics and /api', async () => {
    expect((await get('/metrics', false)).status).toBe(401);
    expect((await get('/api/v1/stores', false)).status).toBe(401);
    expect((await fetch(`${daemon.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789ab' } })).status).toBe(401);
    expect((await get('/metrics')).status).toBe(200);
  });

  it('exports every state and error code with the right values', async () => {
    const text = await metricsText();
    const cs = (acct: string, region: string, id: string, state: string) => `kms_custom_key_store_connection_state{account_id="${acct}",region="${region}",custom_key_store_id="${id}",state="${state}"}`;
    const expected: [string, string, string, string][] = [
      ['111111111111', 'us-east-1', 'cks-aaaaaaaaaaaaaaaa1', 'CONNECTED'],
      ['222222222222', 'us-east-1', 'cks-bbbbbbbbbbbbbbbb1', 'FAILED'],
      ['222222222222', 'eu-west-1', 'cks-cccccccccccccccc2', 'CONNECTING'],
      ['222222222222', 'eu-west-1', 'cks-cccccccccccccccc3', 'DISCONNECTED'],
      ['222222222222', 'eu-west-1', 'cks-cccccccccccccccc4', 'DISCONNECTING'],
    ];
    for (const [a, r, id, current] of expected) {
      for (const state of ['CONNECTED', 'CONNECTING', 'FAILED', 'DISCONNECTED', 'DISCONNECTING']) {
        expect(value(text, cs(a, r, id, state)), `${id} ${state}`).toBe(state === current ? 1 : 0);
      }
    }
    const err = (acct: string, region: string, id: string, code: string) => `kms_custom_key_store_connection_error{account_id="${acct}",region="${region}",custom_key_store_id="${id}",code="${code}"}`;
    expect(value(text, err('222222222222', 'us-east-1', 'cks-bbbbbbbbbbbbbbbb1', 'INVALID_CREDENTIALS'))).toBe(1);
    expect(value(text, err('222222222222', 'us-east-1', 'cks-bbbbbbbbbbbbbbbb2', 'XKS_PROXY_NOT_REACHABLE'))).toBe(1);
    expect(value(text, err('222222222222', 'eu-west-1', 'cks-cccccccccccccccc5', 'XKS_PROXY_TIMED_OUT'))).toBe(1);
    expect(text.split('\n').filter((l) => l.startsWith('kms_custom_key_store_connection_error{'))).toHaveLength(3);
    expect(value(text, 'keystore_watch_target_up{account_id="333333333333",region="eu-west-1"}')).toBe(1);
    expect(value(text, 'aws_cloudhsm_cluster_active_hsm_availability_zones{account_id="222222222222",region="us-east-1",cloudhsm_cluster_id="cluster-bcdefghijkl"}')).toBe(1);
    expect(value(text, 'keystore_watch_aws_requests_total{service="kms",operation="DescribeCustomKeyStores"}')).toBeGreaterThanOrEqual(6);
    expect(value(text, 'keystore_watch_polls_total')).toBe(1);
    expect(text).toMatch(/keystore_watch_build_info\{version="\d+\.\d+\.\d+"/);
  });

  it.runIf(mustRun('promtool'))('serves /metrics that promtool accepts', async () => {
    const r = promtoolCheckMetrics(await metricsText());
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('filters /api/v1/stores by state and account', async () => {
    const failed = (await (await get('/api/v1/stores?state=FAILED')).json()) as { stores: { customKeyStoreId: string; connectionState: string }[] };
    expect(failed.stores.map((s) => s.customKeyStoreId).sort()).toEqual(['cks-bbbbbbbbbbbbbbbb1', 'cks-bbbbbbbbbbbbbbbb2', 'cks-cccccccccccccccc5']);
    const acct = (await (await get('/api/v1/stores?account_id=333333333333')).json()) as { stores: { customKeyStoreId: string }[] };
    expect(acct.stores.map((s) => s.customKeyStoreId)).toEqual(['cks-dddddddddddddddd1']);
    const body = JSON.stringify(await (await get('/api/v1/stores')).json());
    expect(body).not.toContain('BEGIN CERTIFICATE');
  });

  it('drops every series of a deleted store after the next poll', async () => {
    sim.fleet.removeStore('cks-cccccccccccccccc7');
    await daemon.pollNow();
    const text = await metricsText();
    expect(text).not.toContain('cks-cccccccccccccccc7');
    expect(text).toContain('cks-cccccccccccccccc6');
  });

  it('skips a tick that arrives while a poll is running, and counts it', async () => {
    sim.fleet.setFaults({ latencyMs: 300 });
    try {
      const first = daemon.pollNow();
      const second = await daemon.pollNow();
      expect(second).toBe(false);
      expect(await first).toBe(true);
    } finally {
      sim.fleet.setFaults({ latencyMs: 0 });
    }
    expect(value(await metricsText(), 'keystore_watch_polls_skipped_total')).toBe(1);
  });

  it('keeps a target\'s stores, marked stale, while it fails', async () => {
    sim.fleet.setFaults({ errors: [{ service: 'kms', account: '333333333333', region: 'us-east-1', error: 'KMSInternalException' }] });
    try {
      await daemon.pollNow();
      const text = await metricsText();
      expect(value(text, 'keystore_watch_target_up{account_id="333333333333",region="us-east-1"}')).toBe(0);
      expect(value(text, 'kms_custom_key_store_stale{account_id="333333333333",region="us-east-1",custom_key_store_id="cks-dddddddddddddddd1"}')).toBe(1);
      expect(value(text, 'kms_custom_key_store_connection_state{account_id="333333333333",region="us-east-1",custom_key_store_id="cks-dddddddddddddddd1",state="CONNECTED"}')).toBe(1);
      expect(value(text, 'keystore_watch_aws_request_failures_total{service="kms",operation="DescribeCustomKeyStores",code="KMSInternalException"}')).toBeGreaterThanOrEqual(1);
    } finally {
      sim.fleet.setFaults({ errors: [] });
    }
  });
  it('serves the same metrics gzip-compressed when asked (Prometheus asks)', async () => {
    const raw = (encoding: string) => new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = request(`${daemon.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}`, 'accept-encoding': encoding } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
    const gz = await raw('gzip');
    const plain = await raw('identity');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const strip = (t: string) => t.split('\n').filter((l) => l.startsWith('kms_') || l.startsWith('keystore_watch_target')).join('\n');
    const unzipped = gunzipSync(gz.body).toString('utf8');
    expect(strip(unzipped)).toBe(strip(plain.body.toString('utf8')));
    expect(unzipped).toContain('keystore_watch_build_info');
    expect(Number(plain.headers['content-length'])).toBe(plain.body.length);
  });
});

describe('sdkThreadsSelfAlert', () => {
  it('the self-alert for threads failing one after another names the last failure and the workaround', () => {
    const a = sdkThreadsSelfAlert('exited with code 1', 3);
    expect(a).toMatchObject({ id: 'sdk-threads', severity: 'critical' });
    expect(a.summary).toContain('3 in a row');
    expect(a.details).toEqual({ 'Last failure': 'exited with code 1', 'Failures in a row': '3' });
    expect(a.steps!.join(' ')).toContain('aws.sdkThreads: 0');
  });
});
