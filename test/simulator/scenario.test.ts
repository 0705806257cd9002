// Scenario files: bad ones are rejected naming file, field and problem (exit code 2 from the CLI);
// shipped ones load; the generator is deterministic; the timeline runs on the simulated clock.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../src/simulator/clock.js';
import { Fleet } from '../../src/simulator/fleet.js';
import { generateFleet } from '../../src/simulator/generate.js';
import { DEMO_SCENARIO_PATH, generateSchema, loadScenarioFile, parseScenario, ScenarioError } from '../../src/simulator/scenario.js';
import { startSimulator } from '../../src/simulator/server.js';
import { control, creds, hsmClient, kmsClient, withSim } from './helpers.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/scenarios');
const SCENARIOS = join(import.meta.dirname, '../../config/scenarios');

const BAD: Record<string, RegExp[]> = {
  'bad-state.yaml': [/accounts\[0\]\.regions\.us-east-1\.stores\[0\]\.state: invalid value; expected one of CONNECTED \| CONNECTING/],
  'bad-account-id.yaml': [/accounts\[0\]\.id: .*12-digit/, /accounts\[1\]\.id: .*12-digit/],
  'bad-unknown-field.yaml': [/accounts\[0\]\.regions\.eu-west-1\.stores\[0\]\.xks: unknown field "uriEndpont"/],
  'bad-failed-without-code.yaml': [/stores\[0\]\.errorCode: required when state is FAILED/],
  'bad-timeline.yaml': [/timeline\[0\]\.at: not a duration: "soon"/],
  'bad-timeline-target.yaml': [/timeline\[0\]\.store: no store with id cks-doesnotexist/, /timeline\[1\]\.set\.errorCode: invalid value/],
  'bad-yaml.yaml': [/line \d+, column \d+: invalid YAML/],
  'bad-cluster.yaml': [/clusters\[0\]\.hsms\[1\]\.state: invalid value/],
  'bad-faults.yaml': [/faults\.rateLimitPerSecond: /, /faults\.errors\[0\]\.probability: /],
  'bad-type-fields.yaml': [/stores\[0\]\.clusterId: required for an AWS_CLOUDHSM store/, /stores\[1\]\.clusterId: only applies to an AWS_CLOUDHSM store/],
};

describe('scenario validation', () => {
  for (const [file, patterns] of Object.entries(BAD)) {
    it(`rejects ${file} naming the file, the field and the problem`, () => {
      const path = join(FIXTURES, file);
      let error: unknown;
      try { loadScenarioFile(path); } catch (err) { error = err; }
      expect(error).toBeInstanceOf(ScenarioError);
      const message = (error as Error).message;
      for (const line of message.split('\n')) expect(line.startsWith(`${path}: `)).toBe(true);
      for (const p of patterns) expect(message).toMatch(p);
    });
  }

  it('reports the remaining problems once the first ones are fixed (cross-field checks)', () => {
    const cross = () => parseScenario({ managementAccount: '999999999999', accounts: [{ id: '111111111111', regions: { 'us-east-1': { clusters: [{ id: 'cluster-1a23b4cdefg', hsms: [{ az: 'eu-west-1a' }] }] } } }] }, 'x.yaml');
    expect(cross).toThrow(/x\.yaml: managementAccount: 999999999999 is not one of accounts\[\]\.id/);
    expect(cross).toThrow(/x\.yaml: accounts\[0\]\.regions\.us-east-1\.clusters\[0\]\.hsms\[0\]\.az: eu-west-1a is not in region us-east-1/);
    expect(() => parseScenario({ accounts: [] }, 'x.yaml')).toThrow(/x\.yaml: accounts: at least one account/);
    expect(() => parseScenario({ accounts: [{ id: '111111111111', regions: { 'us-east-1': { stores: [{ name: 'a', type: 'EXTERNAL_KEY_STORE' }, { name: 'a', type: 'EXTERNAL_KEY_STORE' }] } } }] }, 'x.yaml')).toThrow(/stores\[1\]\.name: duplicate store name a/);
  });

  it('the CLI exits 2 with the message for a bad scenario', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'simulate', '--scenario', join(FIXTURES, 'bad-state.yaml'), '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(FIXTURES, 'bad-state.yaml')}: accounts[0].regions.us-east-1.stores[0].state: invalid value`);
    const missing = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'simulate', '--scenario', '/nonexistent.yaml'], { encoding: 'utf8', timeout: 30_000 });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('/nonexistent.yaml: cannot read scenario file');
  });

  it('loads every shipped scenario and every good fixture', () => {
    const files = [
      ...readdirSync(SCENARIOS).filter((f) => f.endsWith('.yaml')).map((f) => join(SCENARIOS, f)),
      ...readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml') && !f.startsWith('bad-')).map((f) => join(FIXTURES, f)),
    ];
    expect(files).toContain(DEMO_SCENARIO_PATH);
    for (const f of files) expect(() => loadScenarioFile(f), f).not.toThrow();
  });
});

