// Logs and redaction (issue 12 item 7) and sensitive AWS fields (issue 13 item 6), end to end: a daemon
// against the simulator with real receivers.
//  - An Error logged while a poll fails keeps its name, message, code and stack in the JSON line.
//  - Values from ${ENV} are redacted only when they are secrets: a region, account id or listen address
//    from the environment is shown as it is in /api/v1/targets and in the "target down" log line, while
//    the Slack webhook URL from ${SLACK_URL} is visible nowhere.
//  - The XKS proxy access key id (@sensitive in the KMS model) is absent from /api/v1/stores, /metrics,
//    the logs, the state files and the notifications a real receiver gets; its last 4 characters show.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { parseConfigText } from '../../src/config/load.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simulator, tempDir } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { captureLogger, reportFigure, waitUntil } from './support.js';

const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => { for (const c of closers.reverse()) await c().catch(() => {}); });

const XKS_CANARY = 'XKSCANARYQWERTYZZ7654';
const SLACK_CANARY = 'SLACKURLCANARY-4e9d1c';

async function setUp(scenario: string, configText: (sim: RunningSimulator, receiver: Receiver) => string, env: (receiver: Receiver) => Record<string, string>) {
  const sim = await simulator(scenario);
  closers.push(() => sim.close());
  const receiver = await startReceiver();
  closers.push(() => receiver.close());
  const config = parseConfigText(configText(sim, receiver), 'redaction.yaml', env(receiver));
  const logs = captureLogger('debug');
  let clock = Date.UTC(2026, 7, 1);
  const daemon = new Daemon({ config, logger: logs.logger, credentials: BASE_CREDENTIALS, schedule: false, now: () => clock });
  closers.push(() => daemon.stop(500));
  await daemon.start();
  const poll = async () => { clock += 60_000; await daemon.pollNow(); };
  const get = async (p: string) => (await fetch(`${daemon.url}${p}`)).text();
  return { sim, receiver, config, logs, daemon, poll, get };
}

const parsedLines = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logs and redaction', () => {
  it('keeps env-provided regions and account ids visible, the ${SLACK_URL} webhook hidden, and an Error\'s message and stack in the log line', async () => {
    const t = await setUp('reliability-fleet.yaml', (sim) => `
schedule: "0 0 1 1 *"
listen: "\${LISTEN}"
stateDir: ${tempDir('kw-redact-')}
aws: { endpoint: "${sim.url}", maxAttempts: 1, requestTimeout: 2s, targetTimeout: 4s }
accounts:
  - { id: "\${MGMT_ACCOUNT}", name: management }
regions: ["\${REGION}", "\${OTHER_REGION}"]
alerting:
  confirmations: 1
  targetDownAfter: 1
  channels:
    - { type: slack, webhookUrl: "\${SLACK_URL}", minSeverity: warning }
`, (receiver) => ({ LISTEN: '127.0.0.1:0', MGMT_ACCOUNT: '111111111111', REGION: 'eu-west-1', OTHER_REGION: 'us-east-1', SLACK_URL: `${receiver.url}/services/T000/B000/${SLACK_CANARY}` }));

    await t.poll();
    // eu-west-1 fails: "target down" names it.
    t.sim.fleet.setFaults({ errors: [{ service: 'kms', account: '111111111111', region: 'eu-west-1', error: 'AccessDeniedException', message: 'not allowed' }] });
    await t.poll();
    const targets = JSON.parse(await t.get('/api/v1/targets')) as { targets: { accountId: string; region: string; ok: boolean }[] };
    expect(targets.targets.map((x) => `${x.accountId}/${x.region}/${x.ok}`).sort()).toEqual(['111111111111/eu-west-1/false', '111111111111/us-east-1/true']);
    const down = parsedLines(t.logs.lines()).find((l) => l.msg === 'target down; keeping its last known stores (stale)');
    expect(down).toMatchObject({ accountId: '111111111111', region: 'eu-west-1', code: 'AccessDeniedException' });
    await waitUntil(() => t.receiver.requests.length >= 1, 'the blind-spot alert to reach the Slack receiver', 30_000, 50);
    expect(t.receiver.requests.some((r) => r.body.includes('eu-west-1'))).toBe(true);
    expect(t.receiver.requests[0]!.path).toContain(SLACK_CANARY);

    // A poll whose commit fails with an Error: the state journal cannot be written (a directory sits at
    // its file name; each poll's commit is one journal line, see src/state/file-backend.ts).
    rmSync(path.join(t.config.stateDir, 'journal.log'), { force: true });
    mkdirSync(path.join(t.config.stateDir, 'journal.log', 'in-the-way'), { recursive: true });
    await t.poll();
    const errLines = parsedLines(t.logs.lines()).filter((l) => Number(l.level) >= 40 && l.err && typeof l.err === 'object');
    const withStack = errLines.map((l) => l.err as Record<string, unknown>).find((e) => typeof e.stack === 'string' && /journal\.log/.test(String(e.message)));
    expect(withStack, JSON.stringify(errLines.slice(-3))).toBeDefined();
    expect(withStack!.name).toBe('Error');
    expect(String(withStack!.message)).toMatch(/EISDIR|ENOTEMPTY|EEXIST|directory/i);
    expect(String(withStack!.stack)).toMatch(/\n\s+at /);
    // The store wraps the fs error in its own sentence; a code, when the error has one, is kept (test/util/redact.test.ts).
    expect(t.logs.text()).not.toContain('"err":{}');

    const all = [t.logs.text(), await t.get('/metrics'), await t.get('/api/v1/targets'), await t.get('/api/v1/stores'), await t.get('/api/v1/alerts'), await t.get('/api/v1/events?limit=1000'), ...t.receiver.requests.map((r) => r.body)].join('\n');
    expect(all).not.toContain(SLACK_CANARY);
    // Nothing that is not a secret was blanked: every [REDACTED] in the output stands for the webhook.
    expect(all).toContain('eu-west-1');
    expect(await t.get('/api/v1/targets')).not.toContain('[REDACTED]');
    reportFigure('redaction-by-value', { envRegionVisible: true, slackCanaryLeaks: 0, errorLineHasStack: true });
  });
});

