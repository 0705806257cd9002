// Shared by the CloudWatch / CloudTrail end-to-end tests: the simulator and the daemon on ONE clock (the
// simulator publishes metric datapoints and records CloudTrail events on its clock; the daemon asks for
// time windows on its own), a real Daemon with the schedule off, a webhook, a Slack receiver and the console
// channel captured, all through the real notifiers.
import { expect } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { createNotifiers } from '../../src/notify/index.js';
import { systemClock, type SimClock } from '../../src/simulator/clock.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { startReceiver, type Receiver } from './receiver.js';
import { hookEvents, outboxDrained, type HookEvent } from './daemon-hooks.js';
import { BASE_CREDENTIALS, fixtureScenario, simConfig } from './sim.js';

export type { HookEvent };

export interface CwHarness {
  sim: RunningSimulator;
  clock: SimClock;
  daemon: Daemon;
  hook: Receiver;
  slack: Receiver;
  console: string[];
  /** One poll, `minutes` of (shared) time after the previous one. */
  poll(minutes?: number): Promise<void>;
  /** Waits until the outbox is empty (Slack is paced to one message a second: storms take a while). */
  delivered(timeoutMs?: number): Promise<void>;
  events(): HookEvent[];
  metrics(): Promise<string>;
  close(): Promise<void>;
}

export async function startCwHarness(opts: { fixture: string; accounts: Record<string, unknown>[]; regions: string[]; extra?: Record<string, unknown> }): Promise<CwHarness> {
  const clock = systemClock();
  const sim = await startSimulator({ scenario: fixtureScenario(opts.fixture), port: 0, clock });
  const hook = await startReceiver();
  const slack = await startReceiver();
  const consoleLines: string[] = [];
  const { alerting, cloudwatch, ...rest } = (opts.extra ?? {}) as { alerting?: Record<string, unknown>; cloudwatch?: Record<string, unknown> };
  const channels = [
    { type: 'webhook', url: `${hook.url}/hook`, minSeverity: 'info' },
    { type: 'slack', webhookUrl: `${slack.url}/services/T000/B000/XXXX`, minSeverity: 'info' },
    { type: 'console', minSeverity: 'info' },
  ];
  const config = simConfig(sim, {
    accounts: opts.accounts,
    regions: opts.regions,
    alerting: { confirmations: 2, repeatInterval: '24h', groupThreshold: 1000, channels, ...alerting },
    // Minute periods so a change shows in the next poll three (shared) minutes later.
    cloudwatch: { period: '1m', lookback: '5m', ...cloudwatch },
    ...rest,
  });
  const notifiers = createNotifiers(config.alerting.channels, { consoleWriter: (t: string) => { consoleLines.push(t); } });
  const daemon = new Daemon({ config, logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, now: () => clock.now(), notifiers });
  await daemon.start();
  const h: CwHarness = {
    sim, clock, daemon, hook, slack, console: consoleLines,
    async poll(minutes = 3) {
      clock.advance(minutes * 60_000);
      expect(await daemon.pollNow()).toBe(true);
    },
    delivered: (timeoutMs = 20_000) => outboxDrained(daemon, timeoutMs),
    events: () => hookEvents(hook),
    async metrics() {
      return (await fetch(`${daemon.url}/metrics`)).text();
    },
    async close() {
      await daemon.stop(2000);
      await hook.close();
      await slack.close();
      await sim.close();
    },
  };
  return h;
}
