// Issue 12 items 4 and 5 end to end: the daemon against the simulator (real SDK clients over HTTP) and a
// real local webhook receiver. A ConnectionState, cluster state or HSM state the SDK does not know must
// page (before: exported, never alerted), and a store flapping FAILED/CONNECTED every poll must raise
// exactly one FLAPPING alert (before: the confirmation count reset every poll, nothing was ever sent),
// also across a restart of the daemon on the same stateDir.
// Fixture: test/fixtures/scenarios/states-fleet.yaml, account 111111111111, us-east-1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { BASE_CREDENTIALS, simConfig, tempDir } from '../helpers/sim.js';
import { labels, metricValue, startHarness, type Harness } from '../helpers/cloudhsm.js';

const ACCOUNT = '111111111111';
const REGION = 'us-east-1';
const HSM_STORE = 'cks-s000000000000001';
const XKS_STORE = 'cks-s000000000000002';
const FLAPPY = 'cks-s000000000000003';
const CLUSTER = 'cluster-states000001';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    fixture: 'states-fleet.yaml',
    accounts: [{ id: ACCOUNT, name: 'management' }],
    regions: [REGION],
    extra: { alerting: { flapping: { changes: 4, window: '10m' } } },
  });
  await h.poll();
  await h.poll();
  await h.delivered();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const tags = (from = 0) => h.events().slice(from).map((e) => `${e.kind}:${e.condition}:${e.subject.storeId}`);

