// Generates dashboards/keystore-watch.json, the Grafana dashboard for keystore-watch, with Grafana's
// Foundation SDK (@grafana/grafana-foundation-sdk): typed builders for the dashboard, its variables, its
// panels and their Prometheus queries, so a misspelt option or a wrong enum value fails `npm run typecheck`.
//
//   npx tsx scripts/gen-dashboard.ts          # write the file
//   npx tsx scripts/gen-dashboard.ts --check  # exit 1 when the file is out of date
//
// Edit the panels here, not in the JSON: test/kit/dashboard.test.ts fails when the two disagree, checks
// the JSON against the SDK's types (tsc), units, $__rate_interval and metric names, and
// test/kit/prometheus-system.test.ts runs every query against a real Prometheus scraping the demo.
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat_ from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries_ from '@grafana/grafana-foundation-sdk/timeseries';
import * as bargauge_ from '@grafana/grafana-foundation-sdk/bargauge';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table_ from '@grafana/grafana-foundation-sdk/table';
import { writeOrCheck } from './generated-file.js';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const DASHBOARD_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboards', 'keystore-watch.json');

const DS: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/**
 * Two replicas (docs/ha.md) serve the same domain series, so Prometheus holds each twice, once per
 * instance/pod. Every domain series (the stores, clusters and targets keystore-watch reports, and the
 * daemon's gauges read from the shared state) is read through `max without(instance, pod) (...)`:
 * panels show one line per store, sums count a store once, and the `group_left` joins never meet two
 * series per match group. Applied to every query when the dashboard is built, so panels added later
 * get it too; counters of work done (rates) are summed as they are, since each process counts only
 * what it did itself. test/kit/dashboard.test.ts checks that no domain series is read bare.
 */
