// deploy/helm/keystore-watch: rendered by the real helm binary (helm lint, helm template with the
// default values and with ci/ha-values.yaml), every rendered object validated offline against the
// Kubernetes and Prometheus Operator schemas, the rendered config loaded by keystore-watch's own
// config loader, the rendered rules checked by promtool, and the values that tune the chart (extra
// labels, rule groups and alerts switched off, thresholds, the HA variant) seen in the output.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { CHART_ALERTS, CHART_DASHBOARD, renderChartAlerts, renderChartDashboard, THRESHOLDS } from '../../deploy/helm/gen-chart-files.js';
import { parseConfigText } from '../../src/config/load.js';
import { mustRun } from '../helpers/tools.js';
import { run } from '../kit/lib.js';
import { helm, helmBinary } from './helm-bin.js';
import { validateObject, type K8sObject } from './k8s-schema.js';
import { ROOT } from './sdk-calls.js';

const CHART = join(ROOT, 'deploy', 'helm', 'keystore-watch');
const HA_VALUES = join(CHART, 'ci', 'ha-values.yaml');
const canRun = mustRun('unzip');

function template(args: string[] = [], release = 'keystore-watch'): K8sObject[] {
  const r = helm(['template', release, CHART, '--namespace', 'monitoring', ...args]);
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((d) => d !== null) as K8sObject[];
}
const templateFails = (args: string[]): string => {
  const r = helm(['template', 'keystore-watch', CHART, ...args]);
  expect(r.status, `expected helm template ${args.join(' ')} to fail`).not.toBe(0);
  return r.stderr;
};
const one = (objs: K8sObject[], kind: string, nameSuffix = ''): any => {
  const all = objs.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  expect(all.map((o) => o.metadata.name), kind).toHaveLength(1);
  return all[0];
};
const alertsYml = (): { groups: { name: string; rules: { alert: string }[] }[] } => parseYaml(readFileSync(join(ROOT, 'config', 'prometheus', 'alerts.yml'), 'utf8'));