describe('simulate CLI', () => {
  it('prints the endpoint URL first and serves until SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'simulate', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const firstLine = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => { buf += d; if (buf.includes('\n')) resolve(buf.split('\n')[0]!); });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const url = /^simulator listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(firstLine)?.[1];
    expect(url).toBeTruthy();
    const res = await fetch(`${url}/_sim/health`);
    expect(await res.json()).toEqual({ ok: true });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('generator', () => {
  const spec = generateSchema.parse({ seed: 7, accounts: 40, regions: ['us-east-1', 'eu-west-1', 'ap-south-1'], storesPerRegion: 1.5, hsmsPerCluster: 3 });

  it('produces the same fleet for the same seed and a different one for another seed', () => {
    const a = generateFleet(spec);
    expect(generateFleet(spec)).toEqual(a);
    const b = generateFleet({ ...spec, seed: 8 });
    expect(b).not.toEqual(a);
    expect(b.map((x) => x.id)).not.toEqual(a.map((x) => x.id));
    // Identical through the whole fleet, too.
    const fleet = (seed: number) => new Fleet({ generate: { ...spec, seed } }, { clock: manualClock() }).snapshot();
    const f1 = fleet(7);
    const f2 = fleet(7);
    expect({ ...f2, now: 0, startedAt: 0 }).toEqual({ ...f1, now: 0, startedAt: 0 });
  });

  it('honours the fractions and the size', () => {
    const accounts = generateFleet({ ...spec, accounts: 300, storesPerRegion: 2, failedFraction: 0.2, cloudHsmFraction: 0.5 });
    const stores = accounts.flatMap((a) => Object.values(a.regions).flatMap((r) => r.stores));
    expect(stores.length).toBe(300 * 3 * 2);
    const failed = stores.filter((s) => s.state === 'FAILED').length / stores.length;
    expect(failed).toBeGreaterThan(0.15);
    expect(failed).toBeLessThan(0.25);
    const hsm = stores.filter((s) => s.type === 'AWS_CLOUDHSM');
    expect(hsm.length / stores.length).toBeGreaterThan(0.45);
    const clusters = accounts.flatMap((a) => Object.values(a.regions).flatMap((r) => r.clusters));
    expect(clusters.length).toBe(hsm.length);
    expect(new Set(clusters.flatMap((c) => c.hsms.map((h) => h.az.slice(-1))))).toEqual(new Set(['a', 'b', 'c']));
    expect(new Set(stores.map((s) => s.id)).size).toBe(stores.length);
  });

  it('adds the generated fleet to the listed accounts and serves it', async () => {
    await withSim({ scenario: { accounts: [{ id: '111111111111' }], generate: { seed: 3, accounts: 5, regions: ['us-west-2'], storesPerRegion: 3, cloudHsmFraction: 1 }, faults: { rateLimitPerSecond: 0 } } }, async (sim) => {
      const snap = sim.fleet.snapshot();
      expect(snap.managementAccount).toBe('111111111111');
      expect(snap.accounts).toHaveLength(6);
      const member = snap.accounts[1]!;
      const stores = (await kmsClient(sim, 'us-west-2', creds(member.id)).send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!;
      expect(stores).toHaveLength(3);
      const clusters = (await hsmClient(sim, 'us-west-2', creds(member.id)).send(new DescribeClustersCommand({ Filters: { clusterIds: stores.map((s) => s.CloudHsmClusterId!) } }))).Clusters!;
      expect(clusters).toHaveLength(3);
    });
  });
});

describe('timeline and the simulated clock', () => {
  it('fails the demo store at 20s and repairs it at 80s', async () => {
    const clock = manualClock();
    await withSim({ clock }, async (sim) => {
      sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 0, jitterMs: 0 });
      const kms = kmsClient(sim, 'us-east-1', creds('222222222222'));
      const store = async () => (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-1234567890abcdef0' }))).CustomKeyStores![0]!;
      expect((await store()).ConnectionState).toBe('CONNECTED');
      clock.advance(19_999);
      expect((await store()).ConnectionState).toBe('CONNECTED');
      clock.advance(1);
      expect(await store()).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'INVALID_CREDENTIALS' });
      // The control API advances the same clock (and a jump of an hour applies everything due).
      const jumped = await control(sim, 'POST', '/_sim/clock', { advance: '1h' });
      expect(jumped.body.now).toBe(clock.now());
      const s = await store();
      expect(s.ConnectionState).toBe('CONNECTED');
      expect(s.ConnectionErrorCode).toBeUndefined();
    });
  });

  it('runs store, cluster, account and fault changes in order', async () => {
    const clock = manualClock();
    const scenario = {
      accounts: [{ id: '111111111111', regions: { 'us-east-1': {
        stores: [{ id: 'cks-aaaaaaaaaaaaaaaaa', name: 'a', clusterId: 'cluster-aaaaaaaaaaaa' }, { id: 'cks-bbbbbbbbbbbbbbbbb', name: 'b', type: 'EXTERNAL_KEY_STORE' as const }],
        clusters: [{ id: 'cluster-aaaaaaaaaaaa', hsms: [{ az: 'us-east-1a' }, { az: 'us-east-1b' }] }],
      } } }, { id: '222222222222' }],
      timeline: [
        { at: '10s', cluster: 'cluster-aaaaaaaaaaaa', set: { state: 'DEGRADED', hsms: [{ az: 'us-east-1a', state: 'DEGRADED' }] } },
        { at: '20s', store: 'cks-bbbbbbbbbbbbbbbbb', delete: true as const },
        { at: '30s', faults: { errors: [{ operation: 'DescribeCustomKeyStores', error: 'KMSInternalException' }] } },
        { at: '30s', account: '222222222222', set: { status: 'SUSPENDED' } },
      ],
      faults: { rateLimitPerSecond: 0 },
    };
    await withSim({ scenario, clock }, async (sim) => {
      const kms = kmsClient(sim);
      const hsm = hsmClient(sim);
      clock.advance(10_000);
      const c = (await hsm.send(new DescribeClustersCommand({}))).Clusters![0]!;
      expect([c.State, c.Hsms!.map((h) => h.State)]).toEqual(['DEGRADED', ['DEGRADED']]);
      expect((await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.map((s) => s.CustomKeyStoreName)).toEqual(['a', 'b']);
      clock.advance(10_000);
      expect((await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.map((s) => s.CustomKeyStoreName)).toEqual(['a']);
      clock.advance(10_000);
      await expect(kms.send(new DescribeCustomKeyStoresCommand({}))).rejects.toMatchObject({ name: 'KMSInternalException' });
      expect(sim.fleet.getAccount('222222222222')!.status).toBe('SUSPENDED');
    });
  });
});

describe('control API', () => {
  it('reads the fleet, adds, changes and removes stores, clusters and accounts', async () => {
    const sim = await startSimulator({ scenario: { accounts: [{ id: '111111111111' }], faults: { rateLimitPerSecond: 0 } } });
    try {
      const kms = kmsClient(sim, 'eu-central-1');
      expect((await control(sim, 'POST', '/_sim/clusters', { account: '111111111111', region: 'eu-central-1', id: 'cluster-cccccccccccc', hsms: [{ az: 'eu-central-1a' }] })).status).toBe(201);
      const added = await control(sim, 'POST', '/_sim/stores', { account: '111111111111', region: 'eu-central-1', name: 'new-hsm', clusterId: 'cluster-cccccccccccc', state: 'DISCONNECTED' });
      expect(added.status).toBe(201);
      const id = added.body.id as string;
      expect(id).toMatch(/^cks-[0-9a-f]{17}$/);
      expect((await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.map((s) => s.CustomKeyStoreName)).toEqual(['new-hsm']);
      const patched = await control(sim, 'PATCH', `/_sim/stores/${id}`, { state: 'FAILED', errorCode: 'NETWORK_ERRORS', name: 'renamed' });
      expect(patched.body).toMatchObject({ state: 'FAILED', errorCode: 'NETWORK_ERRORS', name: 'renamed' });
      expect((await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores![0]).toMatchObject({ CustomKeyStoreName: 'renamed', ConnectionState: 'FAILED', ConnectionErrorCode: 'NETWORK_ERRORS' });
      expect((await control(sim, 'PATCH', `/_sim/stores/${id}`, { state: 'BOGUS' })).status).toBe(400);
      expect((await control(sim, 'PATCH', `/_sim/stores/${id}`, { state: 'CONNECTED', errorCode: 'NETWORK_ERRORS' })).status).toBe(400);
      // Hostile values AWS has not defined yet go through `overrides`.
      await control(sim, 'PATCH', `/_sim/stores/${id}`, { overrides: { ConnectionState: 'QUANTUM_ENTANGLED', CustomKeyStoreName: '<!channel> *bold*' } });
      const raw = (await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores![0]!;
      expect([raw.ConnectionState, raw.CustomKeyStoreName]).toEqual(['QUANTUM_ENTANGLED', '<!channel> *bold*']);
      const fleet = await control(sim, 'GET', '/_sim/fleet?account=111111111111');
      expect(fleet.body.accounts[0].regions['eu-central-1'].stores[0].id).toBe(id);
      expect(fleet.body.baseAccessKeyId).toBe('AKIASIM0111111111111');
      expect((await control(sim, 'POST', '/_sim/accounts', { id: '222222222222', name: 'late-joiner' })).status).toBe(201);
      expect((await control(sim, 'PATCH', '/_sim/accounts/222222222222', { status: 'SUSPENDED' })).body.status).toBe('SUSPENDED');
      expect((await control(sim, 'DELETE', `/_sim/stores/${id}`)).status).toBe(200);
      expect((await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores).toEqual([]);
      expect((await control(sim, 'DELETE', `/_sim/stores/${id}`)).status).toBe(404);
      expect((await control(sim, 'GET', '/_sim/nothing')).status).toBe(404);
      expect((await control(sim, 'POST', '/_sim/clock', { advance: 'later' })).status).toBe(400);
      const notJson = await fetch(`${sim.url}/_sim/stores/${id}`, { method: 'PATCH', body: '{not json', headers: { 'content-type': 'application/json' } });
      expect(notJson.status).toBe(400);
      expect(await notJson.json()).toEqual({ error: 'the request body is not valid JSON' });
    } finally {
      await sim.close();
    }
  });
});