export const REPLICA_DEDUP = 'max without(instance, pod)';
export const DOMAIN_SERIES = /(?<![\w:])((?:kms_custom_key_store_\w+|aws_cloudhsm_\w+|keystore_watch_(?:cluster_missing|probe_denied|target_up|target_consecutive_failures|target_poll_duration_seconds|cloudhsm_enrichment_up|targets|account_info|accounts|outbox_pending|alerts_firing|self_alert|poll_overdue|last_poll_timestamp_seconds|organizations_age_seconds))(?![\w:])(?:\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?)(?!\s*\[)/g;
export const dedupReplicas = (expr: string): string => expr.replace(DOMAIN_SERIES, (sel) => `${REPLICA_DEDUP} (${sel})`);

/**
 * The status page's store page, served by keystore-watch at <base>/stores/<account_id>/<region>/<custom_key_store_id>
 * (src/server/status/links.ts storePath). The base URL is the `status_url` dashboard variable (a text box:
 * http.externalUrl without its trailing slash; set its default when importing, or pass
 * ?var-status_url=... in the dashboard URL). Data links percent-encode variables by default (Grafana
 * #26861), so the base URL is inserted :raw and each path segment :percentencode.
 */
export const STATUS_URL_VARIABLE = 'status_url';
export const STATUS_URL_DEFAULT = 'http://localhost:9464';
export const STORE_PATH_LABELS = ['account_id', 'region', 'custom_key_store_id'] as const;
/** The store page URL, each path segment read by `ref(label)` (a Grafana data-link variable). */
export const storePageUrl = (ref: (label: string) => string): string =>
  `\${${STATUS_URL_VARIABLE}:raw}/stores/${STORE_PATH_LABELS.map((l) => `\${${ref(l)}:percentencode}`).join('/')}`;

/** Label matchers every account/region-scoped series gets. */
const AR = 'account_id=~"$account_id", region=~"$region"';
/** The info series filtered by all three variables; joined to scope store series by type. */
const INFO = `kms_custom_key_store_info{${AR}, custom_key_store_type=~"$custom_key_store_type"}`;
const STORE_KEY = 'account_id, region, custom_key_store_id';
/** Keep only stores that match the type variable (state-set series have no type label). */
const byType = (expr: string): string => `(${expr}) and on(${STORE_KEY}) ${INFO}`;
/** Attach store names (and filter by type) through the info series. */
const withNames = (expr: string, labels = 'account_name, custom_key_store_name'): string =>
  `(${expr}) * on(${STORE_KEY}) group_left(${labels}) ${INFO}`;
const state = (s?: string): string => `kms_custom_key_store_connection_state{${AR}${s ? `, state="${s}"` : ''}}`;

const STATE_COLORS: Record<string, string> = {
  CONNECTED: 'green',
  CONNECTING: 'blue',
  FAILED: 'red',
  DISCONNECTED: 'orange',
  DISCONNECTING: 'yellow',
};
const STATES = Object.keys(STATE_COLORS);

// ---- typed building blocks ------------------------------------------------------------------------

interface Target {
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  format?: 'time_series' | 'table';
}

type Override = { matcher: dashboard.MatcherConfig; properties: dashboard.DynamicConfigValue[] };
type Thresholds = dashboard.ThresholdsConfigBuilder;

const steps = (...s: [number | null, string][]): Thresholds =>
  new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(s.map(([value, color]) => ({ value, color })));
const GREEN = (): Thresholds => steps([null, 'green']);
const fixedColor = (color: string): dashboard.FieldColorBuilder =>
  new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Fixed).fixedColor(color);
const byName = (name: string, ...properties: dashboard.DynamicConfigValue[]): Override => ({ matcher: { id: 'byName', options: name }, properties });
const cellOptions = (type: common.TableCellDisplayMode.ColorBackground | common.TableCellDisplayMode.ColorText): dashboard.DynamicConfigValue =>
  ({ id: 'custom.cellOptions', value: { type } satisfies common.TableCellOptions });
const stateColorOverrides = (): Override[] => STATES.map((s) => byName(s, { id: 'color', value: fixedColor(STATE_COLORS[s]!).build() }));

const valueMappings = (options: Record<string, dashboard.ValueMappingResult>): dashboard.ValueMapping[] =>
  [{ type: dashboard.MappingType.ValueToText, options }];
const stateMappings = (): dashboard.ValueMapping[] =>
  valueMappings(Object.fromEntries(STATES.map((s, i) => [String(i + 1), { text: s, color: STATE_COLORS[s], index: i }])));
const textStateMappings = (colors: Record<string, string>): dashboard.ValueMapping[] =>
  valueMappings(Object.fromEntries(Object.entries(colors).map(([s, color], index) => [s, { text: s, color, index }])));
const upMappings = (up = 'up', down = 'down'): dashboard.ValueMapping[] =>
  valueMappings({ '1': { text: up, color: 'green', index: 0 }, '0': { text: down, color: 'red', index: 1 } });

/** A data link to the status page of the store whose account, region and id `ref` reads. */
const storeLink = (ref: (label: string) => string): dashboard.DashboardLinkBuilder =>
  new dashboard.DashboardLinkBuilder('Status page of this store')
    .type(dashboard.DashboardLinkType.Link)
    .url(storePageUrl(ref))
    .targetBlank(true);
/** A table row's store: its columns. */
const TABLE_ROW = (label: string): string => `__data.fields.${label}`;
/** A series' store: its labels (panels whose series keep account_id, region and custom_key_store_id). */
const SERIES_STORE = (label: string): string => `__field.labels.${label}`;

/** The connection state as one number per store (1..5 = CONNECTED..DISCONNECTING), for a state timeline. */
const stateCode = (): string =>
  STATES.map((s, i) => `${i === 0 ? '' : `${i + 1} * `}${state(s)}`).join('\n  + ignoring(state) ');

const REF_IDS = 'ABCDEFGHIJ';
function queries(targets: Target[], instant = false): prometheus.DataqueryBuilder[] {
  return targets.map((t, i) => {
    const q = new prometheus.DataqueryBuilder()
      .datasource(DS)
      .refId(REF_IDS[i]!)
      .editorMode(prometheus.QueryEditorMode.Code)
      .expr(dedupReplicas(t.expr))
      .legendFormat(t.legendFormat ?? '__auto')
      .format(t.format === 'table' ? prometheus.PromQueryFormat.Table : prometheus.PromQueryFormat.TimeSeries);
    return t.instant || instant ? q.instant() : q.range();
  });
}

/** What every panel builder of the SDK offers (and the layout needs). */
interface PanelBuilder extends cog.Builder<dashboard.Panel> {
  id(id: number): this;
  gridPos(gridPos: dashboard.GridPos): this;
}
/** A panel with its size; the dashboard lays the panels out in rows of 24 columns. */
interface Sized { panel: PanelBuilder; w: number; h: number }

interface Extra {
  h?: number;
  min?: number;
  max?: number;
  decimals?: number;
  thresholds?: Thresholds;
  color?: dashboard.FieldColorBuilder;
  overrides?: Override[];
  /** Time series only: bars instead of lines, fill opacity, stacked, threshold lines. */
  style?: { bars?: boolean; fill?: number; stack?: boolean; thresholdsLine?: boolean };
  links?: dashboard.DashboardLinkBuilder[];
}

/** The field options every panel type shares (the SDK's builders each declare them). */
function fieldDefaults<B extends stat_.PanelBuilder | timeseries_.PanelBuilder | bargauge_.PanelBuilder | statetimeline.PanelBuilder | table_.PanelBuilder>(
  b: B, title: string, description: string, unit: string, thresholds: Thresholds, extra: Extra,
): B {
  b.title(title).description(description).datasource(DS).unit(unit).thresholds(thresholds);
  if (extra.min !== undefined) b.min(extra.min);
  if (extra.max !== undefined) b.max(extra.max);
  if (extra.decimals !== undefined) b.decimals(extra.decimals);
  if (extra.links) b.dataLinks(extra.links);
  b.overrides(extra.overrides ?? []);
  return b;
}

const reduceLast = () => new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('').values(false);

function stat(title: string, description: string, expr: string, unit: string, thresholds: Thresholds, w = 4, extra: Extra = {}): Sized {
  const b = fieldDefaults(new stat_.PanelBuilder(), title, description, unit, extra.thresholds ?? thresholds, extra)
    .withTarget(queries([{ expr }], true)[0]!)
    .colorScheme(extra.color ?? new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .justifyMode(common.BigValueJustifyMode.Auto)
    .textMode(common.BigValueTextMode.Value)
    .reduceOptions(reduceLast());
  return { panel: b, w, h: extra.h ?? 4 };
}

function timeseries(title: string, description: string, targets: Target[], unit: string, w = 12, extra: Extra = {}): Sized {
  const style = extra.style ?? {};
  const b = fieldDefaults(new timeseries_.PanelBuilder(), title, description, unit, extra.thresholds ?? GREEN(), extra)
    .targets(queries(targets))
    .colorScheme(extra.color ?? new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.PaletteClassic))
    .drawStyle(style.bars ? common.GraphDrawStyle.Bars : common.GraphDrawStyle.Line)
    .lineWidth(1)
    .fillOpacity(style.fill ?? 10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .stacking(new common.StackingConfigBuilder().mode(style.stack ? common.StackingMode.Normal : common.StackingMode.None).group('A'))
    .legend(new common.VizLegendOptionsBuilder().displayMode(common.LegendDisplayMode.Table).placement(common.LegendPlacement.Bottom).showLegend(true).calcs(['lastNotNull', 'max']))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
  if (style.thresholdsLine) b.thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Line));
  return { panel: b, w, h: extra.h ?? 8 };
}

function timeline(title: string, description: string, targets: Target[], mappings: dashboard.ValueMapping[], w = 24, h = 10, extra: Extra = {}): Sized {
  const b = fieldDefaults(new statetimeline.PanelBuilder(), title, description, 'none', GREEN(), extra)
    .targets(queries(targets))
    .mappings(mappings)
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .fillOpacity(80)
    .lineWidth(0)
    .showValue(common.VisibilityMode.Auto)
    .mergeValues(true)
    .alignValue(common.TimelineValueAlignment.Left)
    .rowHeight(0.9)
    .legend(new common.VizLegendOptionsBuilder().displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).showLegend(true))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Single).sort(common.SortOrder.None));
  return { panel: b, w, h };
}

