// The kustomize manifests (config/kubernetes/ and config/kubernetes/ha/) stay, checked the same way as
// the Helm chart's output: every object of every file a kustomization lists validates offline against
// the Kubernetes and Prometheus Operator schemas. (kubectl is not on the CI machines, so the files are
// validated as written; kustomize here only adds the namespace and a label, which cannot break a schema.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { validateObject, type K8sObject } from './k8s-schema.js';
import { ROOT } from './sdk-calls.js';

function kustomization(dir: string): { file: string; objects: K8sObject[] }[] {
  const k = parseYaml(readFileSync(join(ROOT, dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return k.resources.map((file) => ({
    file: `${dir}/${file}`,
    objects: parseAllDocuments(readFileSync(join(ROOT, dir, file), 'utf8')).map((d) => d.toJS()).filter((o) => o !== null) as K8sObject[],
  }));
}

describe('kustomize manifests: schema validation', () => {
  for (const dir of ['config/kubernetes', 'config/kubernetes/ha']) {
    it(`${dir}: every object validates against the Kubernetes and Prometheus Operator schemas`, async () => {
      const files = kustomization(dir);
      const kinds = files.flatMap((f) => f.objects.map((o) => o.kind)).sort();
      expect(kinds).toEqual(expect.arrayContaining(['ConfigMap', 'Deployment', 'Namespace', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor']));
      for (const { file, objects } of files) {
        expect(objects.length, file).toBeGreaterThan(0);
        for (const o of objects) await expect(validateObject(o), file).resolves.toBeUndefined();
      }
    });
  }
});