describe('sensitive AWS fields', () => {
  it('never shows the XKS proxy access key id in the API, metrics, logs, state files or a notification', async () => {
    const t = await setUp('xks-canary.yaml', (sim, receiver) => `
schedule: "0 0 1 1 *"
listen: "127.0.0.1:0"
stateDir: ${tempDir('kw-xks-')}
logLevel: trace
aws: { endpoint: "${sim.url}", maxAttempts: 1, requestTimeout: 2s, targetTimeout: 4s }
accounts: [ { id: "111111111111", name: management } ]
regions: [us-east-1, eu-west-1]
alerting:
  confirmations: 1
  channels:
    - { type: webhook, url: "${receiver.url}/hook", minSeverity: info }
`, () => ({}));
    await t.poll();
    const stores = JSON.parse(await t.get('/api/v1/stores')) as { stores: { customKeyStoreId: string; xksProxy: { accessKeyIdLast4: string | null } | null }[] };
    const xks = stores.stores.find((s) => s.customKeyStoreId === 'cks-c000000000000001')!;
    // That one is set, and which one: the last 4 characters.
    expect(xks.xksProxy?.accessKeyIdLast4).toBe(XKS_CANARY.slice(-4));
    // A change of state: the alert carries the store and reaches a real receiver.
    t.sim.fleet.setStore('cks-c000000000000001', { state: 'FAILED', errorCode: 'XKS_PROXY_ACCESS_DENIED' });
    await t.poll();
    await waitUntil(() => t.receiver.requests.some((r) => r.body.includes('cks-c000000000000001')), 'the XKS store alert to reach the webhook receiver', 30_000, 50);
    const served = [await t.get('/api/v1/stores'), await t.get('/metrics'), await t.get('/api/v1/alerts'), await t.get('/api/v1/events?limit=1000')];
    await t.daemon.stop(500);
    const state = readdirSync(t.config.stateDir).filter((f) => f.endsWith('.json')).map((f) => readFileSync(path.join(t.config.stateDir, f), 'utf8'));
    const scanned = [...served, t.logs.text(), ...t.receiver.requests.map((r) => r.body + JSON.stringify(r.headers)), ...state].join('\n');
    expect(scanned).toContain('XKS_PROXY_ACCESS_DENIED');
    expect(scanned).not.toContain(XKS_CANARY);
    // The first 16 characters alone would identify it too.
    expect(scanned).not.toContain(XKS_CANARY.slice(0, 16));
    reportFigure('xks-access-key-canary', { sources: ['api', 'metrics', 'logs', 'webhook', 'state'], leaks: 0 });
  });
});
