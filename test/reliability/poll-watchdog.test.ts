// The poll watchdog end to end: a real daemon on its real schedule (every second) against the
// simulator, every KMS answer hanging so the first poll runs until the target deadline and every
// tick behind it is skipped. No poll starts when due: the watchdog (monotonic time, its own timer)
// must say so in /metrics, in one structured log line and through its hook (the self-alert), and say
// again when polls start again.
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from '../helpers/sim.js';
import { badLogLines, captureLogger, metricValue, reportFigure, waitUntil } from './support.js';

let sim: RunningSimulator | undefined;
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop(2000);
  await sim?.close();
});

describe('poll watchdog', () => {
  it('reports a poll that has not started when due (metric, log line, hook) and its recovery', async () => {
    sim = await simulator('reliability-fleet.yaml');
    sim.fleet.setFaults({ errors: [{ service: 'kms', operation: 'DescribeCustomKeyStores', error: 'hang' }] });
    const config = simConfig(sim, {
      schedule: '*/1 * * * * *',
      stateDir: tempDir('kw-watchdog-'),
      accounts: [{ id: '111111111111', name: 'management' }],
      regions: ['us-east-1'],
      aws: { maxAttempts: 1, requestTimeout: '20s', targetTimeout: '8s' },
    });
    const logs = captureLogger('info');
    const hook: string[] = [];
    daemon = new Daemon({
      config, logger: logs.logger, credentials: BASE_CREDENTIALS,
      watchdog: { graceMs: 2_000, checkEveryMs: 100, onOverdue: (e) => hook.push(`overdue ${e.graceMs}`), onRecovered: () => hook.push('recovered') },
    });
    const metrics = async () => fetch(`${daemon!.url}/metrics`).then((r) => r.text());
    const t0 = performance.now();
    await daemon.start();
    expect(metricValue(await metrics(), 'keystore_watch_poll_overdue')).toBe(0);

    await waitUntil(async () => metricValue(await metrics(), 'keystore_watch_poll_overdue') === 1, 'the watchdog to report the overdue poll', 30_000);
    const noticedAfterS = (performance.now() - t0) / 1000;
    let text = await metrics();
    expect(metricValue(text, 'keystore_watch_poll_overdue_total')).toBe(1);
    expect(metricValue(text, 'keystore_watch_polls_skipped_total')).toBeGreaterThanOrEqual(2);
    expect(hook).toEqual(['overdue 2000']);
    const line = logs.lines().map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'poll overdue: no poll has started since it was due');
    expect(line).toMatchObject({ severity: 'error', graceSeconds: 2, schedule: '*/1 * * * * *' });
    expect(typeof line!.slot).toBe('string');
    // The self-alert (through every channel; listed in /api/v1/alerts and exported).
    const self = async () => ((await fetch(`${daemon!.url}/api/v1/alerts`).then((r) => r.json())) as { self?: { id: string; summary: string }[] }).self ?? [];
    expect((await self()).map((a) => a.id)).toEqual(['poll-overdue']);
    expect((await self())[0]!.summary).toMatch(/^keystore-watch is not polling: the poll due at .* has not started/);
    expect(metricValue(text, 'keystore_watch_self_alert{id="poll-overdue",severity="critical"}')).toBe(1);

    // AWS answers again: the hanging poll ends at its deadline, the next tick starts a poll.
    sim.fleet.resetFaults();
    sim.fleet.setFaults({ rateLimitPerSecond: 0 });
    await waitUntil(async () => metricValue(await metrics(), 'keystore_watch_poll_overdue') === 0, 'the watchdog to see polls start again', 60_000);
    const recoveredAfterS = (performance.now() - t0) / 1000;
    text = await metrics();
    expect(hook).toEqual(['overdue 2000', 'recovered']);
    expect(await self()).toEqual([]);
    expect(metricValue(text, 'keystore_watch_self_alert{id="poll-overdue",severity="critical"}')).toBe(0);
    expect(metricValue(text, 'keystore_watch_poll_overdue_total')).toBe(1); // one episode, reported once
    expect(logs.lines().filter((l) => l.includes('"poll overdue: no poll has started since it was due"'))).toHaveLength(1);
    expect(logs.lines().some((l) => l.includes('"polling resumed after being overdue"'))).toBe(true);
    expect(badLogLines(logs.text())).toEqual([]);
    reportFigure('poll-watchdog', { schedule: 'every 1 s', graceSeconds: 2, targetDeadlineSeconds: 8, noticedAfterS: Number(noticedAfterS.toFixed(1)), recoveredAfterS: Number(recoveredAfterS.toFixed(1)) });
  }, 120_000);
});
