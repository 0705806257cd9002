// The Grafana dashboard (dashboards/keystore-watch.json): generated from scripts/gen-dashboard.ts (the
// Grafana Foundation SDK's typed builders), the JSON itself type-checked against the SDK's types by tsc,
// importable (variables, datasource references), units on every panel, $__rate_interval in every
// rate, only contract metrics and labels, every store linked to the status page, and every query
// accepted by Prometheus's parser.
// test/kit/prometheus-system.test.ts also runs every query against a real Prometheus.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { STATUS_URL_VARIABLE, VARIABLES, renderDashboard } from '../../scripts/gen-dashboard.js';
import {
  contractSeries, dashboardPanels, dashboardQueries, loadContract, loadDashboard, metricNames, path, read, run,
  selectorLabels, skipWithout, substituteVars,
} from './lib.js';

mkdirSync(path('.tmp'), { recursive: true });
const dashboard = loadDashboard();
const panels = dashboardPanels(dashboard).filter((p) => p.type !== 'row');
const queries = dashboardQueries(dashboard);

describe('dashboard', () => {
  it('is up to date with scripts/gen-dashboard.ts', () => {
    expect(read('dashboards', 'keystore-watch.json'), 'run: npx tsx scripts/gen-dashboard.ts').toBe(renderDashboard());
  });

  it('the committed JSON type-checks against the Foundation SDK\'s Dashboard type (tsc), and a wrong option would not', () => {
    const json = read('dashboards', 'keystore-watch.json');
    // A copy with two mistakes tsc must catch: an unknown panel property and a colour mode Grafana does not have.
    const bad = JSON.parse(json);
    bad.panels[1].tittle = 'typo';
    bad.panels[2].fieldConfig.defaults.color.mode = 'rainbow';
    const dir = mkdtempSync(join(path('.tmp'), 'dash-types-'));
    try {
      // The JSON without the builders: the SDK's types minus their marker methods, string enums as
      // their values; targets checked as Prometheus queries.
      const header = `import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dataquery } from '@grafana/grafana-foundation-sdk/prometheus';
type Fn = (...args: never[]) => unknown;
type PromQuery = Omit<Dataquery, '_implementsDataqueryVariant'>;
type Data<T> = 0 extends (1 & T) ? any
  : T extends Fn ? never
  : T extends cog.Dataquery ? Data<PromQuery>
  : T extends string ? \`\${T}\`
  : T extends readonly (infer U)[] ? Data<U>[]
  : T extends object ? { [K in keyof T as T[K] extends Fn ? never : K]: Data<T[K]> }
  : T;
`;
      writeFileSync(join(dir, 'good.ts'), `${header}export const dashboard: Data<Dashboard> = ${json.trim()};\n`);
      writeFileSync(join(dir, 'bad.ts'), `${header}export const dashboard: Data<Dashboard> = ${JSON.stringify(bad, null, 2)};\n`);
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', skipLibCheck: true, types: [] },
        files: ['good.ts', 'bad.ts'],
      }));
      const r = run(process.execPath, [path('node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')]);
      const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
      const inFile = (name: string) => errors.filter((l) => l.includes(`${name}(`));
      expect(errors.length, r.stdout + r.stderr).toBe(inFile('good.ts').length + inFile('bad.ts').length);
      expect(inFile('good.ts'), 'dashboards/keystore-watch.json against the SDK types').toEqual([]);
      expect(inFile('bad.ts').some((l) => l.includes('tittle')), r.stdout).toBe(true);
      expect(inFile('bad.ts').some((l) => l.includes('rainbow')), r.stdout).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('is importable classic dashboard JSON: uid, title, no numeric id, schemaVersion for Grafana 10+', () => {
    expect(dashboard.id).toBeUndefined();
    expect(dashboard.uid).toBe('keystore-watch');
    expect(dashboard.title).toMatch(/keystore-watch/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(Array.isArray(dashboard.panels)).toBe(true);
  });

  it('has a prometheus datasource variable, account name/OU/owner/id, region and store type from label_values, multi with All', () => {
    const vars = dashboard.templating.list as any[];
    const ds = vars.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(VARIABLES).toEqual(expect.arrayContaining(['account_name', 'ou_path', 'tag_owner', 'account_id', 'region', 'custom_key_store_type']));
    for (const name of VARIABLES) {
      const v = vars.find((x) => x.name === name);
      expect(v, name).toBeDefined();
      expect(v).toMatchObject({ type: 'query', multi: true, includeAll: true, datasource: { type: 'prometheus', uid: '${datasource}' } });
      // account_id: "All" must mean the accounts the name/OU/owner selection left, not every account.
      if (name === 'account_id') expect(v.allValue, 'account_id must not have allValue .*').toBeUndefined();
      else expect(v.allValue, name).toBe('.*');
      expect(v.definition).toMatch(new RegExp(`^label_values\\((.+), ${name}\\)$`));
      expect(v.query.query).toBe(v.definition);
    }
    // The account id list is narrowed by the account name, OU path and owner tag.
    const accountId = vars.find((x) => x.name === 'account_id');
    for (const dep of ['account_name', 'ou_path', 'tag_owner']) expect(accountId.definition).toContain(`${dep}=~"$${dep}"`);
    // Variables are ordered so each can depend on the ones before it.
    expect(vars.map((v) => v.name)).toEqual(['datasource', ...VARIABLES, STATUS_URL_VARIABLE]);
    for (const [i, v] of vars.entries()) {
      for (const m of String(v.definition ?? '').matchAll(/\$(\w+)/g)) {
        expect(vars.findIndex((x) => x.name === m[1]), `${v.name} uses $${m[1]} defined after it`).toBeLessThan(i);
      }
    }
  });

  it('links every store to its status page: <status_url>/stores/<account_id>/<region>/<custom_key_store_id>', () => {
    const vars = dashboard.templating.list as any[];
    const base = vars.find((v) => v.name === STATUS_URL_VARIABLE);
    expect(base, 'a status_url variable').toMatchObject({ type: 'textbox' });
    expect(base.query).toMatch(/^https?:\/\/[^/]+$/);
    const linkUrls = (p: any): string[] => (p.fieldConfig?.defaults?.links ?? []).map((l: any) => l.url as string);
    const path = (ref: string) => ['account_id', 'region', 'custom_key_store_id'].map((l) => `\${${ref}.${l}:percentencode}`).join('/');
    // The inventory table: every row (every store) links by its account, region and store id columns,
    // which the table's first query (the info series) carries.
    const inventory = panels.find((p) => p.title === 'Key store inventory');
    expect(linkUrls(inventory)).toEqual([`\${status_url:raw}/stores/${path('__data.fields')}`]);
    expect(inventory.targets[0].expr).toContain('kms_custom_key_store_info');
    // Per-store series panels link by the series' labels.
    for (const title of ['Connection state per store', 'Time in current state (stores not CONNECTED)']) {
      expect(linkUrls(panels.find((p) => p.title === title)), title).toEqual([`\${status_url:raw}/stores/${path('__field.labels')}`]);
    }
    // Interpolated as Grafana does (values percent-encoded), it is the path the status page serves
    // (src/server/status/links.ts storePath), under a base URL with a path prefix too.
    const store = { account_id: '222222222222', region: 'eu-west-1', custom_key_store_id: 'cks-1234567890abcdef0' };
    const url = linkUrls(inventory)[0]!
      .replace('${status_url:raw}', 'https://ops.example.com/keystore-watch')
      .replace(/\$\{__data\.fields\.(\w+):percentencode\}/g, (_, l: keyof typeof store) => encodeURIComponent(store[l]));
    expect(new URL(url).pathname).toBe('/keystore-watch/stores/222222222222/eu-west-1/cks-1234567890abcdef0');
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
