// Two replicas behind one Prometheus job (docs/ha.md): both serve the same domain series from the shared
// state, so Prometheus stores every series twice, once per instance/pod. The alert rules must fire
// exactly as they do for one replica: one alert per store, cluster or problem, never one per replica,
// and no join may meet two series per match group ("found duplicate series for the match group").
//
// The proof replays every case of config/prometheus/alerts.test.yml with each input series scraped
// from two replicas, through the real promtool, and expects exactly the alerts of the one-replica case
// (promtool compares the full list of alerts of a rule at each eval_time, so a second copy of an alert
// fails the test). Counters are the exception: each process counts the work it did and only the
// leader polls and delivers, so the follower's copy of a counter stays at 0.
// The same replay against the rules with the `max without(instance, pod)` aggregation taken out must
// fail: the replay is not vacuous.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { DOMAIN_SERIES, REPLICA_DEDUP } from '../../scripts/gen-dashboard.js';
import { REPLICAS, onReplica, twoReplicas, withoutDedup, type InputSeries, type TestFile } from './replicas.js';
import { dashboardQueries, read, run, skipWithout, substituteVars, toolVersion } from './lib.js';

function replay(rulesText: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kw-rules-ha-'));
  writeFileSync(join(dir, 'alerts.yml'), rulesText);
  const tests = twoReplicas(parseYaml(read('config', 'prometheus', 'alerts.test.yml')) as TestFile);
  writeFileSync(join(dir, 'alerts.ha.test.yml'), stringify(tests, { lineWidth: 0 }));
  const r = run('promtool', ['test', 'rules', 'alerts.ha.test.yml'], { cwd: dir });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe('two replicas: the replay helpers', () => {
  it('puts each series on a replica, keeping an instance the case gave apart', () => {
    expect(onReplica('up{job="keystore-watch", instance="kw:9464"}', REPLICAS[1]!)).toBe('up{job="keystore-watch", instance="kw:9464/10.0.0.12:9464", pod="keystore-watch-7c9f-fghij"}');
    expect(onReplica('keystore_watch_poll_overdue', REPLICAS[0]!)).toBe('keystore_watch_poll_overdue{instance="10.0.0.11:9464", pod="keystore-watch-7c9f-abcde"}');
    expect(onReplica('m{a="x, instance=y", b="2"}', REPLICAS[0]!)).toBe('m{a="x, instance=y", b="2", instance="10.0.0.11:9464", pod="keystore-watch-7c9f-abcde"}');
  });

  it('doubles gauges, keeps counters on the leader only', () => {
    const t = twoReplicas({ rule_files: ['alerts.yml'], tests: [{ input_series: [{ series: 'g{a="1"}', values: '1x5' }, { series: 'c_total{a="1"}', values: '0+1x5' }] }] });
    expect(t.tests[0]!.input_series!.map((s) => s.series)).toEqual([
      'g{a="1", instance="10.0.0.11:9464", pod="keystore-watch-7c9f-abcde"}',
      'g{a="1", instance="10.0.0.12:9464", pod="keystore-watch-7c9f-fghij"}',
      'c_total{a="1", instance="10.0.0.11:9464", pod="keystore-watch-7c9f-abcde"}',
    ]);
  });

  it('takes the dedup wrapper out with its parentheses balanced', () => {
    expect(withoutDedup('max without(instance, pod) (a{x="("}) == 1 and max without(instance, pod) (rate(b[5m]))')).toBe('a{x="("} == 1 and rate(b[5m])');
  });
});

describe.skipIf(skipWithout('promtool'))('two replicas: every alert fires once, not twice (promtool)', () => {
  it('every case of alerts.test.yml, scraped from two replicas, yields exactly the one-replica alerts', () => {
    const r = replay(read('config', 'prometheus', 'alerts.yml'));
    expect(r.status, `${toolVersion('promtool')}\n${r.output}`).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('the same replay fails for rules that do not aggregate the replicas away (the test can fail)', () => {
    const naive = withoutDedup(read('config', 'prometheus', 'alerts.yml'));
    expect(naive).not.toContain('without(instance, pod)');
    const r = replay(naive);
    expect(r.status).not.toBe(0);
    // Both failure modes show: a join meeting two series per match group, and an alert per replica.
    expect(r.output).toMatch(/duplicate series|many-to-many/);
    expect(r.output).toMatch(/instance="[^"]*10\.0\.0\.12:9464"/);
  });

  it('the rules reference no per-replica label in what they page with', () => {
    for (const line of read('config', 'prometheus', 'alerts.yml').split('\n')) {
      if (/summary:|description:|\$labels\.(instance|pod)/.test(line)) expect(line, 'an alert text naming one replica').not.toMatch(/\$labels\.(instance|pod)/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The dashboard: every query the generator emits reads domain series through the dedup wrapper, and
// a few queries that count or join are evaluated by promtool over two replicas' series: the count is
// the fleet's, not twice it, and the join answers instead of failing on duplicate series.

const STORE = (id: string, name: string) => `account_id="111111111111", region="eu-west-1", custom_key_store_id="${id}"`;
const INFO = (id: string, name: string) => `kms_custom_key_store_info{${STORE(id, name)}, account_name="payments", custom_key_store_name="${name}", custom_key_store_type="EXTERNAL_KEY_STORE", cloudhsm_cluster_id="", xks_connectivity="PUBLIC_ENDPOINT"}`;
/** Two stores, one FAILED and one CONNECTED, as one replica exports them (job label as a scrape adds it). */
const FLEET: InputSeries[] = [
  { series: INFO('cks-a000000000000001', 'xks-failed'), values: '1x10' },
  { series: INFO('cks-a000000000000002', 'xks-ok'), values: '1x10' },
  ...['CONNECTED', 'CONNECTING', 'FAILED', 'DISCONNECTED', 'DISCONNECTING'].flatMap((s) => [
    { series: `kms_custom_key_store_connection_state{${STORE('cks-a000000000000001', '')}, state="${s}"}`, values: s === 'FAILED' ? '1x10' : '0x10' },
    { series: `kms_custom_key_store_connection_state{${STORE('cks-a000000000000002', '')}, state="${s}"}`, values: s === 'CONNECTED' ? '1x10' : '0x10' },
  ]),
  { series: 'keystore_watch_targets{status="ok"}', values: '4x10' },
  { series: 'keystore_watch_targets{status="failed"}', values: '1x10' },
].map((s) => ({ ...s, series: s.series.replace('{', '{job="keystore-watch", ') }));

function dashboardQuery(title: string, dedup: boolean): string {
  const q = dashboardQueries().find((x) => x.panel === title && x.refId === 'A');
  if (!q) throw new Error(`no dashboard panel ${title}`);
  const expr = substituteVars(q.expr);
  return dedup ? expr : withoutDedup(expr);
}

function evalDashboard(dedup: boolean): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kw-dash-ha-'));
  writeFileSync(join(dir, 'empty.rules.yml'), 'groups: []\n');
  const tests = {
    rule_files: ['empty.rules.yml'],
    evaluation_interval: '1m',
    tests: [{
      interval: '1m',
      input_series: twoReplicas({ rule_files: [], tests: [{ input_series: FLEET }] }).tests[0]!.input_series,
      promql_expr_test: [
        { expr: dashboardQuery('Failed now', dedup), eval_time: '5m', exp_samples: [{ labels: '{}', value: 1 }] },
        { expr: dashboardQuery('Custom key stores', dedup), eval_time: '5m', exp_samples: [{ labels: '{}', value: 2 }] },
        {
          expr: dashboardQuery('Stores per state', dedup), eval_time: '5m',
          exp_samples: [{ labels: '{state="CONNECTED"}', value: 1 }, { labels: '{state="CONNECTING"}', value: 0 }, { labels: '{state="DISCONNECTED"}', value: 0 }, { labels: '{state="DISCONNECTING"}', value: 0 }, { labels: '{state="FAILED"}', value: 1 }],
        },
        // A sum over a gauge every replica exports from the shared snapshot: the fleet's 4 ok targets, not 8.
        { expr: dashboardQuery('Targets by status', dedup), eval_time: '5m', exp_samples: [{ labels: '{status="failed"}', value: 1 }, { labels: '{status="ok"}', value: 4 }] },
        {
          // A group_left join (store names from the info series): one line per store.
          expr: dashboardQuery('Connection state per store', dedup), eval_time: '5m',
          exp_samples: [
            { labels: `{job="keystore-watch", ${STORE('cks-a000000000000001', '')}, account_name="payments", custom_key_store_name="xks-failed"}`, value: 3 },
            { labels: `{job="keystore-watch", ${STORE('cks-a000000000000002', '')}, account_name="payments", custom_key_store_name="xks-ok"}`, value: 1 },
          ],
        },
      ],
    }],
  };
  writeFileSync(join(dir, 'dashboard.ha.test.yml'), stringify(tests, { lineWidth: 0 }));
  const r = run('promtool', ['test', 'rules', 'dashboard.ha.test.yml'], { cwd: dir });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe('two replicas: the dashboard counts every store once', () => {
  it('no query reads a domain series without the dedup wrapper', () => {
    const bare: string[] = [];
    for (const q of dashboardQueries()) {
      for (const m of q.expr.matchAll(DOMAIN_SERIES)) {
        if (!q.expr.slice(0, m.index).endsWith(`${REPLICA_DEDUP} (`)) bare.push(`${q.panel}/${q.refId}: ${m[0]}`);
      }
    }
    expect(bare).toEqual([]);
    expect(dashboardQueries().filter((q) => q.expr.includes(REPLICA_DEDUP)).length).toBeGreaterThan(20);
  });

  it.skipIf(skipWithout('promtool'))('counts and joins over two replicas answer as for one (promtool)', () => {
    const r = evalDashboard(true);
    expect(r.status, r.output).toBe(0);
  });

  it.skipIf(skipWithout('promtool'))('the same queries without the wrapper count twice or fail the join (the test can fail)', () => {
    const r = evalDashboard(false);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/duplicate series|many-to-many/);
    expect(r.output).toContain('got: {status="failed"} 2E+00, {status="ok"} 8E+00');
  });
});