describe('unknown states end to end', () => {
  it('a healthy fleet sends nothing', () => {
    expect(h.events()).toEqual([]);
  });

  it('a ConnectionState the SDK does not know pages (critical) with the raw value and generic guidance, and resolves', async () => {
    const from = h.events().length;
    h.sim.fleet.setStore(XKS_STORE, { unknownState: 'QUARANTINED' });
    await h.poll();
    const text = await h.metrics();
    // The exporter shows it (it always did) ...
    expect(metricValue(text, `kms_custom_key_store_connection_state${labels({ account_id: ACCOUNT, region: REGION, custom_key_store_id: XKS_STORE, state: 'QUARANTINED' })}`)).toBe(1);
    await h.poll();
    await h.delivered();
    // ... and now it alerts, once, after the usual confirmations.
    expect(tags(from)).toEqual([`firing:UNKNOWN_STATE:${XKS_STORE}`]);
    const e = h.events()[from]!;
    expect(e.severity).toBe('critical');
    expect(e.subject.state).toBe('QUARANTINED');
    expect(e.subject.details['Connection state']).toBe('QUARANTINED');
    expect(e.guidance.title).toContain('QUARANTINED');
    expect(e.guidance.runbookAnchor).toBe('kmscustomkeystoreunknownstate');
    expect(e.guidance.commands.join('\n')).toContain(`--custom-key-store-id ${XKS_STORE}`);
    for (let i = 0; i < 3; i++) await h.poll();
    await h.delivered();
    expect(tags(from)).toHaveLength(1);
    h.sim.fleet.setStore(XKS_STORE, { state: 'CONNECTED' });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:UNKNOWN_STATE:${XKS_STORE}`, `resolved:UNKNOWN_STATE:${XKS_STORE}`]);
  });

  it('a hostile unknown state (markup, newlines, 2,000 characters) still pages; the title shows it defanged and capped', async () => {
    const from = h.events().length;
    const hostile = `<!channel> *QUARANTINED*\n${'X'.repeat(2000)}`;
    const id = h.sim.fleet.addStore(ACCOUNT, REGION, { type: 'EXTERNAL_KEY_STORE', name: 'hostile-state', state: 'CONNECTED', overrides: { ConnectionState: hostile } }).id;
    try {
      await h.poll();
      await h.poll();
      await h.delivered();
      expect(tags(from)).toEqual([`firing:UNKNOWN_STATE:${id}`]);
      const e = h.events()[from]!;
      expect(e.severity).toBe('critical');
      expect(e.subject.details['Connection state']).toBe(hostile); // the raw value, as data
      expect(e.guidance.title).not.toMatch(/[<>*\n]/);
      expect(e.guidance.title.length).toBeLessThan(150);
    } finally {
      h.sim.fleet.removeStore(id);
    }
    for (let i = 0; i < 2; i++) await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:UNKNOWN_STATE:${id}`, `resolved:UNKNOWN_STATE:${id}`]);
  });

  it('an unknown cluster state pages once as CLUSTER_UNKNOWN_STATE (not also CLUSTER_NOT_ACTIVE), with the raw value', async () => {
    const from = h.events().length;
    h.sim.fleet.setCluster(CLUSTER, { unknownState: 'SHIFTING' });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:CLUSTER_UNKNOWN_STATE:${HSM_STORE}`]);
    const e = h.events()[from]!;
    expect(e.severity).toBe('critical');
    expect(e.subject.clusterId).toBe(CLUSTER);
    expect(e.subject.details['Cluster state']).toBe('SHIFTING');
    expect(e.guidance.title).toContain('SHIFTING');
    // Long past clusterUpdateTimeout: still one alert.
    await h.poll(90);
    await h.poll();
    await h.delivered();
    expect(tags(from)).toHaveLength(1);
    h.sim.fleet.setCluster(CLUSTER, { state: 'ACTIVE' });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from)).toEqual([`firing:CLUSTER_UNKNOWN_STATE:${HSM_STORE}`, `resolved:CLUSTER_UNKNOWN_STATE:${HSM_STORE}`]);
  });

  it('an unknown HSM state pages too, naming the HSM (which does not count as ACTIVE: one AZ left)', async () => {
    const from = h.events().length;
    h.sim.fleet.setHsm(CLUSTER, 'hsm-states00000b', { unknownState: 'PATCHING' });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from).sort()).toEqual([`firing:CLUSTER_UNKNOWN_STATE:${HSM_STORE}`, `firing:SINGLE_AZ:${HSM_STORE}`]);
    const e = h.events().slice(from).find((x) => x.condition === 'CLUSTER_UNKNOWN_STATE')!;
    expect(e.subject.details['HSMs in unknown states']).toBe('hsm-states00000b: PATCHING');
    expect(e.severity).toBe('critical');
    h.sim.fleet.setHsm(CLUSTER, 'hsm-states00000b', { state: 'ACTIVE' });
    await h.poll();
    await h.poll();
    await h.delivered();
    expect(tags(from).filter((t) => t.startsWith('resolved:')).sort()).toEqual([`resolved:CLUSTER_UNKNOWN_STATE:${HSM_STORE}`, `resolved:SINGLE_AZ:${HSM_STORE}`]);
  });
});

describe('flapping end to end', () => {
  /** Polls every 5 s of daemon time for a minute, the store alternating FAILED and CONNECTED at every poll. */
  async function flapForAMinute(daemonPoll: () => Promise<void>, startFailed = true): Promise<void> {
    for (let i = 0; i < 12; i++) {
      h.sim.fleet.setStore(FLAPPY, (i % 2 === 0) === startFailed ? { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' } : { state: 'CONNECTED' });
      await daemonPoll();
    }
  }

  it('a store flapping every poll for a minute raises exactly one FLAPPING alert (and FAILED once), which resolves after a quiet window', async () => {
    const from = h.events().length;
    await flapForAMinute(() => h.poll(5 / 60));
    await h.delivered();
    const flapping = tags(from).filter((t) => t.includes(':FLAPPING:'));
    expect(flapping).toEqual([`firing:FLAPPING:${FLAPPY}`]);
    // FAILED half the time is never silent: the FAILED alert fires too, once (hysteresis), with its code.
    expect(tags(from).filter((t) => t.includes(':FAILED:'))).toEqual([`firing:FAILED:${FLAPPY}`]);
    const e = h.events().slice(from).find((x) => x.condition === 'FLAPPING')!;
    expect(e.severity).toBe('warning'); // half FAILED, half CONNECTED: not more than half
    expect(e.subject.details['State changes']).toMatch(/^\d+ in the last 10m$/);
    // Stable (CONNECTED) from now on: FAILED resolves after two polls, FLAPPING once 10 quiet minutes passed.
    h.sim.fleet.setStore(FLAPPY, { state: 'CONNECTED' });
    for (let i = 0; i < 9; i++) await h.poll();
    await h.delivered();
    expect(tags(from).filter((t) => t.includes(':FLAPPING:'))).toEqual([`firing:FLAPPING:${FLAPPY}`]);
    await h.poll(2);
    await h.delivered();
    expect(tags(from).filter((t) => t.includes(':FLAPPING:'))).toEqual([`firing:FLAPPING:${FLAPPY}`, `resolved:FLAPPING:${FLAPPY}`]);
    expect(tags(from).filter((t) => t.includes(':FAILED:'))).toEqual([`firing:FAILED:${FLAPPY}`, `resolved:FAILED:${FLAPPY}`]);
  }, 60_000);

  it('the flapping history survives a restart on the same stateDir: one alert across both processes', async () => {
    // Two daemons one after the other on one stateDir, the same simulator and receiver (the harness's
    // daemon is idle meanwhile: it only polls when told to).
    const config = simConfig(h.sim, {
      stateDir: tempDir('kw-flap-restart-'),
      accounts: [{ id: ACCOUNT, name: 'management' }],
      regions: [REGION],
      alerting: { confirmations: 2, repeatInterval: '24h', groupThreshold: 1000, flapping: { changes: 4, window: '10m' }, channels: [{ type: 'webhook', url: `${h.hook.url}/hook`, minSeverity: 'info' }] },
    });
    const start = async (): Promise<Daemon> => {
      const d = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => h.clock.now });
      await d.start();
      return d;
    };
    const pollEvery5s = async (d: Daemon, state: 'FAILED' | 'CONNECTED'): Promise<void> => {
      h.sim.fleet.setStore(FLAPPY, state === 'FAILED' ? { state, errorCode: 'XKS_PROXY_TIMED_OUT' } : { state });
      h.clock.now += 5_000;
      expect(await d.pollNow()).toBe(true);
    };
    const drained = async (d: Daemon): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (d.alerts.outbox.pending() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    h.clock.now += 30 * 60_000;
    h.sim.fleet.setStore(FLAPPY, { state: 'CONNECTED' });
    const from = h.events().length;
    const first = await start();
    try {
      // Three changes (below the threshold of four) in the first process ...
      for (const st of ['CONNECTED', 'FAILED', 'CONNECTED', 'FAILED'] as const) await pollEvery5s(first, st);
      await drained(first);
    } finally {
      await first.stop(2000);
    }
    expect(tags(from).filter((t) => t.includes(':FLAPPING:'))).toEqual([]);
    const second = await start();
    try {
      // ... the fourth in the second process fires it; it was remembered across the restart.
      await pollEvery5s(second, 'CONNECTED');
      for (let i = 0; i < 6; i++) await pollEvery5s(second, i % 2 === 0 ? 'FAILED' : 'CONNECTED');
      await drained(second);
      expect(tags(from).filter((t) => t.includes(':FLAPPING:'))).toEqual([`firing:FLAPPING:${FLAPPY}`]);
    } finally {
      await second.stop(2000);
    }
  }, 60_000);
});
