// Generates config/kubernetes/prometheusrule.yaml (a Prometheus Operator PrometheusRule) from the
// alert rules in config/prometheus/alerts.yml, so the two can never disagree; the two-replica variant
// (config/kubernetes/ha/) gets the same file (the rules are written for two replicas anyway).
//
//   npx tsx scripts/gen-prometheusrule.ts          # write the file
//   npx tsx scripts/gen-prometheusrule.ts --check  # exit 1 when the file is out of date
//
// test/kit/kubernetes.test.ts fails when the committed file differs from what this produces.
import { writeOrCheck } from './generated-file.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ALERTS_PATH = join(ROOT, 'config', 'prometheus', 'alerts.yml');
export const PROMETHEUSRULE_PATH = join(ROOT, 'config', 'kubernetes', 'prometheusrule.yaml');
export const HA_PROMETHEUSRULE_PATH = join(ROOT, 'config', 'kubernetes', 'ha', 'prometheusrule.yaml');

const HEADER = `# GENERATED from config/prometheus/alerts.yml by scripts/gen-prometheusrule.ts: do not edit.
# Regenerate with: npx tsx scripts/gen-prometheusrule.ts
# Needs the Prometheus Operator CRDs. Your Prometheus may select rules by label
# (e.g. release: kube-prometheus-stack): add it under metadata.labels.
`;

export function renderPrometheusRule(alertsYaml = readFileSync(ALERTS_PATH, 'utf8')): string {
  const { groups } = parse(alertsYaml) as { groups: unknown[] };
  if (!Array.isArray(groups) || groups.length === 0) throw new Error(`${ALERTS_PATH}: no rule groups`);
  const doc = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'keystore-watch',
      labels: { 'app.kubernetes.io/name': 'keystore-watch', 'app.kubernetes.io/component': 'alert-rules' },
    },
    spec: { groups },
  };
  return HEADER + stringify(doc, { lineWidth: 0, blockQuote: 'literal' });
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  for (const path of [PROMETHEUSRULE_PATH, HA_PROMETHEUSRULE_PATH]) writeOrCheck(path, renderPrometheusRule(), process.argv, 'npx tsx scripts/gen-prometheusrule.ts');
}
