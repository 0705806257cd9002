// System test of the operator kit against the real thing: the simulator (built-in demo scenario,
// config/scenarios/demo.yaml), the daemon polling it every 5 seconds, and a real Prometheus (the
// Debian `prometheus` binary) scraping the daemon every second with the alert rules loaded.
// Then every PromQL expression of the dashboard (variables substituted as "All") runs through
// Prometheus's HTTP API and must be valid and, unless allow-listed below with a reason, return data.
//
// Skipped only when the prometheus binary is missing outside CI; the daemon and the simulator are
// part of this repository, so their absence fails the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  ALERTS, alertRules, dashboardQueries, loadContract, loadDashboard, path, run, skipWithout, substituteVars, which,
} from './lib.js';

/**
 * Dashboard queries that may legitimately return nothing in the demo scenario: "panel title/refId" -> reason.
 * (Failed deliveries per channel and state errors per kind are not here: their counters start at 0 for
 * every configured channel and every kind, so those queries return data from the first scrapes.)
 */
const MAY_BE_EMPTY: Record<string, string> = {
  'AWS request failures by code/A': 'the demo scenario has no failing AWS call unless the simulator happens to throttle; the series appears on the first failure',
  'AWS throttling/A': 'throttling only happens under load; the demo polls far below the simulated 5 requests/s',
  'Internal errors/B': 'Organizations discovery works here; the series appears on the first failed Organizations read',
  'Internal errors/D': 'every OU path and tag is readable here; the series appears on the first account whose ListParents or ListTagsForResource fails',
  'Alerts firing/B': 'keystore-watch raises no self-alert in the demo; the query shows only firing ones (keystore_watch_self_alert > 0)',
  'Probe denied and throttled/B': 'the demo never throttles a probe; keystore_watch_probe_throttled_total appears on the first ThrottlingException',
};

/**
 * Alert rule expressions the demo scenario makes true right away (the rules' `for:` clauses are not
 * waited for: the expression returning data is what proves the joins work on the real /metrics).
 */
const ALERT_EXPRS_TRUE_IN_DEMO: Record<string, string> = {
  KmsCustomKeyStoreFailed: 'eu-xks (222222222222/eu-west-1) is FAILED with XKS_PROXY_NOT_REACHABLE, analytics-hsm-old with CLUSTER_NOT_FOUND',
  KmsCustomKeyStoreDisconnected: 'payments-hsm-staging and analytics-hsm-apac-2 are DISCONNECTED',
  KmsCustomKeyStoreProbeFailing: 'analytics-hsm is CONNECTED and its GenerateRandom probe fails (probeFailure)',
  KmsCustomKeyStoreTrustAnchorExpiring: 'payments-hsm-eu trust anchor expires in 20 days',
  CloudHsmClusterNotActive: 'cluster-analyticsdeg is DEGRADED',
  CloudHsmClusterNotFound: 'analytics-hsm-old references cluster-analyticsold, which does not exist',
  CloudHsmClusterNoActiveHsms: 'cluster-analyticsprd (behind CONNECTED analytics-hsm) has no ACTIVE HSM',
  CloudHsmClusterSingleAz: 'cluster-paymentseuwa has both HSMs in eu-west-1a',
  CloudHsmHsmDegraded: 'cluster-analyticsprd and cluster-analyticsdeg each have a DEGRADED HSM',
  CloudHsmClusterCertificateExpiring: 'cluster-analyticsapc certificate expires in 12 days',
  KmsXksProxyCertificateExpiring: 'payments-xks proxy certificate expires in 5 days (CloudWatch)',
  KmsXksProxyCredentialOld: 'payments-xks proxy credential is 120 days old (CloudWatch)',
  KmsXksExternalKeyManagerUnhealthy: 'one of orders-xks\'s external key managers is Degraded (CloudWatch)',
  KmsXksProxyUnhealthy: 'orders-xks (us-west-2) is CONNECTED with 20% of its proxy requests failing and 230 ms latency (CloudWatch)',
};

