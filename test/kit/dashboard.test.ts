// The Grafana dashboard (dashboards/keystore-watch.json): generated from scripts/gen-dashboard.ts,
// importable (variables, datasource references), units on every panel, $__rate_interval in every
// rate, only contract metrics and labels, and every query accepted by Prometheus's parser.
// test/kit/prometheus-system.test.ts also runs every query against a real Prometheus.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderDashboard } from '../../scripts/gen-dashboard.js';
import {
  contractSeries, dashboardPanels, dashboardQueries, loadContract, loadDashboard, metricNames, read, run,
  selectorLabels, skipWithout, substituteVars,
} from './lib.js';

const dashboard = loadDashboard();
const panels = dashboardPanels(dashboard).filter((p) => p.type !== 'row');
const queries = dashboardQueries(dashboard);
const VARIABLES = ['account_id', 'region', 'custom_key_store_type'];

describe('dashboard', () => {
  it('is up to date with scripts/gen-dashboard.ts', () => {
    expect(read('dashboards', 'keystore-watch.json'), 'run: npx tsx scripts/gen-dashboard.ts').toBe(renderDashboard());
  });

  it('is importable classic dashboard JSON: uid, title, no numeric id, schemaVersion for Grafana 10+', () => {
    expect(dashboard.id).toBeUndefined();
    expect(dashboard.uid).toBe('keystore-watch');
    expect(dashboard.title).toMatch(/keystore-watch/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(Array.isArray(dashboard.panels)).toBe(true);
  });

  it('has a prometheus datasource variable and account_id, region, custom_key_store_type from label_values, multi with All', () => {
    const vars = dashboard.templating.list as any[];
    const ds = vars.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of VARIABLES) {
      const v = vars.find((x) => x.name === name);
      expect(v, name).toBeDefined();
      expect(v).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*', datasource: { type: 'prometheus', uid: '${datasource}' } });
      expect(v.definition).toMatch(new RegExp(`^label_values\\((.+), ${name}\\)$`));
      expect(v.query.query).toBe(v.definition);
    }
    // Variables are ordered so each can depend on the ones before it.
    expect(vars.map((v) => v.name)).toEqual(['datasource', ...VARIABLES]);
  });

  it('every panel uses the datasource variable and declares a unit', () => {
    expect(panels.length).toBeGreaterThan(20);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(typeof p.fieldConfig?.defaults?.unit, `${p.title}: no unit`).toBe('string');
      expect(p.fieldConfig.defaults.unit.length, `${p.title}: empty unit`).toBeGreaterThan(0);
      expect(p.targets?.length, `${p.title}: no query`).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(new Set(p.targets.map((t: any) => t.refId)).size, `${p.title}: duplicate refId`).toBe(p.targets.length);
      expect(p.description?.length, `${p.title}: no description`).toBeGreaterThan(10);
    }
  });

  it('panel ids are unique and the grid has no overlaps', () => {
    const all = dashboardPanels(dashboard);
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    const cells = new Set<string>();
    for (const p of all) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
        const key = `${i},${j}`;
        expect(cells.has(key), `${p.title} overlaps another panel at ${key}`).toBe(false);
        cells.add(key);
      }
    }
  });

  it('covers the panels the operator needs', () => {
    const titles = panels.map((p) => p.title);
    for (const t of [
      'Stores per state', 'Failed now', 'Stores not CONNECTED by account', 'Custom key stores', 'Key store inventory', 'Connection state per store',
      'Failed stores by error code', 'HSMs per cluster by state', 'ACTIVE HSM Availability Zones per cluster', 'Certificate days to expiry',
      'Targets up', 'Poll duration', 'AWS request failures by code', 'AWS throttling', 'Notifications', 'Outbox',
    ]) expect(titles).toContain(t);
  });

  it('uses $__rate_interval in every rate, irate and increase, and no other range', () => {
    for (const q of queries) {
      for (const m of q.expr.matchAll(/\[([^\]]*)\]/g)) expect(m[1], `${q.panel} ${q.refId}: ${q.expr}`).toBe('$__rate_interval');
      for (const m of q.expr.matchAll(/\b(rate|irate|increase|delta|idelta|deriv)\s*\(([^()]*(?:\([^()]*\))?[^()]*)\)/g)) {
        expect(m[2], `${q.panel} ${q.refId}`).toContain('[$__rate_interval]');
      }
    }
    expect(queries.some((q) => q.expr.includes('rate('))).toBe(true);
  });

  it('filters every account/region-scoped series by the variables, and store info by type', () => {
    const series = contractSeries();
    for (const q of queries) {
      for (const m of q.expr.matchAll(/([a-zA-Z_:][\w:]*)\{([^}]*)\}/g)) {
        const labels = series.get(m[1]!) ?? [];
        if (labels.includes('account_id')) expect(m[2], `${q.panel}: ${m[1]}`).toContain('account_id=~"$account_id"');
        if (labels.includes('region')) expect(m[2], `${q.panel}: ${m[1]}`).toContain('region=~"$region"');
        if (m[1] === 'kms_custom_key_store_info') expect(m[2], q.panel).toContain('custom_key_store_type=~"$custom_key_store_type"');
      }
      for (const m of q.expr.matchAll(/\b(kms_\w+|aws_\w+|keystore_watch_target_\w+|keystore_watch_cloudhsm_\w+|keystore_watch_cluster_\w+)\b(?!\{)/g)) {
        expect.fail(`${q.panel}: ${m[1]} used without the account/region filter`);
      }
    }
  });

  it('uses only metrics and labels of the metric contract', () => {
    const contract = loadContract();
    const series = contractSeries(contract);
    const used = new Set<string>();
    for (const q of queries) {
      const expr = substituteVars(q.expr);
      const names = metricNames(expr);
      expect(names.length, `${q.panel} ${q.refId}: no metric`).toBeGreaterThan(0);
      for (const n of names) {
        expect(series.has(n), `${q.panel} ${q.refId}: unknown metric ${n}`).toBe(true);
        used.add(n);
      }
      for (const { metric, label } of selectorLabels(expr)) {
        expect([...(series.get(metric) ?? []), ...contract.prometheus.targetLabels], `${q.panel}: ${metric}{${label}}`).toContain(label);
      }
    }
    for (const v of dashboard.templating.list.filter((x: any) => x.type === 'query')) {
      for (const n of metricNames(v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1'))) expect(series.has(n), `variable ${v.name}: ${n}`).toBe(true);
    }
    // Every metric of the contract is shown somewhere.
    for (const m of contract.metrics) {
      const shown = [...used].some((u) => u === m.name || u.startsWith(`${m.name}_`));
      expect(shown, `${m.name} is not on the dashboard`).toBe(true);
    }
  });

  it.skipIf(skipWithout('promtool'))('every query, with variables substituted, is valid PromQL for promtool', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-dash-'));
    const rules = queries.map((q, i) => ({ record: `dashboard:panel_${q.panelId}_${q.refId}:${i}`, expr: substituteVars(q.expr) }));
    for (const v of dashboard.templating.list.filter((x: any) => x.type === 'query')) {
      rules.push({ record: `dashboard:variable_${v.name}`, expr: substituteVars(v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1')) });
    }
    writeFileSync(join(dir, 'dashboard.rules.yml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = run('promtool', ['check', 'rules', join(dir, 'dashboard.rules.yml')]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