function bargauge(title: string, description: string, targets: Target[], unit: string, thresholds: Thresholds, w = 8, h = 8, extra: Extra = {}): Sized {
  const b = fieldDefaults(new bargauge_.PanelBuilder(), title, description, unit, thresholds, extra)
    .targets(queries(targets, true))
    .colorScheme(extra.color ?? new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Basic)
    .showUnfilled(true)
    .valueMode(common.BarGaugeValueMode.Color)
    .namePlacement(common.BarGaugeNamePlacement.Auto)
    .reduceOptions(reduceLast());
  return { panel: b, w, h };
}

interface TableSpec {
  title: string;
  description: string;
  w: number;
  h: number;
  targets: Target[];
  transformations?: dashboard.DataTransformerConfig[];
  overrides?: Override[];
  /** Column to sort by (ascending). */
  sortBy?: string;
  links?: dashboard.DashboardLinkBuilder[];
}

function table(t: TableSpec): Sized {
  const b = fieldDefaults(new table_.PanelBuilder(), t.title, t.description, 'none', GREEN(), { overrides: t.overrides, links: t.links })
    .targets(queries(t.targets, true))
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .showHeader(true)
    .cellHeight(common.TableCellHeight.Sm)
    .footer(new common.TableFooterOptionsBuilder().show(false).reducer(['sum']).fields([]));
  if (t.sortBy) b.sortBy([new common.TableSortByFieldStateBuilder().displayName(t.sortBy).desc(false)]);
  if (t.transformations) b.transformations(t.transformations);
  return { panel: b, w: t.w, h: t.h };
}

interface Row { title: string; panels: Sized[] }

