// Hostile and malformed input: store names, ids and XKS fields from AWS holding Slack mrkdwn and
// mentions, HTML, newlines, quotes, backslashes, unicode and 10 kB strings; enum values AWS has not
// defined yet; missing fields (all through the simulator's raw wire `overrides`). The daemon keeps
// running, /metrics passes promtool, Slack payloads stay escaped and inside Block Kit limits, every log
// line is one JSON event. A state directory full of garbage is set aside and reported, never a crash loop.
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKnownConnectionState } from '../../src/model.js';
import { Daemon } from '../../src/daemon.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { slackPayloadProblems } from '../helpers/slack-limits.js';
import { mustRun, promtoolCheckMetrics } from '../helpers/tools.js';
import HOSTILE from '../fixtures/hostile-strings.json' with { type: 'json' };
import { badLogLines, captureLogger, metricValue, reportFigure } from './support.js';

const BIG = 'A'.repeat(4000) + '<!channel>' + '\n'.repeat(10) + 'é'.repeat(3000) + '"\\'.repeat(1000);

let sim: RunningSimulator | undefined;
let slack: Receiver | undefined, hook: Receiver | undefined;
const daemons: Daemon[] = [];
afterAll(async () => {
  for (const d of daemons) await d.stop(500).catch(() => {});
  await Promise.all([sim?.close(), slack?.close(), hook?.close()]);
});

