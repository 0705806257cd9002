// Shared by the CloudHSM end-to-end tests: a real Daemon (schedule off, injected clock) against the
// in-process simulator, a webhook receiver, and readers for /metrics and the webhook events.
import { expect } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { startReceiver, type Receiver } from './receiver.js';
import { hookEvents, outboxDrained, type HookEvent } from './daemon-hooks.js';
import { BASE_CREDENTIALS, simConfig, simulator } from './sim.js';

export type { HookEvent };

export interface Harness {
  sim: RunningSimulator;
  daemon: Daemon;
  hook: Receiver;
  /** The daemon's clock (epoch ms); poll() moves it. */
  clock: { now: number };
  /** One poll, `minutes` of daemon time after the previous one. */
  poll(minutes?: number): Promise<void>;
  /** Waits until the outbox is empty. */
  delivered(): Promise<void>;
  events(): HookEvent[];
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The daemon's clock starts at the real time (rounded to the second): the simulator generates
 * certificates relative to its own clock, which is real time, so expiry windows line up.
 */
export async function startHarness(opts: { sim?: RunningSimulator; fixture?: string; accounts: Record<string, unknown>[]; regions: string[]; extra?: Record<string, unknown> }): Promise<Harness> {
  const sim = opts.sim ?? (await simulator(opts.fixture ?? 'cloudhsm-fleet.yaml'));
  const hook = await startReceiver();
  const clock = { now: Math.floor(Date.now() / 1000) * 1000 };
  const { alerting, ...rest } = (opts.extra ?? {}) as { alerting?: Record<string, unknown> };
  const config = simConfig(sim, {
    accounts: opts.accounts,
    regions: opts.regions,
    alerting: {
      confirmations: 2, repeatInterval: '24h', groupThreshold: 1000,
      channels: [{ type: 'webhook', url: `${hook.url}/hook`, minSeverity: 'info' }],
      ...alerting,
    },
    ...rest,
  });
  const daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => clock.now });
  await daemon.start();
  const h: Harness = {
    sim, daemon, hook, clock,
    async poll(minutes = 1) {
      clock.now += minutes * 60_000;
      expect(await daemon.pollNow()).toBe(true);
    },
    delivered: () => outboxDrained(daemon),
    events: () => hookEvents(hook),
    async metrics() {
      return (await fetch(`${daemon.url}/metrics`)).text();
    },
    async close() {
      await daemon.stop(2000);
      await hook.close();
      if (!opts.sim) await sim.close();
    },
  };
  return h;
}

/** The value of one exact series (name and labels as rendered), or undefined when absent. */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/**
 * keystore_watch_self_alert{id} at any severity: the largest value, or undefined when no series has the id.
 * For "not firing" checks, which must not pass only because the alert fired at another severity.
 */
export function selfAlertValue(text: string, id: string): number | undefined {
  const prefix = `keystore_watch_self_alert{id="${id}",`;
  const values = text.split('\n').filter((l) => l.startsWith(prefix)).map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
  return values.length ? Math.max(...values) : undefined;
}

/** Every sample line of a metric family, e.g. for "no series changed" comparisons. */
export function familyLines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

export const labels = (l: Record<string, string>): string => `{${Object.entries(l).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