const rows: Row[] = [
  {
    title: 'Fleet summary',
    panels: [
      stat('Custom key stores', 'Custom key stores keystore-watch sees, across the selected accounts, regions and types.',
        `count(max by(${STORE_KEY}) (${INFO})) or vector(0)`, 'none', GREEN()),
      stat('Connected', 'Stores in state CONNECTED.',
        `sum(max by(${STORE_KEY}) (${byType(state('CONNECTED'))})) or vector(0)`, 'none', GREEN()),
      stat('Failed now', 'Stores in state FAILED: every KMS key in them is unusable. See the "Key stores" table for the error code.',
        `sum(max by(${STORE_KEY}) (${byType(state('FAILED'))})) or vector(0)`, 'none', steps([null, 'green'], [1, 'red'])),
      stat('Not connected', 'Stores in any state other than CONNECTED (CONNECTING, FAILED, DISCONNECTED, DISCONNECTING).',
        `count(max by(${STORE_KEY}) (${byType(`${state('CONNECTED')} == 0`)})) or vector(0)`, 'none', steps([null, 'green'], [1, 'orange'])),
      stat('Targets down', 'Account x region targets whose last DescribeCustomKeyStores walk failed. Their stores keep their last known state, marked stale.',
        `count(keystore_watch_target_up{${AR}} == 0) or vector(0)`, 'none', steps([null, 'green'], [1, 'red'])),
      stat('Stale stores', 'Stores carried over from an earlier poll because their target failed: their state may be out of date.',
        `sum(max by(${STORE_KEY}) (${byType(`kms_custom_key_store_stale{${AR}}`)})) or vector(0)`, 'none', steps([null, 'green'], [1, 'orange'])),
      bargauge('Stores per state', 'Number of stores in each connection state.',
        [{ expr: `sum by(state) (max by(${STORE_KEY}, state) (${byType(state())}))`, legendFormat: '{{state}}' }], 'none', GREEN(), 8, 8, {
          overrides: stateColorOverrides(),
          color: fixedColor('blue'),
        }),
      bargauge('Stores not CONNECTED by account', 'Per account: how many of its stores are not CONNECTED.',
        [{ expr: `sum by(account_name, account_id) (max by(${STORE_KEY}, account_name) (${withNames(`1 - ${state('CONNECTED')}`, 'account_name')}))`, legendFormat: '{{account_name}} ({{account_id}})' }],
        'none', steps([null, 'green'], [1, 'orange']), 8),
      timeseries('Stores per state over time', 'Number of stores in each connection state.',
        [{ expr: `sum by(state) (max by(${STORE_KEY}, state) (${byType(state())}))`, legendFormat: '{{state}}' }], 'none', 8, {
          style: { fill: 60, stack: true },
          overrides: stateColorOverrides(),
        }),
    ],
  },
  {
    title: 'Key stores',
    panels: [
      table({
        title: 'Key store inventory',
        description: 'Every custom key store with its connection state, error code (only while FAILED), type, account, region, the time since the current state was first observed, and whether the row is stale (its target failed).',
        w: 24, h: 10,
        targets: [
          { expr: INFO, instant: true, format: 'table' },
          { expr: byType(`${state()} == 1`), instant: true, format: 'table' },
          { expr: byType(`time() - kms_custom_key_store_state_since_timestamp_seconds{${AR}}`), instant: true, format: 'table' },
          { expr: byType(`kms_custom_key_store_connection_error{${AR}}`), instant: true, format: 'table' },
          { expr: byType(`kms_custom_key_store_stale{${AR}}`), instant: true, format: 'table' },
          { expr: byType(`kms_custom_key_store_creation_timestamp_seconds{${AR}} * 1000`), instant: true, format: 'table' },
        ],
        transformations: [
          { id: 'merge', options: {} },
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true, 'Value #A': true, 'Value #B': true, 'Value #D': true, __name__: true, job: true, instance: true },
              indexByName: {
                account_name: 0, account_id: 1, region: 2, custom_key_store_name: 3, custom_key_store_id: 4, custom_key_store_type: 5,
                state: 6, code: 7, 'Value #C': 8, cloudhsm_cluster_id: 9, xks_connectivity: 10, 'Value #E': 11, 'Value #F': 12,
              },
              renameByName: {
                account_name: 'Account', account_id: 'Account id', region: 'Region', custom_key_store_name: 'Store', custom_key_store_id: 'Store id',
                custom_key_store_type: 'Type', state: 'State', code: 'Error code', 'Value #C': 'Time in state', cloudhsm_cluster_id: 'CloudHSM cluster',
                xks_connectivity: 'XKS connectivity', 'Value #E': 'Stale', 'Value #F': 'Created',
              },
            },
          },
        ],
        overrides: [
          byName('Time in state', { id: 'unit', value: 's' }, { id: 'decimals', value: 0 }),
          byName('Created', { id: 'unit', value: 'dateTimeAsIso' }),
          byName('State', { id: 'mappings', value: textStateMappings(STATE_COLORS) }, cellOptions(common.TableCellDisplayMode.ColorBackground)),
          byName('Error code', { id: 'color', value: fixedColor('red').build() }, cellOptions(common.TableCellDisplayMode.ColorText)),
          byName('Stale', { id: 'mappings', value: valueMappings({ '0': { text: 'no', index: 0 }, '1': { text: 'stale', color: 'orange', index: 1 } }) }, cellOptions(common.TableCellDisplayMode.ColorText)),
        ],
        sortBy: 'State',
        // Every row opens the store's page of the status page (the base URL is the status_url variable).
        links: [storeLink(TABLE_ROW)],
      }),
      timeline('Connection state per store', 'Connection state over time, one row per store (CONNECTED green, CONNECTING blue, FAILED red, DISCONNECTED orange, DISCONNECTING yellow).',
        [{ expr: withNames(stateCode(), 'account_name, custom_key_store_name'), legendFormat: '{{account_name}} / {{region}} / {{custom_key_store_name}}' }],
        stateMappings(), 24, 10, { links: [storeLink(SERIES_STORE)] }),
      timeseries('Failed stores by error code', 'FAILED stores per ConnectionErrorCode. The runbook for KmsCustomKeyStoreFailed has the fix for each code.',
        [{ expr: `sum by(code) (max by(${STORE_KEY}, code) (${byType(`kms_custom_key_store_connection_error{${AR}}`)}))`, legendFormat: '{{code}}' }], 'none', 12, {
          style: { bars: true, fill: 80, stack: true },
        }),
      bargauge('Time in current state (stores not CONNECTED)', 'How long each store that is not CONNECTED has been in its current state. CloudHSM stores normally connect within 20 minutes, external stores within 5.',
        [{ expr: withNames(`(time() - kms_custom_key_store_state_since_timestamp_seconds{${AR}}) and on(${STORE_KEY}) (${state('CONNECTED')} == 0)`), legendFormat: '{{account_name}} / {{region}} / {{custom_key_store_name}}' }],
        's', steps([null, 'orange'], [1200, 'red']), 12, 8, { links: [storeLink(SERIES_STORE)] }),
    ],
  },
  {
    title: 'CloudHSM clusters and certificates',
    panels: [
      timeseries('HSMs per cluster by state', 'HSMs in each cluster that backs a CloudHSM key store, per HSM state. A CONNECTED store needs at least one ACTIVE HSM; creating keys needs two in different AZs.',
        [{ expr: `aws_cloudhsm_cluster_hsms{${AR}} > 0`, legendFormat: '{{cloudhsm_cluster_id}} {{state}}' }], 'none', 12, {
          style: { fill: 40, stack: true },
          decimals: 0,
        }),
      bargauge('ACTIVE HSM Availability Zones per cluster', 'Availability Zones with at least one ACTIVE HSM. Below 2, KMS cannot create keys in the store.',
        [{ expr: `aws_cloudhsm_cluster_active_hsm_availability_zones{${AR}}`, legendFormat: '{{cloudhsm_cluster_id}} ({{account_id}} {{region}})' }],
        'none', steps([null, 'red'], [1, 'orange'], [2, 'green']), 6, 8, { min: 0, max: 3, decimals: 0 }),
      table({
        title: 'Cluster state', w: 6, h: 8,
        description: 'Current state of each CloudHSM cluster behind a key store. Anything but ACTIVE needs attention; NOT FOUND means DescribeClusters did not return a cluster a store references.',
        targets: [
          { expr: `aws_cloudhsm_cluster_state{${AR}} == 1`, instant: true, format: 'table' },
          { expr: `label_replace(keystore_watch_cluster_missing{${AR}} == 1, "state", "NOT_FOUND", "", "")`, instant: true, format: 'table' },
        ],
        transformations: [
          { id: 'merge', options: {} },
          { id: 'organize', options: { excludeByName: { Time: true, 'Value #A': true, 'Value #B': true, Value: true, __name__: true, job: true, instance: true }, indexByName: { cloudhsm_cluster_id: 0, state: 1, account_id: 2, region: 3 }, renameByName: { cloudhsm_cluster_id: 'Cluster', state: 'State', account_id: 'Account id', region: 'Region' } } },
        ],
        overrides: [
          byName('State', { id: 'mappings', value: textStateMappings({ ACTIVE: 'green', DEGRADED: 'red', NOT_FOUND: 'red', DELETED: 'red', DELETE_IN_PROGRESS: 'red', UPDATE_IN_PROGRESS: 'orange', MODIFY_IN_PROGRESS: 'orange', ROLLBACK_IN_PROGRESS: 'orange', CREATE_IN_PROGRESS: 'blue', UNINITIALIZED: 'blue', INITIALIZE_IN_PROGRESS: 'blue', INITIALIZED: 'blue' }) }, cellOptions(common.TableCellDisplayMode.ColorBackground)),
        ],
      }),
      bargauge('Certificate days to expiry', 'Days until the trust anchor certificate of each CloudHSM key store and each cluster certificate expire (negative: expired). Alerts below 30 days.',
        [
          { expr: withNames(`(kms_custom_key_store_trust_anchor_not_after_timestamp_seconds{${AR}} - time()) / 86400`, 'custom_key_store_name'), legendFormat: 'trust anchor {{custom_key_store_name}} ({{custom_key_store_id}})' },
          { expr: `(aws_cloudhsm_cluster_certificate_not_after_timestamp_seconds{${AR}} - time()) / 86400`, legendFormat: 'cluster {{cloudhsm_cluster_id}}' },
        ],
        'd', steps([null, 'red'], [7, 'orange'], [30, 'green']), 12, 8, { decimals: 0 }),
      timeline('Probe result per store', 'Opt-in probe (probe.enabled): GenerateRandom through each CONNECTED CloudHSM key store. Failing while CONNECTED means the keys do not work.',
        [{ expr: withNames(`kms_custom_key_store_probe_success{${AR}}`), legendFormat: '{{account_name}} / {{region}} / {{custom_key_store_name}}' }],
        upMappings('ok', 'failing'), 12, 8),
      timeseries('Probe latency', 'Duration of the last GenerateRandom probe per store.',
        [{ expr: withNames(`kms_custom_key_store_probe_duration_seconds{${AR}}`), legendFormat: '{{account_name}} / {{region}} / {{custom_key_store_name}}' }], 's', 12),
      timeseries('Probe denied and throttled', 'Stores whose GenerateRandom probe was denied (AccessDenied: grant kms:GenerateRandom), and throttled probes per second (retried at the next interval, never a failure).',
        [
          { expr: `keystore_watch_probe_denied{${AR}}`, legendFormat: 'denied {{account_id}} {{region}}' },
          { expr: `rate(keystore_watch_probe_throttled_total{${AR}}[$__rate_interval])`, legendFormat: 'throttled/s {{account_id}} {{region}}' },
        ], 'short', 12),
    ],
  },
  {
    // From CloudWatch (AWS/KMS, AWS/CloudHSM) through keystore-watch: a metric without a recent datapoint has
    // no series (absent, not zero), so an empty panel means "nothing published", never "all good".
    title: 'External key store health',
    panels: [
      bargauge('XKS proxy TLS certificate: days left', 'Days until the TLS certificate of each external key store proxy endpoint expires (CloudWatch XksProxyCertificateDaysToExpire). Orange under 30 days, red under 7: when it expires KMS cannot reach the proxy and the store\'s keys are unusable.',
        [{ expr: withNames(`kms_custom_key_store_xks_proxy_certificate_expiry_seconds{${AR}}`), legendFormat: '{{custom_key_store_name}} ({{account_name}} {{region}})' }],
        's', steps([null, 'red'], [7 * 86400, 'orange'], [30 * 86400, 'green']), 8),
      bargauge('XKS proxy credential age', 'Days since each external key store\'s proxy authentication credential was associated with it (CloudWatch XksProxyCredentialAge). Orange past 90 days (cloudwatch.credentialMaxAge): rotate it with update-custom-key-store --xks-proxy-authentication-credential.',
        [{ expr: withNames(`kms_custom_key_store_xks_proxy_credential_age_seconds{${AR}}`), legendFormat: '{{custom_key_store_name}} ({{account_name}} {{region}})' }],
        's', steps([null, 'green'], [90 * 86400, 'orange']), 8),
      timeseries('External key manager instances by state', 'External key manager instances each XKS proxy reports Degraded or Unavailable (CloudWatch XksExternalKeyManagerStates). Should be 0; the store may still say CONNECTED.',
        [{ expr: withNames(`kms_custom_key_store_xks_external_key_manager_state{${AR}, state!="Active"}`), legendFormat: '{{custom_key_store_name}} {{state}}' }],
        'none', 8, { decimals: 0 }),
      timeseries('XKS proxy error rate', 'Share of KMS requests to each XKS proxy that failed or timed out in the last CloudWatch period (XksProxyErrors / requests). keystore-watch calls a CONNECTED store degraded at 5% and failing at 25% (cloudwatch.errorRate*).',
        [{ expr: withNames(`sum by(${STORE_KEY}) (kms_custom_key_store_xks_proxy_errors{${AR}}) / on(${STORE_KEY}) (kms_custom_key_store_xks_proxy_requests{${AR}} > 0)`), legendFormat: '{{custom_key_store_name}} ({{account_name}} {{region}})' }],
        'percentunit', 8),
      timeseries('XKS proxy latency', 'Average time each XKS proxy took to answer KMS in the last CloudWatch period (XksProxyLatency). KMS gives up at 250 ms; degraded at 200 ms, failing at 240 ms (cloudwatch.latency*).',
        [{ expr: withNames(`kms_custom_key_store_xks_proxy_latency_seconds{${AR}}`), legendFormat: '{{custom_key_store_name}} ({{account_name}} {{region}})' }],
        's', 8, { thresholds: steps([null, 'green'], [0.2, 'orange'], [0.24, 'red']), style: { thresholdsLine: true } }),
      timeseries('Throttled requests (custom key store quota)', 'Requests KMS throttled for the KMS keys of each custom key store in the last CloudWatch period (ExternalKeyStoreThrottle, CloudHSMKeyStoreThrottle): the custom key store request quota is reached.',
        [{ expr: withNames(`kms_custom_key_store_throttled_requests{${AR}}`), legendFormat: '{{custom_key_store_name}} ({{account_name}} {{region}})' }],
        'none', 8, { decimals: 0 }),
      timeseries('Unhealthy HSMs (CloudWatch)', 'Unhealthy HSM instances per CloudHSM cluster behind a key store (AWS/CloudHSM HsmUnhealthy). CloudHSM replaces them itself.',
        [{ expr: `aws_cloudhsm_cluster_hsm_unhealthy{${AR}}`, legendFormat: '{{cloudhsm_cluster_id}} ({{account_id}} {{region}})' }],
        'none', 8, { decimals: 0 }),
      stat('CloudWatch reads failing', 'Account-region targets whose CloudWatch reads failed in the last poll (keystore_watch_cloudwatch_up 0: not permitted, or CloudWatch unreachable). Their CloudWatch figures are the last known ones; the stores are unaffected.',
        `count(keystore_watch_cloudwatch_up{${AR}} == 0) or vector(0)`, 'none', steps([null, 'green'], [1, 'orange']), 4, { h: 8 }),
      stat('Stores with stale CloudWatch figures', 'Stores whose CloudWatch figures are the last known ones because CloudWatch could not be read this poll (kms_custom_key_store_cloudwatch_stale). Their CloudWatch findings are frozen: neither fired nor resolved.',
        `sum(kms_custom_key_store_cloudwatch_stale{${AR}}) or vector(0)`, 'none', steps([null, 'green'], [1, 'orange']), 4, { h: 8 }),
    ],
  },
  {
    title: 'keystore-watch health',
    panels: [
      timeline('Targets up', 'Whether keystore-watch could read each account x region (DescribeCustomKeyStores).',
        [{ expr: `keystore_watch_target_up{${AR}}`, legendFormat: '{{account_id}} {{region}}' }], upMappings(), 12, 8),
      timeline('CloudHSM enrichment up', 'Whether DescribeClusters succeeded for each account x region with CloudHSM key stores. When down, cluster findings are stale.',
        [{ expr: `keystore_watch_cloudhsm_enrichment_up{${AR}}`, legendFormat: '{{account_id}} {{region}}' }], upMappings(), 12, 8),
      timeseries('Target poll duration', 'Time the last poll of each account x region took.',
        [{ expr: `keystore_watch_target_poll_duration_seconds{${AR}}`, legendFormat: '{{account_id}} {{region}}' }], 's', 8),
      timeseries('Poll duration', 'Duration of a whole poll (every target), as quantiles of the histogram.',
        [
          { expr: 'histogram_quantile(0.5, sum by(le) (rate(keystore_watch_poll_duration_seconds_bucket[$__rate_interval])))', legendFormat: 'p50' },
          { expr: 'histogram_quantile(0.95, sum by(le) (rate(keystore_watch_poll_duration_seconds_bucket[$__rate_interval])))', legendFormat: 'p95' },
          { expr: 'histogram_quantile(0.99, sum by(le) (rate(keystore_watch_poll_duration_seconds_bucket[$__rate_interval])))', legendFormat: 'p99' },
        ], 's', 8),
      timeseries('Targets by status', 'Account x region targets of the last poll: ok, failed, not_enabled (an opt-in region the account has not enabled: no alert) and denied (a service control policy denies keystore-watch there).',
        [{ expr: 'sum by(status) (keystore_watch_targets)', legendFormat: '{{status}}' }], 'none', 8),
      timeseries('Consecutive failures per target', 'Failed polls in a row for each account x region (0 when healthy).',
        [{ expr: `keystore_watch_target_consecutive_failures{${AR}}`, legendFormat: '{{account_id}} {{region}}' }], 'none', 8, { decimals: 0 }),
      stat('Time since last poll', 'Age of the last completed poll. Above 10 minutes KeystoreWatchNotPolling fires.',
        'time() - max(keystore_watch_last_poll_timestamp_seconds)', 's', steps([null, 'green'], [300, 'orange'], [600, 'red']), 4, { h: 8 }),
      stat('Last successful poll per target (oldest)', 'Age of the oldest last-successful poll among the selected targets.',
        `time() - min(keystore_watch_target_last_success_timestamp_seconds{${AR}})`, 's', steps([null, 'green'], [300, 'orange'], [600, 'red']), 4, { h: 8 }),
      timeseries('Polls', 'Polls per minute, and ticks skipped because the previous poll was still running.',
        [
          { expr: 'sum(rate(keystore_watch_polls_total[$__rate_interval])) * 60', legendFormat: 'polls' },
          { expr: 'sum(rate(keystore_watch_polls_skipped_total[$__rate_interval])) * 60', legendFormat: 'skipped' },
        ], 'opm', 8),
      timeseries('Poll watchdog and clock steps', 'Instances whose poll is overdue (no poll started within the grace after it was due, measured on monotonic time; KeystoreWatchPollOverdue), overdue episodes, and wall-clock steps the scheduler noticed and re-anchored on (NTP stepping the clock, a VM restored). Should stay 0.',
        [
          { expr: 'sum(keystore_watch_poll_overdue)', legendFormat: 'overdue now' },
          { expr: 'sum(increase(keystore_watch_poll_overdue_total[$__rate_interval])) or vector(0)', legendFormat: 'overdue episodes' },
          { expr: 'sum by(direction) (increase(keystore_watch_clock_steps_total[$__rate_interval]))', legendFormat: 'clock steps {{direction}}' },
        ], 'none', 8, { decimals: 0 }),
      timeseries('SDK thread failures and configuration reloads', 'AWS SDK threads that crashed or were terminated as unresponsive (aws.sdkThreads; each replaced, the calls it had in flight failed: should stay 0), and instances whose last configuration reload failed (KeystoreWatchConfigReloadFailed: the previous configuration still runs).',
        [
          { expr: 'sum by(reason) (increase(keystore_watch_sdk_thread_failures_total[$__rate_interval]))', legendFormat: 'SDK thread {{reason}}' },
          { expr: 'count(keystore_watch_config_last_reload_successful == 0) or vector(0)', legendFormat: 'config reload failed' },
        ], 'none', 8, { decimals: 0 }),
      timeseries('AWS requests', 'AWS API requests per second by service and operation (KMS DescribeCustomKeyStores is limited to 5/s per account and region).',
        [{ expr: 'sum by(service, operation) (rate(keystore_watch_aws_requests_total[$__rate_interval]))', legendFormat: '{{service}} {{operation}}' }], 'reqps', 8),
      timeseries('AWS request failures by code', 'Failed AWS API requests per second by service, operation and error code (AccessDenied, ThrottlingException, timeouts, ...).',
        [{ expr: 'sum by(service, operation, code) (rate(keystore_watch_aws_request_failures_total[$__rate_interval]))', legendFormat: '{{service}} {{operation}} {{code}}' }], 'reqps', 8),
      timeseries('AWS throttling', 'Throttled AWS API requests per second, and the share of all requests that failed.',
        [
          { expr: 'sum by(service, operation) (rate(keystore_watch_aws_request_failures_total{code=~"Throttling|ThrottlingException|TooManyRequestsException|RequestLimitExceeded|SlowDown"}[$__rate_interval]))', legendFormat: 'throttled {{service}} {{operation}}' },
          { expr: '(sum(rate(keystore_watch_aws_request_failures_total[$__rate_interval])) or vector(0)) / sum(rate(keystore_watch_aws_requests_total[$__rate_interval]))', legendFormat: 'failure ratio' },
        ], 'reqps', 8, {
          overrides: [byName('failure ratio', { id: 'unit', value: 'percentunit' }, { id: 'custom.axisPlacement', value: common.AxisPlacement.Right })],
        }),
      timeseries('Notifications', 'Notifications delivered and delivery failures per minute, per channel.',
        [
          { expr: 'sum by(channel) (rate(keystore_watch_notifications_total[$__rate_interval])) * 60', legendFormat: 'sent {{channel}}' },
          { expr: 'sum by(channel) (rate(keystore_watch_notification_failures_total[$__rate_interval])) * 60', legendFormat: 'failed {{channel}}' },
        ], 'opm', 8),
      timeseries('Outbox', 'Notifications waiting for delivery; notifications dead-lettered (given up on: see /api/v1/outbox) per channel; and notifications or history entries dropped because a size limit was reached (should stay 0).',
        [
          { expr: 'sum(keystore_watch_outbox_pending)', legendFormat: 'pending' },
          { expr: 'sum by(channel) (increase(keystore_watch_outbox_dead_letters_total[$__rate_interval]))', legendFormat: 'dead-lettered {{channel}}' },
          { expr: 'sum(increase(keystore_watch_outbox_dropped_total[$__rate_interval])) or vector(0)', legendFormat: 'outbox dropped' },
          { expr: 'sum(increase(keystore_watch_history_dropped_total[$__rate_interval])) or vector(0)', legendFormat: 'history dropped' },
        ], 'none', 8, { decimals: 0 }),
      timeseries('Alerts firing', 'Alerts keystore-watch itself currently holds firing, by severity, and its self-alerts (problems with keystore-watch itself, e.g. state-persist: the state directory refuses writes; KeystoreWatchDegraded fires on them).',
        [
          { expr: 'sum by(severity) (keystore_watch_alerts_firing)', legendFormat: '{{severity}}' },
          { expr: 'sum by(id) (keystore_watch_self_alert) > 0', legendFormat: 'self-alert {{id}}' },
        ], 'none', 8, { decimals: 0 }),
      timeseries('Internal errors', 'State store problems (failed writes, corrupt files moved aside: notifications may not survive a restart), failed Organizations reads (the last known account list is kept) and accounts whose OU path or tags a read could not get (a permission missing?). Should stay 0.',
        [
          { expr: 'sum by(kind) (increase(keystore_watch_state_errors_total[$__rate_interval]))', legendFormat: 'state {{kind}}' },
          { expr: 'sum by(code) (increase(keystore_watch_organizations_errors_total[$__rate_interval]))', legendFormat: 'organizations {{code}}' },
          { expr: 'sum(increase(keystore_watch_state_errors_total[$__rate_interval])) or vector(0)', legendFormat: 'state errors (total)' },
          { expr: 'sum by(operation, code) (increase(keystore_watch_organizations_enrichment_failures_total[$__rate_interval]))', legendFormat: 'organizations {{operation}} {{code}}' },
        ], 'none', 8, { decimals: 0 }),
      stat('Organizations data age', 'Age of the account list, OU paths and tags in use (read every organizations.refreshInterval; the last good answer is kept while reads fail). Empty without Organizations discovery.',
        'max(keystore_watch_organizations_age_seconds)', 's', steps([null, 'green'], [3600, 'orange'], [7200, 'red']), 4, { h: 5 }),
      table({
        title: 'Accounts: OU and owner tags', w: 24, h: 8,
        description: 'Each polled account with its OU path (Organizations) and the configured tags (organizations.tags, accounts[].tags) as tag_<key> columns.',
        targets: [{ expr: 'keystore_watch_account_info{account_id=~"$account_id"}', instant: true, format: 'table' }],
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true, job: true, instance: true }, renameByName: { account_id: 'Account', account_name: 'Name', ou_path: 'OU' } } }],
      }),
      table({
        title: 'keystore-watch instances', w: 20, h: 5,
        description: 'Running keystore-watch processes and their versions.',
        targets: [{ expr: 'keystore_watch_build_info', instant: true, format: 'table' }],
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true }, renameByName: { instance: 'Instance', job: 'Job', version: 'Version', revision: 'Revision', nodejs_version: 'Node.js' } } }],
      }),
      stat('Accounts polled', 'AWS accounts keystore-watch polls (explicit and discovered through Organizations).',
        'max(keystore_watch_accounts)', 'none', GREEN(), 4, { h: 5 }),
      // Per replica on purpose (not aggregated away): which replica leads, and that exactly one does (docs/ha.md).
      timeseries('Leader per replica', 'keystore_watch_leader per replica: 1 on the one that polls AWS and delivers notifications, 0 on a follower (state.backend: postgres; a single replica on the file backend always leads). "leaders" should be 1; 0 for a moment during a failover.',
        [
          { expr: 'keystore_watch_leader', legendFormat: '{{instance}}' },
          { expr: 'sum(keystore_watch_leader)', legendFormat: 'leaders' },
          { expr: 'keystore_watch_leader_degraded', legendFormat: '{{instance}} leading without PostgreSQL' },
          { expr: 'sum by(peers) (increase(keystore_watch_degraded_terms_total[$__rate_interval]))', legendFormat: 'degraded terms (peers {{peers}})' },
        ], 'none', 20, { h: 6, min: 0, decimals: 0 }),
      stat('Lease epoch', 'The leader lease epoch: it grows by one at every change of leader (a failover, a rolling update), never with a renewal.',
        'max(keystore_watch_lease_epoch)', 'none', GREEN(), 4, { h: 6 }),
    ],
  },
];