describe('hostile and malformed input from AWS', () => {
  it('keeps metrics valid, Slack escaped and within limits, logs one JSON line per event', async () => {
    sim = await simulator('reliability-fleet.yaml');
    [slack, hook] = await Promise.all([startReceiver(), startReceiver()]);
    const add = (region: string, input: Record<string, unknown>) => sim!.fleet.addStore('111111111111', region, { type: 'EXTERNAL_KEY_STORE', ...input }).id;
    const cases: Record<string, string> = {};
    for (const [k, v] of Object.entries(HOSTILE)) cases[`name:${k}`] = add('us-east-1', { name: v.slice(0, 256), state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' });
    cases['name:10kB'] = add('us-east-1', { state: 'FAILED', errorCode: 'INVALID_CREDENTIALS', overrides: { CustomKeyStoreName: BIG } });
    cases['id:hostile'] = add('eu-west-1', { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT', overrides: { CustomKeyStoreId: `cks-"quoted"\n<!channel>\\${HOSTILE.unicode}` } });
    cases['id:10kB'] = add('eu-west-1', { state: 'CONNECTED', overrides: { CustomKeyStoreId: `cks-${BIG}` } });
    cases['state:DEGRADED_NEW'] = add('eu-west-1', { state: 'CONNECTED', overrides: { ConnectionState: 'DEGRADED_NEW' } });
    cases['code:unknown'] = add('eu-west-1', { state: 'CONNECTED', overrides: { ConnectionState: 'FAILED', ConnectionErrorCode: 'BRAND_NEW_ERROR_CODE' } });
    cases['type:unknown'] = add('eu-west-1', { state: 'CONNECTED', overrides: { CustomKeyStoreType: 'QUANTUM_KEY_STORE' } });
    cases['missing fields'] = add('eu-west-1', { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT', overrides: { CustomKeyStoreName: null, CreationDate: null, CustomKeyStoreType: null, ConnectionErrorCode: null, XksProxyConfiguration: null } });
    cases['xks:hostile'] = add('eu-west-1', {
      state: 'FAILED', errorCode: 'XKS_PROXY_INVALID_RESPONSE',
      overrides: { XksProxyConfiguration: { Connectivity: 'FUTURE_CONNECTIVITY', UriEndpoint: `https://x.example/${HOSTILE.html}${HOSTILE.newlines}`, UriPath: `${HOSTILE.quotes}${HOSTILE.backslashes}`, AccessKeyId: HOSTILE.channelPing, VpcEndpointServiceName: BIG } },
    });
    const logs = captureLogger('debug');
    let clock = Date.UTC(2026, 6, 1);
    const config = simConfig(sim, {
      alerting: {
        confirmations: 2, groupThreshold: 1000,
        channels: [{ type: 'slack', webhookUrl: `${slack.url}/services/T0/B0/hostile`, minSeverity: 'info' }, { type: 'webhook', url: `${hook.url}/hook`, minSeverity: 'info' }],
      },
    });
    const daemon = new Daemon({ config, logger: logs.logger, credentials: BASE_CREDENTIALS, schedule: false, now: () => clock });
    daemons.push(daemon);
    await daemon.start();
    for (let i = 0; i < 3; i++) { clock += 60_000; expect(await daemon.pollNow()).toBe(true); }
    const deadline = Date.now() + 60_000;
    while (daemon.alerts.outbox.pending() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(daemon.alerts.outbox.pending()).toBe(0);

    expect(daemon.latest!.targets.every((t) => t.ok)).toBe(true);
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    if (mustRun('promtool')) expect(promtoolCheckMetrics(metrics).output).toBe('');
    // The unknown state is exported as itself, the unknown code too.
    expect(metrics).toMatch(/state="DEGRADED_NEW"\} 1/);
    expect(metrics).toMatch(/code="BRAND_NEW_ERROR_CODE"\} 1/);
    for (const line of metrics.split('\n')) expect(line.length).toBeLessThan(12_000);
    for (const p of ['/api/v1/stores', '/api/v1/alerts', '/api/v1/events', '/api/v1/targets']) {
      const r = await fetch(`${daemon.url}${p}`);
      expect(r.status).toBe(200);
      expect(() => JSON.parse(JSON.stringify(r.json()))).not.toThrow();
    }
    const stores = ((await (await fetch(`${daemon.url}/api/v1/stores`)).json()) as { stores: { customKeyStoreId: string; connectionState: string }[] }).stores;
    expect(stores.find((s) => s.connectionState === 'DEGRADED_NEW')).toBeDefined();

    // Slack: every FAILED store fired, and the store in a state this release does not know (anything but
    // CONNECTED pages); nothing can ping, link or break out; within Block Kit limits.
    const unknownStates = daemon.latest!.stores.filter((s) => !isKnownConnectionState(s.state)).map((s) => s.state);
    expect(unknownStates).toEqual(['DEGRADED_NEW']);
    const failedStores = daemon.latest!.stores.filter((s) => s.state === 'FAILED').length + unknownStates.length;
    expect(hook.requests.map((r) => (r.json as { notification: { condition: string } }).notification.condition).filter((c) => c === 'UNKNOWN_STATE')).toHaveLength(1);
    expect(slack.requests.length).toBe(failedStores);
    for (const r of slack.requests) {
      expect(slackPayloadProblems(r.json as Record<string, unknown>)).toEqual([]);
      for (const raw of ['<!channel>', '<!here', '<!everyone>', '<@U123ABC>', '<#C0123', '<!subteam', '<https://evil', '<script>', '\u001b[']) expect(r.body, raw).not.toContain(JSON.stringify(raw).slice(1, -1));
    }
    expect(hook.requests.length).toBe(failedStores);
    for (const r of hook.requests) expect(r.json).toBeDefined();

    // Logs: every line one JSON object, one line per alert event.
    expect(badLogLines(logs.text())).toEqual([]);
    const lines = logs.lines().map((l) => JSON.parse(l) as { msg: string });
    expect(lines.filter((l) => l.msg === 'alert firing').length).toBe(failedStores);
    reportFigure('hostile-input', { hostileStores: Object.keys(cases).length, cases: Object.keys(cases), slackMessages: slack.requests.length, logLines: lines.length, metricsBytes: metrics.length, promtool: mustRun('promtool') ? 'clean' : 'not run' });
  });

  it('sets every corrupt state document aside, reports it, and does not crash-loop', async () => {
    sim ??= await simulator('reliability-fleet.yaml');
    const stateDir = tempDir('kw-corrupt-');
    writeFileSync(path.join(stateDir, 'snapshot.json'), '{"format":"keystore-watch-state","version":1,"name":"snapshot","data":{"pollId":');
    writeFileSync(path.join(stateDir, 'alerts.json'), JSON.stringify({ format: 'keystore-watch-state', version: 1, name: 'alerts', writtenAt: 0, data: { alerts: 'nope' } }));
    writeFileSync(path.join(stateDir, 'outbox.json'), Buffer.from([0, 0, 0, 0xff, 0xfe]));
    writeFileSync(path.join(stateDir, 'history.json'), JSON.stringify({ format: 'keystore-watch-state', version: 99, name: 'history', data: [] }));
    const start = async () => {
      const logs = captureLogger('info');
      const d = new Daemon({ config: simConfig(sim!, { stateDir }), logger: logs.logger, credentials: BASE_CREDENTIALS, schedule: false });
      daemons.push(d);
      await d.start();
      expect(await d.pollNow()).toBe(true);
      const metrics = await (await fetch(`${d.url}/metrics`)).text();
      await d.stop(500);
      return { logs, corrupt: metricValue(metrics, 'keystore_watch_state_errors_total{kind="corrupt"}') ?? 0 };
    };
    const first = await start();
    expect(first.corrupt).toBe(4);
    const aside = readdirSync(stateDir).filter((f) => f.includes('.corrupt-'));
    expect(aside.map((f) => f.split('.')[0]).sort()).toEqual(['alerts', 'history', 'outbox', 'snapshot']);
    const reported = first.logs.lines().map((l) => JSON.parse(l) as { msg: string; document?: string }).filter((l) => /corrupt/.test(l.msg));
    expect(new Set(reported.map((l) => l.document).filter(Boolean))).toEqual(new Set(['snapshot', 'alerts', 'outbox', 'history']));
    expect(badLogLines(first.logs.text())).toEqual([]);
    // Restart: the fresh documents load, nothing more is set aside.
    const second = await start();
    expect(second.corrupt).toBe(0);
    expect(readdirSync(stateDir).filter((f) => f.includes('.corrupt-'))).toHaveLength(4);
    reportFigure('corrupt-state', { documents: 4, setAside: aside.length, secondStartCorrupt: second.corrupt });
  });
});
