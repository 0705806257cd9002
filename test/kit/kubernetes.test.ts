// Kubernetes manifests (config/kubernetes/): the PrometheusRule is generated from alerts.yml and in
// sync; the Deployment, Service, ServiceMonitor, PVC, ServiceAccount and ConfigMap fit together.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { renderPrometheusRule } from '../../scripts/gen-prometheusrule.js';
import { parseConfigText } from '../../src/config/load.js';
import { path, read, run, skipWithout } from './lib.js';

const DIR = ['config', 'kubernetes'];
const docs: any[] = readdirSync(path(...DIR))
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => parseAllDocuments(read(...DIR, f)).map((d) => ({ ...(d.toJS() as object), __file: f })));
const find = (kind: string): any => {
  const all = docs.filter((d) => d.kind === kind);
  expect(all, kind).toHaveLength(1);
  return all[0];
};

describe('kubernetes manifests', () => {
  it('prometheusrule.yaml is generated from alerts.yml and up to date', () => {
    expect(read(...DIR, 'prometheusrule.yaml'), 'run: npx tsx scripts/gen-prometheusrule.ts').toBe(renderPrometheusRule());
    const rule = find('PrometheusRule');
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.spec.groups).toEqual((parseYaml(read('config', 'prometheus', 'alerts.yml')) as any).groups);
  });

  it.skipIf(skipWithout('promtool'))('promtool check rules accepts the PrometheusRule groups', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-k8s-'));
    writeFileSync(join(dir, 'rules.yml'), stringify({ groups: find('PrometheusRule').spec.groups }));
    const r = run('promtool', ['check', 'rules', join(dir, 'rules.yml')]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('kustomization lists every manifest', () => {
    const k = parseYaml(read(...DIR, 'kustomization.yaml')) as { resources: string[] };
    const files = readdirSync(path(...DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    expect([...k.resources].sort()).toEqual(files);
  });

  it('every object has apiVersion, kind, metadata.name and the app label', () => {
    for (const d of docs) {
      expect(d.apiVersion, d.__file).toBeTruthy();
      expect(d.kind, d.__file).toBeTruthy();
      expect(d.metadata?.name, d.__file).toBeTruthy();
      expect(d.metadata?.labels?.['app.kubernetes.io/name'], d.__file).toBe('keystore-watch');
    }
  });

  it('Deployment: probes on /healthz and /readyz at port 9464, state on the PVC, non-root, read-only root', () => {
    const dep = find('Deployment');
    const pod = dep.spec.template.spec;
    const [c] = pod.containers;
    expect(dep.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'keystore-watch' });
    expect(dep.spec.template.metadata.labels).toMatchObject(dep.spec.selector.matchLabels);
    const port = c.ports.find((p: any) => p.name === 'metrics');
    expect(port.containerPort).toBe(9464);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.args).toEqual(['run', '--config', '/etc/keystore-watch/config.yaml']);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.strategy.type).toBe('Recreate');

    const mount = (p: string) => c.volumeMounts.find((m: any) => m.mountPath === p);
    const volume = (name: string) => pod.volumes.find((v: any) => v.name === name);
    expect(volume(mount('/var/lib/keystore-watch').name).persistentVolumeClaim.claimName).toBe(find('PersistentVolumeClaim').metadata.name);
    expect(volume(mount('/etc/keystore-watch').name).configMap.name).toBe(find('ConfigMap').metadata.name);
    expect(pod.serviceAccountName).toBe(find('ServiceAccount').metadata.name);
  });

  it('config-reloader sidecar: watches the same ConfigMap mount and sends SIGHUP to the daemon process (hot reload, no restart)', () => {
    const pod = find('Deployment').spec.template.spec;
    const [daemon, reloader] = pod.containers;
    expect(reloader.name).toBe('config-reloader');
    expect(pod.shareProcessNamespace).toBe(true);
    const daemonMount = daemon.volumeMounts.find((m: any) => m.mountPath === '/etc/keystore-watch');
    expect(reloader.volumeMounts).toContainEqual({ name: daemonMount.name, mountPath: '/etc/keystore-watch', readOnly: true });
    expect(daemonMount.subPath).toBeUndefined();
    const script: string = reloader.command.join(' ');
    expect(script).toContain('sha256sum "$f"');
    expect(script).toContain('kill -HUP');
    // The pgrep pattern finds the daemon's command line (the image's ENTRYPOINT + the args) and not the sidecar's own shell.
    const pattern = new RegExp(/pgrep -f '([^']+)'/.exec(script)![1]!);
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(read('Dockerfile'))![1]!) as string[];
    const daemonCmdline = [...entrypoint.filter((a) => a !== 'tini' && a !== '--'), ...daemon.args].join(' ');
    expect(pattern.test(daemonCmdline), daemonCmdline).toBe(true);
    expect(pattern.test(script)).toBe(false);
    expect(reloader.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });

  it('ConfigMap holds a valid keystore-watch config whose stateDir and listen port match the Deployment', () => {
    const cm = find('ConfigMap');
    const dep = find('Deployment');
    const env = Object.fromEntries(dep.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? 'https://example.com/secret']));
    const config = parseConfigText(cm.data['config.yaml'], 'configmap.yaml', env);
    expect(config.stateDir).toBe('/var/lib/keystore-watch');
    expect(config.listen).toBe('0.0.0.0:9464');
  });

  it('Service, ServiceMonitor and the Deployment agree on labels and the port name', () => {
    const svc = find('Service');
    const sm = find('ServiceMonitor');
    const dep = find('Deployment');
    expect(dep.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
    expect(svc.spec.ports[0]).toMatchObject({ name: 'metrics', port: 9464, targetPort: 'metrics' });
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
    // The job label Prometheus Operator derives is the Service name; KeystoreWatchAbsent expects keystore-watch.
    expect(svc.metadata.name).toBe('keystore-watch');
    expect(sm.spec.jobLabel).toBeUndefined();
  });

  it('PVC and IRSA ServiceAccount', () => {
    const pvc = find('PersistentVolumeClaim');
    expect(pvc.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(pvc.spec.resources.requests.storage).toMatch(/^\d+[MG]i$/);
    const sa = find('ServiceAccount');
    expect(sa.metadata.annotations['eks.amazonaws.com/role-arn']).toMatch(/^arn:aws:iam::\d{12}:role\/[\w+=,.@-]+$/);
  });
});