/** A multi-value query variable from label_values(), "All" selected. */
function variable(name: string, label: string, query: string, allValue: string | null = '.*'): dashboard.QueryVariableBuilder {
  const v = new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(DS)
    .definition(query)
    .query({ query, refId: `PrometheusVariableQueryEditor-${name}` })
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .regex('')
    .includeAll(true)
    .multi(true)
    .current({ selected: true, text: ['All'], value: ['$__all'] })
    .options([])
    .hide(dashboard.VariableHide.DontHide);
  return allValue === null ? v : v.allValue(allValue);
}

/**
 * The variables, each depending only on the ones before it. Account name, OU path and owner tag come
 * from keystore_watch_account_info and narrow the account id list; every panel filters by account_id.
 * account_id has no allValue on purpose: "All" then stands for the accounts the name/OU/owner selection
 * left (Grafana expands it to their regex), where `.*` would bring every account back.
 */
export const VARIABLES = ['account_name', 'ou_path', 'tag_owner', 'account_id', 'region', 'custom_key_store_type'] as const;
const ACCOUNT_FILTER = 'account_name=~"$account_name", ou_path=~"$ou_path", tag_owner=~"$tag_owner"';
function variables(): cog.Builder<dashboard.VariableModel>[] {
  return [
    new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus')
      .regex('').multi(false).includeAll(false).hide(dashboard.VariableHide.DontHide),
    variable('account_name', 'Account', 'label_values(keystore_watch_account_info, account_name)'),
    variable('ou_path', 'OU', 'label_values(keystore_watch_account_info, ou_path)'),
    variable('tag_owner', 'Owner', 'label_values(keystore_watch_account_info, tag_owner)'),
    variable('account_id', 'Account id', `label_values(keystore_watch_account_info{${ACCOUNT_FILTER}}, account_id)`, null),
    variable('region', 'Region', 'label_values(keystore_watch_target_up{account_id=~"$account_id"}, region)'),
    variable('custom_key_store_type', 'Store type', 'label_values(kms_custom_key_store_info{account_id=~"$account_id", region=~"$region"}, custom_key_store_type)'),
    new dashboard.TextBoxVariableBuilder(STATUS_URL_VARIABLE)
      .label('Status page URL')
      .description('Base URL of the keystore-watch status page as the browser reaches it (http.externalUrl, no trailing slash); store links open <this>/stores/<account>/<region>/<store id>.')
      .defaultValue(STATUS_URL_DEFAULT)
      .current({ selected: true, text: STATUS_URL_DEFAULT, value: STATUS_URL_DEFAULT })
      .hide(dashboard.VariableHide.DontHide),
  ];
}