const ACCOUNTS = [
  { id: '111111111111', name: 'org-management' },
  { id: '222222222222', name: 'payments-prod', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch', ouPath: '/Prod/Payments', tags: { owner: 'payments', CostCenter: 'cc-42' } },
  { id: '333333333333', name: 'analytics-prod', roleArn: 'arn:aws:iam::333333333333:role/KeystoreWatch' },
];
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'us-west-2'];

const freePort = (): Promise<number> => new Promise((resolve, reject) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  }).on('error', reject);
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc { name: string; child: ChildProcess; output: string[] }
const procs: Proc[] = [];

function start(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { cwd: path(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const p: Proc = { name, child, output: [] };
  const keep = (chunk: Buffer) => { p.output.push(chunk.toString()); if (p.output.length > 400) p.output.splice(0, 100); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  procs.push(p);
  return p;
}
const tail = (p: Proc, n = 30) => `--- ${p.name} (exit ${p.child.exitCode ?? 'running'}) ---\n${p.output.join('').split('\n').slice(-n).join('\n')}`;
const logs = () => procs.map((p) => tail(p)).join('\n');

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    for (const p of procs) if (p.child.exitCode !== null) throw new Error(`${p.name} exited while waiting for ${what}\n${logs()}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) { last = err; }
    await sleep(500);
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}\n${logs()}`);
}

const nodeTsx = (args: string[]) => [process.execPath, ['--import', 'tsx', path('src', 'cli', 'main.ts'), ...args]] as const;

let dir = '';
let daemonUrl = '';
let promUrl = '';
let metricsText = '';

interface QueryResult { status: string; error?: string; data?: { resultType: string; result: unknown[] | [number, string] } }
async function query(expr: string): Promise<QueryResult> {
  const res = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  return (await res.json()) as QueryResult;
}
const hasData = (r: QueryResult): boolean =>
  r.status === 'success' && (r.data!.resultType === 'scalar' || r.data!.resultType === 'string' || (r.data!.result as unknown[]).length > 0);

describe.skipIf(skipWithout('prometheus'))('system: simulator + daemon + real Prometheus', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kw-system-'));

    // 1. The simulator with the built-in demo scenario; it prints its URL on the first line.
    const simPort = await freePort();
    const [node, simArgs] = nodeTsx(['simulate', '--listen', `127.0.0.1:${simPort}`]);
    const sim = start('simulator', node, [...simArgs]);
    const simUrl = await until('the simulator URL on stdout', 30_000, async () => /(https?:\/\/[^\s]+)/.exec(sim.output.join('').split('\n')[0] ?? '')?.[1]);
    const baseKey = /AWS_ACCESS_KEY_ID=([A-Z0-9]+)/.exec(sim.output.join(''))?.[1] ?? 'AKIASIM0111111111111';

    // 2. The daemon against it.
    const daemonPort = await freePort();
    daemonUrl = `http://127.0.0.1:${daemonPort}`;
    const configFile = join(dir, 'keystore-watch.yaml');
    writeFileSync(configFile, stringify({
      schedule: '*/5 * * * * *',
      listen: `127.0.0.1:${daemonPort}`,
      stateDir: join(dir, 'state'),
      logLevel: 'warn',
      aws: { endpoint: simUrl, maxAttempts: 2, requestTimeout: '5s', targetTimeout: '15s' },
      accounts: ACCOUNTS,
      // Discovery on (the Organizations metrics are part of the contract) but limited to the accounts above.
      organizations: { enabled: true, includeAccounts: ACCOUNTS.map((a) => a.id), tags: ['owner'] },
      regions: REGIONS,
      alerting: { confirmations: 2, channels: [{ type: 'console', minSeverity: 'info' }] },
      probe: { enabled: true, interval: '5s', failuresBeforeAlert: 2 },
    }));
    const [, runArgs] = nodeTsx(['run', '--config', configFile]);
    start('daemon', node, [...runArgs], { AWS_ACCESS_KEY_ID: baseKey, AWS_SECRET_ACCESS_KEY: 'simulator', AWS_REGION: 'us-east-1' });
    await until('daemon /readyz 200 (first poll done)', 60_000, async () => ((await fetch(`${daemonUrl}/readyz`)).status === 200 ? true : undefined));

    // 3. A real Prometheus scraping it every second, with the alert rules loaded.
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    const promConfig = join(dir, 'prometheus.yml');
    writeFileSync(promConfig, stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [path('config', 'prometheus', 'alerts.yml')],
      scrape_configs: [{ job_name: 'keystore-watch', static_configs: [{ targets: [`127.0.0.1:${daemonPort}`] }] }],
    }));
    start('prometheus', which('prometheus') ?? 'prometheus', [
      `--config.file=${promConfig}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn', '--web.enable-lifecycle',
    ]);
    await until('Prometheus /-/ready', 30_000, async () => ((await fetch(`${promUrl}/-/ready`)).status === 200 ? true : undefined));

    // 4. Wait for samples: the target up, stores present, and enough polls scraped for rates.
    await until('keystore-watch scraped (up == 1)', 30_000, async () => (hasData(await query('up{job="keystore-watch"} == 1')) ? true : undefined));
    await until('store series in Prometheus', 30_000, async () => (hasData(await query('kms_custom_key_store_info')) ? true : undefined));
    await until('two polls in the rate window', 45_000, async () => (hasData(await query('increase(keystore_watch_polls_total[1m]) >= 2')) ? true : undefined));
    metricsText = await (await fetch(`${daemonUrl}/metrics`)).text();
  }, 180_000);

  afterAll(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.pid) { try { process.kill(-p.child.pid, 'SIGTERM'); } catch { /* gone */ } }
    }
    await sleep(1000);
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.pid) { try { process.kill(-p.child.pid, 'SIGKILL'); } catch { /* gone */ } }
    }
    if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  });

  it('promtool check metrics accepts the daemon\'s /metrics', () => {
    if (skipWithout('promtool')) return;
    const r = run('promtool', ['check', 'metrics'], { input: metricsText });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('/metrics exports every metric of the contract (metric-contract.json)', () => {
    const families = new Set([...metricsText.matchAll(/^# TYPE (\S+) (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`));
    const missing = loadContract().metrics.filter((m) => !families.has(`${m.name} ${m.type}`)).map((m) => `${m.name} (${m.type})`);
    expect(missing, 'metrics of the contract missing from /metrics (or with another type)').toEqual([]);
  });

  it('/metrics series carry exactly the labels of the contract', () => {
    const contract = loadContract();
    const wrong = new Set<string>();
    for (const m of metricsText.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+\S+/gm)) {
      let name = m[1]!;
      const labels = [...(m[2] ?? '').matchAll(/(\w+)="(?:[^"\\]|\\.)*"/g)].map((l) => l[1]!).filter((l) => l !== 'le').sort();
      let metric = contract.metrics.find((c) => c.name === name);
      if (!metric) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        metric = contract.metrics.find((c) => c.name === base && c.type === 'histogram');
        name = base;
      }
      if (!metric) continue; // not part of the contract (extra metrics are allowed)
      const extra = metric.extraLabels ? new RegExp(metric.extraLabels) : null;
      const fixed = extra ? labels.filter((l) => metric.labels.includes(l) || !extra.test(l)) : labels;
      const expected = [...metric.labels].sort();
      if (JSON.stringify(fixed) !== JSON.stringify(expected)) wrong.add(`${name}: {${labels.join(', ')}} != contract {${expected.join(', ')}}`);
    }
    expect([...wrong]).toEqual([]);
  });

  it('every dashboard query is valid PromQL and returns data where the demo scenario guarantees it', async () => {
    const queries = dashboardQueries(loadDashboard());
    for (const key of Object.keys(MAY_BE_EMPTY)) {
      expect(queries.some((q) => `${q.panel}/${q.refId}` === key), `allow-list entry ${key} matches no query`).toBe(true);
    }
    // Counters with labels (notifications, failures) appear a few polls in: retry empties for a while.
    const pending = new Map(queries.map((q) => [`${q.panel}/${q.refId}`, q]));
    const invalid: string[] = [];
    const deadline = Date.now() + 60_000;
    while (pending.size > 0) {
      for (const [key, q] of [...pending]) {
        const expr = substituteVars(q.expr);
        const r = await query(expr);
        if (r.status !== 'success') { invalid.push(`${key}: ${r.error}\n    ${expr}`); pending.delete(key); continue; }
        if (hasData(r) || key in MAY_BE_EMPTY) pending.delete(key);
      }
      if (pending.size === 0 || Date.now() > deadline) break;
      await sleep(2000);
    }
    expect(invalid, 'queries Prometheus rejected').toEqual([]);
    expect([...pending].map(([key, q]) => `${key}: no data\n    ${substituteVars(q.expr)}`), 'queries without data').toEqual([]);
  }, 120_000);

  it('every dashboard variable query finds label values', async () => {
    for (const v of loadDashboard().templating.list.filter((x: { type: string }) => x.type === 'query')) {
      const m = /^label_values\((.*),\s*(\w+)\)$/.exec(v.definition)!;
      const res = await fetch(`${promUrl}/api/v1/series?${new URLSearchParams({ 'match[]': substituteVars(m[1]!) })}`);
      const body = (await res.json()) as { status: string; data: Record<string, string>[] };
      expect(body.status, v.name).toBe('success');
      const values = new Set(body.data.map((s) => s[m[2]!]).filter(Boolean));
      expect(values.size, `variable ${v.name}: no values`).toBeGreaterThan(0);
    }
  });

  it('the dashboard variables filter: one account narrows the store count', async () => {
    const q = dashboardQueries(loadDashboard()).find((x) => x.panel === 'Custom key stores' && x.type === 'stat')!;
    const all = Number(((await query(substituteVars(q.expr))).data!.result as { value: [number, string] }[])[0]!.value[1]);
    const one = Number(((await query(substituteVars(q.expr, { account_id: '222222222222' }))).data!.result as { value: [number, string] }[])[0]!.value[1]);
    const ext = Number(((await query(substituteVars(q.expr, { custom_key_store_type: 'EXTERNAL_KEY_STORE' }))).data!.result as { value: [number, string] }[])[0]!.value[1]);
    expect(all).toBeGreaterThan(one);
    expect(one).toBeGreaterThan(0);
    expect(all).toBeGreaterThan(ext);
    expect(ext).toBeGreaterThan(0);
  });

  it('Prometheus loads the alert rules and evaluates them without errors', async () => {
    await until('every rule evaluated', 30_000, async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] } };
      const rules = body.data.groups.flatMap((g) => g.rules);
      if (rules.some((r) => r.lastEvaluation.startsWith('0001'))) return undefined;
      expect(rules.map((r) => r.name).sort()).toEqual(Object.keys(ALERTS).sort());
      expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
      return true;
    });
  });

  it('alert expressions match the demo scenario\'s problems on the real metrics', async () => {
    const rules = alertRules();
    const failing: string[] = [];
    await until('alert expressions to match', 60_000, async () => {
      failing.length = 0;
      for (const [name, why] of Object.entries(ALERT_EXPRS_TRUE_IN_DEMO)) {
        const r = await query(rules.find((x) => x.alert === name)!.expr);
        expect(r.status, `${name}: ${r.error}`).toBe('success');
        if (!hasData(r)) failing.push(`${name}: expected data (${why})`);
      }
      return failing.length === 0 ? true : undefined;
    }).catch(() => undefined);
    expect(failing, logs()).toEqual([]);
    // And the healthy self-monitoring rules stay quiet.
    for (const name of ['KeystoreWatchAbsent', 'KeystoreWatchNotPolling', 'KeystoreWatchPollOverdue', 'KeystoreWatchNotificationsFailing', 'KeystoreWatchConfigReloadFailed']) {
      const r = await query(rules.find((x) => x.alert === name)!.expr);
      expect(r.status).toBe('success');
      expect(hasData(r), `${name} matches although keystore-watch is healthy`).toBe(false);
    }
  }, 90_000);
});
