// Exporter conventions on a freshly started daemon (scraped before its first poll, before any
// notification or error): every counter whose label values are known in advance is already exported at
// 0 (each configured channel; state error kinds; outbox drop reasons; clock step directions), so rate()
// has a first sample and absence alerts can tell "never happened" from "not exported"; build_info carries
// the source revision. The real daemon, its HTTP server and the simulator; nothing mocked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { channelIds } from '../../src/notify/index.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { REVISION, VERSION, resolveRevision } from '../../src/version.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';

const CHANNELS = [
  { type: 'console' as const },
  { type: 'webhook' as const, name: 'oncall-hook', url: 'http://127.0.0.1:9/hook' },
  { type: 'webhook' as const, url: 'http://127.0.0.1:9/other' },
];

let sim: RunningSimulator;
let daemon: Daemon;
let text = '';

beforeAll(async () => {
  sim = await simulator('reliability-fleet.yaml');
  const config = simConfig(sim, { alerting: { channels: CHANNELS } });
  daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false });
  await daemon.start();
  text = await (await fetch(`${daemon.url}/metrics`)).text();
}, 60_000);
afterAll(async () => {
  await daemon?.stop(1000);
  await sim?.close();
});

const sample = (name: string, labels: Record<string, string>): number | undefined => {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const have = m[1]!.split(',');
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[2]);
  }
  return undefined;
};

describe('a fresh daemon exports known label values at 0', () => {
  it('has not polled yet (the scrape is of a fresh process)', () => {
    expect(text).not.toMatch(/^keystore_watch_polls_total [1-9]/m);
    expect(text).toMatch(/^keystore_watch_polls_total 0$/m);
  });

  it('every configured channel in the delivery, failure and dead-letter counters', () => {
    const ids = channelIds(CHANNELS);
    expect(ids).toHaveLength(3);
    for (const channel of ids) {
      for (const name of ['keystore_watch_notifications_total', 'keystore_watch_notification_failures_total', 'keystore_watch_outbox_dead_letters_total']) {
        expect(sample(name, { channel }), `${name}{channel="${channel}"}`).toBe(0);
      }
    }
  });

  it('state error kinds, outbox drop reasons and clock step directions', () => {
    for (const kind of ['corrupt', 'write']) expect(sample('keystore_watch_state_errors_total', { kind }), kind).toBe(0);
    for (const reason of ['overflow', 'channel_removed']) expect(sample('keystore_watch_outbox_dropped_total', { reason }), reason).toBe(0);
    for (const direction of ['forward', 'backward']) expect(sample('keystore_watch_clock_steps_total', { direction }), direction).toBe(0);
    for (const reason of ['crashed', 'unresponsive']) expect(sample('keystore_watch_sdk_thread_failures_total', { reason }), reason).toBe(0);
  });

  it('build_info carries version, revision and the Node.js version', () => {
    expect(sample('keystore_watch_build_info', { version: VERSION, revision: REVISION, nodejs_version: process.version })).toBe(1);
  });
});

describe('the revision', () => {
  it('comes from KEYSTORE_WATCH_REVISION, else the packed REVISION file, else "unknown"', () => {
    const noFile = () => { throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }); };
    expect(resolveRevision({ KEYSTORE_WATCH_REVISION: ' 0123abc \n' }, () => 'fromfile')).toBe('0123abc');
    expect(resolveRevision({}, () => 'd4e5f6a7b8c9\n')).toBe('d4e5f6a7b8c9');
    expect(resolveRevision({}, noFile)).toBe('unknown');
    // A file that is not a revision (garbage, a label-breaking value) is not reported.
    expect(resolveRevision({}, () => 'a"b\nc')).toBe('unknown');
  });
});
