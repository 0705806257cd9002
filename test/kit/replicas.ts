// Two replicas' series for promtool: every input series of a promtool unit test as two replicas of one
// deployment would export it (test/kit/prometheus-ha.test.ts, test/ha/failover.test.ts), and the alert
// rules with the replica aggregation taken out (to show a test over two replicas can fail).
export interface InputSeries { series: string; values: string }
export interface TestGroup { interval?: string; input_series?: InputSeries[]; alert_rule_test?: unknown[]; promql_expr_test?: unknown[] }
export interface TestFile { rule_files: string[]; evaluation_interval?: string; tests: TestGroup[] }

export const REPLICAS = [
  { instance: '10.0.0.11:9464', pod: 'keystore-watch-7c9f-abcde' },
  { instance: '10.0.0.12:9464', pod: 'keystore-watch-7c9f-fghij' },
];

/**
 * `name{a="1"}` -> `name{a="1", instance="...", pod="..."}`. An instance the case gave (a case may model
 * two daemons of one job) is kept as a prefix, so two daemons stay two daemons with two replicas each.
 */
export function onReplica(series: string, replica: { instance: string; pod: string }): string {
  const m = /^([a-zA-Z_:][\w:]*)\s*(?:\{(.*)\})?\s*$/s.exec(series.trim());
  if (!m) throw new Error(`cannot parse series ${series}`);
  const all = [...(m[2] ?? '').matchAll(/(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"/g)].map((l) => ({ name: l[1]!, text: `${l[1]}="${l[2]}"`, value: l[2]! }));
  const given = all.find((l) => l.name === 'instance')?.value;
  const labels = all.filter((l) => l.name !== 'instance' && l.name !== 'pod').map((l) => l.text);
  labels.push(`instance="${given ? `${given}/` : ''}${replica.instance}"`, `pod="${replica.pod}"`);
  return `${m[1]}{${labels.join(', ')}}`;
}

const isCounter = (series: string): boolean => /^[a-zA-Z_:][\w:]*_total\b/.test(series.trim());

/** Every input series as two replicas would export it: gauges identical, counters only on the first (the leader). */
export function twoReplicas(file: TestFile): TestFile {
  return {
    ...file,
    tests: file.tests.map((t) => ({
      ...t,
      input_series: (t.input_series ?? []).flatMap((s) => REPLICAS
        .filter((_, i) => i === 0 || !isCounter(s.series))
        .map((r) => ({ series: onReplica(s.series, r), values: s.values }))),
    })),
  };
}

/** Removes every `max without(instance, pod) (...)` wrapper (balanced parentheses): the rules as they were before HA. */
export function withoutDedup(rules: string): string {
  const marker = 'max without(instance, pod) (';
  let out = rules;
  for (let i = out.indexOf(marker); i >= 0; i = out.indexOf(marker)) {
    let depth = 1;
    let j = i + marker.length;
    let quoted = false;
    for (; j < out.length && depth > 0; j++) {
      if (quoted) {
        if (out[j] === '\\') j++;
        else if (out[j] === '"') quoted = false;
      } else if (out[j] === '"') quoted = true;
      else if (out[j] === '(') depth++;
      else if (out[j] === ')') depth--;
    }
    out = out.slice(0, i) + out.slice(i + marker.length, j - 1) + out.slice(j);
  }
  return out;
}

