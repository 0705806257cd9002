// The two-replica Kubernetes variant (config/kubernetes/ha/, docs/ha.md): two replicas on PostgreSQL,
// RollingUpdate that never drops below one pod, a PodDisruptionBudget, anti-affinity, the database URL
// from a Secret, no volume. The files it shares with the single-replica variant are kept identical, and
// its ConfigMap is a valid keystore-watch config for the PostgreSQL backend.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { renderPrometheusRule } from '../../scripts/gen-prometheusrule.js';
import { parseConfigText } from '../../src/config/load.js';
import { path, read } from './lib.js';

const DIR = ['config', 'kubernetes', 'ha'];
const SHARED = ['namespace.yaml', 'serviceaccount.yaml', 'service.yaml', 'servicemonitor.yaml', 'prometheusrule.yaml'];
const files = readdirSync(path(...DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const docs: any[] = files.flatMap((f) => parseAllDocuments(read(...DIR, f)).map((d) => ({ ...(d.toJS() as object), __file: f })));
const find = (kind: string): any => {
  // The headless peers Service is checked on its own; "Service" is the one Prometheus and clients use.
  const all = docs.filter((d) => d.kind === kind && !(kind === 'Service' && d.spec?.clusterIP === 'None'));
  expect(all, kind).toHaveLength(1);
  return all[0];
};
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('kubernetes manifests: two replicas on PostgreSQL (config/kubernetes/ha)', () => {
  it('kustomization lists every manifest; the shared ones are the single-replica files unchanged', () => {
    const k = parseYaml(read(...DIR, 'kustomization.yaml')) as { resources: string[]; namespace: string };
    expect([...k.resources].sort()).toEqual([...files].sort());
    expect(k.namespace).toBe('keystore-watch');
    for (const f of SHARED) expect(read(...DIR, f), `${f} differs from config/kubernetes/${f}`).toBe(read('config', 'kubernetes', f));
    expect(read(...DIR, 'prometheusrule.yaml'), 'run: npx tsx scripts/gen-prometheusrule.ts').toBe(renderPrometheusRule());
    expect(files).not.toContain('persistentvolumeclaim.yaml');
  });

  it('every object has apiVersion, kind, metadata.name and the app label', () => {
    for (const d of docs) {
      expect(d.apiVersion, d.__file).toBeTruthy();
      expect(d.metadata?.name, d.__file).toBeTruthy();
      expect(d.metadata?.labels?.['app.kubernetes.io/name'], d.__file).toBe('keystore-watch');
    }
  });

  it('Deployment: 2 replicas, RollingUpdate never below one ready pod, anti-affinity, no volume but config and tmp', () => {
    const dep = find('Deployment');
    const pod = dep.spec.template.spec;
    const [c] = pod.containers;
    const labels = dep.spec.template.metadata.labels;
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    // Spread over nodes (and zones), preferred so that a rollout's surge pod still schedules on two nodes.
    const anti = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    expect(anti.some((t: any) => t.podAffinityTerm.topologyKey === 'kubernetes.io/hostname' && selects(t.podAffinityTerm.labelSelector.matchLabels, labels))).toBe(true);
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(pod.topologySpreadConstraints.some((t: any) => t.topologyKey === 'topology.kubernetes.io/zone' && selects(t.labelSelector.matchLabels, labels))).toBe(true);
    // No state on the pod: no PVC, only the config and a small /tmp.
    expect(pod.volumes.some((v: any) => v.persistentVolumeClaim)).toBe(false);
    expect(pod.volumes.map((v: any) => v.name).sort()).toEqual(['config', 'tmp']);
    expect(c.volumeMounts.map((m: any) => m.mountPath).sort()).toEqual(['/etc/keystore-watch', '/tmp']);
    // The same hardening and probes as the single replica.
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.args).toEqual(['run', '--config', '/etc/keystore-watch/config.yaml']);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(15);
  });

  it('the database URL comes from a Secret, never a literal', () => {
    const c = find('Deployment').spec.template.spec.containers[0];
    const db = c.env.find((e: any) => e.name === 'DATABASE_URL');
    expect(db.value).toBeUndefined();
    expect(db.valueFrom.secretKeyRef).toEqual({ name: 'keystore-watch-postgres', key: 'url' });
    const cm = read(...DIR, 'configmap.yaml');
    expect(cm).not.toMatch(/postgres(ql)?:\/\/[^$"\s]/);
    expect(cm, 'user:password@ in the ConfigMap').not.toMatch(/:\/\/[^\s"@/]*:[^\s"@/]+@/);
  });

  it('PodDisruptionBudget keeps one replica through a drain and selects the Deployment\'s pods', () => {
    const pdb = find('PodDisruptionBudget');
    const dep = find('Deployment');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.maxUnavailable).toBeUndefined();
    expect(selects(pdb.spec.selector.matchLabels, dep.spec.template.metadata.labels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeLessThan(dep.spec.replicas);
  });

  it('Service and ServiceMonitor select both replicas (every replica is scraped; the rules aggregate them)', () => {
    const svc = find('Service');
    const dep = find('Deployment');
    expect(selects(svc.spec.selector, dep.spec.template.metadata.labels)).toBe(true);
    expect(svc.spec.selector['keystore-watch/role']).toBeUndefined();
  });

  it('a headless Service lists every pod, ready or not, and the ConfigMap names it in state.peers on the container port', () => {
    const peers = docs.find((d) => d.kind === 'Service' && d.spec?.clusterIP === 'None');
    expect(peers, 'a headless Service (clusterIP: None)').toBeDefined();
    const dep = find('Deployment');
    expect(selects(peers.spec.selector, dep.spec.template.metadata.labels)).toBe(true);
    // During a database outage every replica answers /readyz 503: they must still find each other.
    expect(peers.spec.publishNotReadyAddresses).toBe(true);
    const cm = find('ConfigMap');
    const env = Object.fromEntries(dep.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? (e.name === 'DATABASE_URL' ? 'postgres://kw:secret@db.example.internal:5432/kw' : 'https://example.com/secret')]));
    const config = parseConfigText(cm.data['config.yaml'], 'ha/configmap.yaml', env) as any;
    expect(config.state.peers).toEqual([`dns+http://${peers.metadata.name}:${peers.spec.ports[0].port}`]);
    const port = dep.spec.template.spec.containers[0].ports.find((p: any) => p.name === peers.spec.ports[0].targetPort);
    expect(port?.containerPort).toBe(Number(config.listen.split(':').pop()));
  });

  it('ConfigMap holds a valid keystore-watch config for the PostgreSQL backend, with the URL from DATABASE_URL', () => {
    const cm = find('ConfigMap');
    const dep = find('Deployment');
    const env = Object.fromEntries(dep.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? (e.name === 'DATABASE_URL' ? 'postgres://kw:secret@db.example.internal:5432/kw?sslmode=verify-full' : 'https://example.com/secret')]));
    const config = parseConfigText(cm.data['config.yaml'], 'ha/configmap.yaml', env) as any;
    expect(config.listen).toBe('0.0.0.0:9464');
    expect(config.state).toMatchObject({ backend: 'postgres', schema: 'keystore_watch' });
    expect(JSON.stringify(config.state)).toContain('db.example.internal');
    expect(cm.data['config.yaml']).toContain('url: "${DATABASE_URL}"');
  });
});