// Each helm run is a process (about 0.5 s quiet, several seconds under load): generous timeouts.
describe.skipIf(!canRun)('Helm chart', { timeout: 300_000 }, () => {
  let defaults: K8sObject[];
  let ha: K8sObject[];
  beforeAll(() => {
    helmBinary();
    defaults = template();
    ha = template(['-f', HA_VALUES]);
  }, 180_000);

  it('appVersion is package.json\'s version, and the image tag defaults to it', () => {
    const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(chart.appVersion).toBe(pkg.version);
    expect(one(defaults, 'Deployment').spec.template.spec.containers[0].image).toBe(`ghcr.io/keystore-watch/keystore-watch:${pkg.version}`);
  });

  it('the chart\'s copies of the rules and the dashboard are generated from config/ and dashboards/ and up to date', () => {
    expect(readFileSync(CHART_ALERTS, 'utf8'), 'run: npx tsx deploy/helm/gen-chart-files.ts').toBe(renderChartAlerts());
    expect(readFileSync(CHART_DASHBOARD, 'utf8'), 'run: npx tsx deploy/helm/gen-chart-files.ts').toBe(renderChartDashboard());
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    expect(values.prometheusRule.thresholds).toEqual(Object.fromEntries(THRESHOLDS.map((t) => [t.key, t.default])));
    expect(Object.keys(values.prometheusRule.groups).sort()).toEqual(alertsYml().groups.map((g) => g.name.replace(/^keystore-watch\./, '')).sort());
  });

  it('helm lint --strict passes with the default and the HA values', () => {
    for (const args of [[], ['-f', HA_VALUES]]) {
      const r = helm(['lint', '--strict', CHART, ...args]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
    }
  });

  it('every rendered object validates against the Kubernetes and Prometheus Operator schemas', async () => {
    expect(defaults.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    expect(ha.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'PodDisruptionBudget', 'PrometheusRule', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    for (const o of [...defaults, ...ha]) await validateObject(o);
    // Release names other than the chart's and the alternative config sources render valid objects too.
    for (const o of template(['--set', 'config.existingSecret=kw-config', '--set', 'persistence.existingClaim=kw-state', '--set', 'ha.enabled=false'], 'prod')) await validateObject(o);
  });

  it('every name is a DNS label of at most 63 characters, also for a long release name', () => {
    const release = `kw${'x'.repeat(51)}`; // helm's longest release name (53); the full name adds -keystore-watch
    const objs = template(['-f', HA_VALUES, '--set', 'ha.enabled=true'], release).concat(template([], release));
    for (const o of objs) expect(o.metadata.name, `${o.kind} ${o.metadata.name}`).toMatch(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
    const ha = template(['-f', HA_VALUES], release);
    const peers = one(ha, 'Service', '-peers').metadata.name;
    const cm = ha.find((o) => o.kind === 'ConfigMap' && !o.metadata.name.endsWith('-dashboard')) as any;
    expect((parseYaml(cm.data['config.yaml']) as any).state.peers).toEqual([`dns+http://${peers}:9464`]);
    const single = template([], release);
    const dep = one(single, 'Deployment');
    expect(dep.spec.template.spec.volumes.find((v: any) => v.name === 'state').persistentVolumeClaim.claimName).toBe(one(single, 'PersistentVolumeClaim').metadata.name);
  });

  it('the schema check fails on a broken object (it can fail)', async () => {
    const dep = structuredClone(one(defaults, 'Deployment'));
    dep.spec.replicas = 'two';
    await expect(validateObject(dep)).rejects.toThrow(/replicas/);
    const sm = structuredClone(one(defaults, 'ServiceMonitor'));
    sm.spec.endpoints[0].interval = '30 seconds';
    await expect(validateObject(sm)).rejects.toThrow(/interval/);
    const typo = structuredClone(one(defaults, 'Deployment'));
    typo.spec.template.spec.containers[0].readinesProbe = typo.spec.template.spec.containers[0].readinessProbe;
    await expect(validateObject(typo)).rejects.toThrow(/readinesProbe/);
    await expect(validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'x' } })).rejects.toThrow(/no schema model/);
  });

  it('the rendered config is a valid keystore-watch config: one replica on the state volume, HA on PostgreSQL with its peers', () => {
    const load = (objs: K8sObject[]) => {
      const cm = objs.find((o) => o.kind === 'ConfigMap' && !o.metadata.name.endsWith('-dashboard')) as any;
      const env = { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/x', PAGERDUTY_ROUTING_KEY: 'r'.repeat(32), DATABASE_URL: 'postgres://kw:pw@db:5432/kw' };
      return parseConfigText(cm.data['config.yaml'], 'configmap', env);
    };
    const single = load(defaults);
    expect(single.listen).toBe('0.0.0.0:9464');
    expect(single.stateDir).toBe('/var/lib/keystore-watch');
    const dep = one(defaults, 'Deployment');
    const c = dep.spec.template.spec.containers[0];
    const stateMount = c.volumeMounts.find((m: any) => m.mountPath === '/var/lib/keystore-watch');
    expect(dep.spec.template.spec.volumes.find((v: any) => v.name === stateMount.name).persistentVolumeClaim.claimName).toBe(one(defaults, 'PersistentVolumeClaim').metadata.name);

    const multi = load(ha);
    expect(multi.state.backend).toBe('postgres');
    expect(multi.state.url).toBe('postgres://kw:pw@db:5432/kw');
    expect(multi.state.peers).toEqual([`dns+http://${one(ha, 'Service', '-peers').metadata.name}:9464`]);
  });

  it('Deployment: probes on /healthz and /readyz, non-root, read-only root filesystem, resources, secrets from existing Secrets', () => {
    for (const objs of [defaults, ha]) {
      const pod = one(objs, 'Deployment').spec.template.spec;
      const [c] = pod.containers;
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(c.resources.requests).toEqual({ cpu: '50m', memory: '128Mi' });
      expect(c.env.find((e: any) => e.name === 'SLACK_WEBHOOK_URL').valueFrom.secretKeyRef).toEqual({ name: 'keystore-watch-secrets', key: 'slack-webhook-url' });
      // No secret value in any rendered object.
      expect(JSON.stringify(objs)).not.toMatch(/hooks\.slack\.com|postgres:\/\//);
    }
  });

  it('HA: replicas, RollingUpdate, PDB over the same pods, anti-affinity, the database URL from a Secret, no state volume', () => {
    const dep = one(ha, 'Deployment');
    const pod = dep.spec.template.spec;
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const pdb = one(ha, 'PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(dep.spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector.matchLabels).toEqual(dep.spec.selector.matchLabels);
    expect(pod.containers[0].env.find((e: any) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef).toEqual({ name: 'keystore-watch-postgres', key: 'url' });
    expect(pod.volumes.map((v: any) => v.name).sort()).toEqual(['config', 'tmp']);
    expect(pod.volumes.some((v: any) => v.persistentVolumeClaim)).toBe(false);
    expect(ha.some((o) => o.kind === 'PersistentVolumeClaim')).toBe(false);
    const hard = one(template(['-f', HA_VALUES, '--set', 'ha.podAntiAffinity=hard']), 'Deployment').spec.template.spec.affinity.podAntiAffinity;
    expect(hard.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');
    // One replica: Recreate (two pods never share the ReadWriteOnce state volume).
    expect(one(defaults, 'Deployment').spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('HA mirrors config/kubernetes/ha/: the same strategy, PDB, anti-affinity, zone spread, probes, security, resources, database Secret and peers Service', () => {
    const dir = join(ROOT, 'config', 'kubernetes', 'ha');
    const k = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    const kustomize = k.resources.flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS())) as any[];
    const kOne = (kind: string, name?: string) => kustomize.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    const kDep = kOne('Deployment');
    const hDep = one(ha, 'Deployment');
    const [kc, hc] = [kDep.spec.template.spec.containers[0], hDep.spec.template.spec.containers[0]];
    expect(hDep.spec.replicas).toBe(kDep.spec.replicas);
    expect(hDep.spec.strategy).toEqual(kDep.spec.strategy);
    for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe', 'securityContext', 'resources', 'ports', 'args']) expect(hc[p], p).toEqual(kc[p]);
    expect(hDep.spec.template.spec.securityContext).toEqual(kDep.spec.template.spec.securityContext);
    expect(hDep.spec.template.spec.terminationGracePeriodSeconds).toBe(kDep.spec.template.spec.terminationGracePeriodSeconds);
    const strip = (x: any) => JSON.parse(JSON.stringify(x).replace(/"matchLabels":\{[^}]*\}/g, '"matchLabels":{}'));
    expect(strip(hDep.spec.template.spec.affinity)).toEqual(strip(kDep.spec.template.spec.affinity));
    expect(strip(hDep.spec.template.spec.topologySpreadConstraints)).toEqual(strip(kDep.spec.template.spec.topologySpreadConstraints));
    const dbEnv = (c: any) => c.env.find((e: any) => e.name === 'DATABASE_URL');
    expect(dbEnv(hc)).toEqual(dbEnv(kc));
    expect(hDep.spec.template.spec.volumes.map((v: any) => v.name)).toEqual(kDep.spec.template.spec.volumes.map((v: any) => v.name));
    expect(one(ha, 'PodDisruptionBudget').spec.minAvailable).toBe(kOne('PodDisruptionBudget').spec.minAvailable);
    const [kPeers, hPeers] = [kOne('Service', 'keystore-watch-peers'), one(ha, 'Service', '-peers')];
    expect({ ...hPeers.spec, selector: {} }).toEqual({ ...kPeers.spec, selector: {} });
    // The rendered config's state block matches the kustomize ConfigMap's (names aside).
    const state = (cm: any) => (parseYaml(cm.data['config.yaml']) as any).state;
    const hState = state(ha.find((o) => o.kind === 'ConfigMap' && !o.metadata.name.endsWith('-dashboard')));
    expect({ ...hState, peers: hState.peers.map((p: string) => p.replace(hPeers.metadata.name, 'PEERS')) }).toEqual({ ...state(kOne('ConfigMap')), peers: state(kOne('ConfigMap')).peers.map((p: string) => p.replace(kPeers.metadata.name, 'PEERS')) });
  });

  it('a config change rolls the pods (checksum annotation), and only a config change', () => {
    const sum = (objs: K8sObject[]) => one(objs, 'Deployment').spec.template.metadata.annotations['checksum/config'];
    expect(sum(defaults)).toMatch(/^[0-9a-f]{64}$/);
    expect(sum(template(['--set', 'config.inline.logLevel=debug']))).not.toBe(sum(defaults));
    expect(sum(template(['--set', 'resources.requests.cpu=100m']))).toBe(sum(defaults));
  });

  it('IRSA: serviceAccount.roleArn becomes the eks.amazonaws.com/role-arn annotation', () => {
    expect(one(ha, 'ServiceAccount').metadata.annotations['eks.amazonaws.com/role-arn']).toBe('arn:aws:iam::123456789012:role/keystore-watch-caller');
    expect(one(defaults, 'ServiceAccount').metadata.annotations['eks.amazonaws.com/role-arn']).toBeUndefined();
    expect(one(ha, 'Deployment').spec.template.spec.serviceAccountName).toBe(one(ha, 'ServiceAccount').metadata.name);
  });

  it('existing ConfigMap or Secret for the config: no ConfigMap rendered, the volume points at it', () => {
    const cm = template(['--set', 'config.existingConfigMap=my-config']);
    expect(cm.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name)).toEqual(['keystore-watch-dashboard']);
    expect(one(cm, 'Deployment').spec.template.spec.volumes.find((v: any) => v.name === 'config').configMap.name).toBe('my-config');
    const secret = template(['--set', 'config.existingSecret=my-secret', '--set', 'config.key=kw.yaml']);
    const dep = one(secret, 'Deployment');
    expect(dep.spec.template.spec.volumes.find((v: any) => v.name === 'config').secret.secretName).toBe('my-secret');
    expect(dep.spec.template.spec.containers[0].args).toEqual(['run', '--config', '/etc/keystore-watch/kw.yaml']);
  });

  it('ServiceMonitor and PrometheusRule carry the configured extra labels (release), the job stays keystore-watch', () => {
    for (const kind of ['ServiceMonitor', 'PrometheusRule']) {
      expect(one(ha, kind).metadata.labels.release).toBe('kube-prometheus-stack');
      expect(one(defaults, kind).metadata.labels.release).toBeUndefined();
    }
    const sm = one(template(['--set', 'serviceMonitor.additionalLabels.release=prom']), 'ServiceMonitor');
    expect(sm.metadata.labels.release).toBe('prom');
    // The job label comes from the Service's app.kubernetes.io/name (keystore-watch), whatever the release name.
    const other = template([], 'prod');
    const svc = one(other, 'Service');
    expect(one(other, 'ServiceMonitor').spec.jobLabel).toBe('app.kubernetes.io/name');
    expect(svc.metadata.labels['app.kubernetes.io/name']).toBe('keystore-watch');
    expect(one(other, 'ServiceMonitor').spec.selector.matchLabels).toEqual(svc.spec.selector);
    expect(svc.spec.ports[0]).toMatchObject({ name: 'metrics', targetPort: 'metrics' });
  });

  it('with the default values the PrometheusRule is exactly config/prometheus/alerts.yml', () => {
    expect(one(defaults, 'PrometheusRule').spec.groups).toEqual(alertsYml().groups);
  });

  it('a disabled rule group and a disabled alert are absent; for, thresholds and labels are applied', () => {
    const rule = one(ha, 'PrometheusRule');
    const names = rule.spec.groups.map((g: any) => g.name);
    expect(names).toEqual(alertsYml().groups.map((g) => g.name).filter((n) => n !== 'keystore-watch.cloudwatch'));
    const rules = rule.spec.groups.flatMap((g: any) => g.rules);
    expect(rules.map((r: any) => r.alert)).not.toContain('KmsCustomKeyStoreProbeNotPermitted');
    expect(rules.map((r: any) => r.alert)).not.toContain('KmsXksProxyCertificateExpiring');
    expect(rules.length).toBe(alertsYml().groups.filter((g) => g.name !== 'keystore-watch.cloudwatch').flatMap((g) => g.rules).length - 1);
    const get = (n: string) => rules.find((r: any) => r.alert === n);
    expect(get('KmsCustomKeyStoreDisconnected').for).toBe('30m');
    expect(get('KmsCustomKeyStoreTrustAnchorExpiring').expr).toContain('< 45 * 86400');
    expect(get('KmsCustomKeyStoreTrustAnchorExpiring').annotations.description).toContain('less than 45 days');
    for (const r of rules) expect(r.labels.team, r.alert).toBe('platform');
    expect(get('KmsCustomKeyStoreFailed').labels.severity).toBe('critical');
    // Severity override and per-alert labels.
    const tuned = one(template(['--set', 'prometheusRule.rules.KmsCustomKeyStoreDisconnected.severity=critical', '--set', 'prometheusRule.rules.KmsCustomKeyStoreDisconnected.labels.route=dba']), 'PrometheusRule');
    const d = tuned.spec.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === 'KmsCustomKeyStoreDisconnected');
    expect(d.labels).toEqual({ severity: 'critical', route: 'dba' });
    // Every threshold reaches its rule.
    for (const t of THRESHOLDS) {
      const objs = template(['--set', `prometheusRule.thresholds.${t.key}=7777`]);
      const r = one(objs, 'PrometheusRule').spec.groups.flatMap((g: any) => g.rules).find((x: any) => x.alert === t.alert);
      expect(r.expr, t.key).toContain('7777');
    }
  });

  it('bad values fail with a message naming the key', () => {
    expect(templateFails(['--set', 'prometheusRule.rules.NoSuchAlert.enabled=false'])).toMatch(/prometheusRule\.rules\.NoSuchAlert: no such alert/);
    expect(templateFails(['--set', 'prometheusRule.groups.nosuch=false'])).toMatch(/prometheusRule\.groups\.nosuch: no such rule group/);
    expect(templateFails(['--set', 'prometheusRule.thresholds.trustAnchorExpiryDays=null'])).toMatch(/threshold is missing.*__KW_trustAnchorExpiryDays__/);
    expect(templateFails(['--set', 'prometheusRule.thresholds.throttledRequests=ten'])).toMatch(/prometheusRule\.thresholds\.throttledRequests must be a number/);
    expect(templateFails(['--set', 'prometheusRule.thresholds.throttledRequests=1) or vector(1'])).toMatch(/must be a number/);
    expect(templateFails(['--set', 'ha.enabled=true', '--set', 'ha.postgres.existingSecret='])).toMatch(/ha\.postgres\.existingSecret/);
    expect(templateFails(['--set', 'strategy.type=RollingUpdate'])).toMatch(/strategy\.type must be Recreate/);
    expect(templateFails(['--set', 'config.existingConfigMap=a', '--set', 'config.existingSecret=b'])).toMatch(/set one of them/);
  });

  it('helm package builds the chart archive with the rules and the dashboard, without the CI values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-helm-pkg-'));
    const r = helm(['package', CHART, '--destination', dir]);
    expect(r.status, r.stderr).toBe(0);
    const tgz = join(dir, 'keystore-watch-0.1.0.tgz');
    const list = run('tar', ['-tzf', tgz]).stdout.split('\n');
    expect(list).toEqual(expect.arrayContaining(['keystore-watch/files/alerts.yml', 'keystore-watch/files/dashboards/keystore-watch.json', 'keystore-watch/templates/deployment.yaml']));
    expect(list.some((f) => f.includes('/ci/'))).toBe(false);
    const r2 = helm(['template', 'kw', tgz]);
    expect(r2.status, r2.stderr).toBe(0);
  });

  it.skipIf(!mustRun('promtool'))('promtool check rules accepts the rendered rules (default, HA, and tuned thresholds)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-helm-rules-'));
    const variants: [string, K8sObject[]][] = [['default', defaults], ['ha', ha], ['tuned', template(THRESHOLDS.flatMap((t) => ['--set', `prometheusRule.thresholds.${t.key}=${t.default * 2}`]))]];
    for (const [name, objs] of variants) {
      const file = join(dir, `${name}.yml`);
      writeFileSync(file, stringify({ groups: one(objs, 'PrometheusRule').spec.groups }));
      const r = run('promtool', ['check', 'rules', file]);
      expect(r.status, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('the dashboard ConfigMap carries the Grafana sidecar label and the project\'s dashboard', () => {
    const cm = one(defaults, 'ConfigMap', '-dashboard');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(JSON.parse(cm.data['keystore-watch.json'])).toEqual(JSON.parse(readFileSync(join(ROOT, 'dashboards', 'keystore-watch.json'), 'utf8')));
    expect(one(ha, 'ConfigMap', '-dashboard').metadata.annotations).toEqual({ grafana_folder: 'KMS' });
    const elsewhere = one(template(['--set', 'dashboard.namespace=grafana', '--set', 'dashboard.label=dash', '--set', 'dashboard.labelValue=yes']), 'ConfigMap', '-dashboard');
    expect(elsewhere.metadata.namespace).toBe('grafana');
    expect(elsewhere.metadata.labels.dash).toBe('yes');
    expect(template(['--set', 'dashboard.enabled=false', '--set', 'serviceMonitor.enabled=false', '--set', 'prometheusRule.enabled=false']).map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'Service', 'ServiceAccount']);
  });
});