export function buildDashboard(): dashboard.Dashboard {
  const b = new dashboard.DashboardBuilder('keystore-watch: AWS KMS custom key stores')
    .uid('keystore-watch')
    .description('Connection state of every AWS KMS custom key store across accounts and regions, CloudHSM cluster health, certificate expiry and the health of keystore-watch itself. Generated by scripts/gen-dashboard.ts (Grafana Foundation SDK).')
    .tags(['aws', 'kms', 'cloudhsm', 'keystore-watch'])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .fiscalYearStartMonth(0)
    .liveNow(false)
    .refresh('1m')
    .version(1)
    .timezone('browser')
    .time({ from: 'now-6h', to: 'now' })
    .weekStart('')
    .annotation(new dashboard.AnnotationQueryBuilder()
      .name('Annotations & Alerts').builtIn(1).type('dashboard')
      .datasource({ type: 'grafana', uid: '-- Grafana --' })
      .enable(true).hide(true).iconColor('rgba(0, 211, 255, 1)'))
    .link(new dashboard.DashboardLinkBuilder('Runbooks')
      .type(dashboard.DashboardLinkType.Link)
      .url('https://github.com/keystore-watch/keystore-watch/blob/main/docs/runbooks.md')
      .targetBlank(true).icon('doc').tooltip('What to do for each keystore-watch alert')
      .asDropdown(false).includeVars(false).keepTime(false).tags([]))
    .link(new dashboard.DashboardLinkBuilder('Status page')
      .type(dashboard.DashboardLinkType.Link)
      .url(`\${${STATUS_URL_VARIABLE}}`)
      .targetBlank(true).icon('external link').tooltip('The keystore-watch status page (the status_url variable)')
      .asDropdown(false).includeVars(false).keepTime(false).tags([]))
    .variables(variables());

  // Layout: rows of 24 columns, a panel wraps to the next line when it does not fit (the SDK's own
  // layout only wraps after a line is full, so positions are set here).
  let id = 1;
  let y = 0;
  for (const row of rows) {
    b.withRow(new dashboard.RowBuilder(row.title).id(id++).collapsed(false).gridPos({ h: 1, w: 24, x: 0, y }));
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const { panel, w, h } of row.panels) {
      if (x + w > 24) { x = 0; y += rowHeight; rowHeight = 0; }
      b.withPanel(panel.id(id++).gridPos({ h, w, x, y }));
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return b.build();
}

export const renderDashboard = (): string => JSON.stringify(buildDashboard(), null, 2) + '\n';

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) writeOrCheck(DASHBOARD_PATH, renderDashboard(), process.argv, 'npx tsx scripts/gen-dashboard.ts');
