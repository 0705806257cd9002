// The README's metric reference is the exporter's public contract: this checks it row by row against
// the code. keystore-watch's own metrics come from the prom-client registry of SelfMetrics (names and
// label names as registered); the snapshot families from the renderer (every `w.family(...)` of
// src/metrics/render.ts, with the labels it writes for a snapshot that fills every family). A metric in
// the code but not in the table, one in the table but not in the code, or different labels fail here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSnapshotMetrics, SNAPSHOT_HELP } from '../../src/metrics/render.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import type { Snapshot } from '../../src/model.js';
import { cluster, snapshot, store, target } from '../helpers/snapshots.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const renderSource = readFileSync(new URL('../../src/metrics/render.ts', import.meta.url), 'utf8');

/** The table under "## Metric reference": metric name -> label names (a row may list several metrics). */
export function readmeMetricTable(text: string): Map<string, string[]> {
  const section = text.split(/^## Metric reference$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error('README.md has no "## Metric reference" section');
  const out = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    const names = [...cells[0]!.matchAll(/`([a-z_:][a-z0-9_:]*)`/g)].map((m) => m[1]!);
    const labels = cells[1]!.split(',').map((l) => l.trim()).filter(Boolean).map((l) => (l.startsWith('tag_') ? 'tag_<key>' : l));
    for (const n of names) {
      if (out.has(n)) throw new Error(`README.md lists ${n} twice`);
      out.set(n, labels);
    }
  }
  return out;
}

/** A snapshot that makes the renderer write every family it has. */
function everyFamily(): Snapshot {
  const ids = { accountId: '222222222222', region: 'eu-west-1' };
  return snapshot({
    stores: [store({ ...ids, state: 'FAILED', errorCode: 'CLUSTER_NOT_FOUND', trustAnchorNotAfter: 1_800_000_000_000 })],
    clusters: [cluster({ ...ids, certificateNotAfter: 1_800_000_000_000 })],
    targets: [target({
      ...ids, accountName: 'payments', ouPath: '/Prod', tags: { owner: 'payments' },
      cloudHsm: { ok: true, error: null, missingClusterIds: ['cluster-missing'] },
      cloudWatch: { ok: true, denied: false, error: null },
    })],
    probes: [{ ...ids, storeId: 'cks-0000000000000001', ok: true, outcome: 'ok', durationMs: 20, error: null, consecutiveFailures: 0 } as Snapshot['probes'][number]],
    storeHealth: [{
      ...ids, storeId: 'cks-0000000000000001', certificateDaysToExpire: 20, credentialAgeDays: 3, keyManagers: { Active: 1 },
      errors: { retryable: 1, nonRetryable: 0 }, requests: 10, latencyMs: 50, throttled: 0, stale: false,
    }],
    clusterHealth: [{ ...ids, clusterId: 'cluster-abcdefghijk', hsmUnhealthy: 0, stale: false }],
  });
}

/** Families of the snapshot renderer, with their label names (tag_<key> folded) and HELP. */
function snapshotFamilies(): Map<string, { labels: string[]; help: string }> {
  const text = renderSnapshotMetrics(everyFamily());
  const out = new Map<string, { labels: string[]; help: string }>();
  for (const m of text.matchAll(/^# HELP (\S+) (.*)$/gm)) out.set(m[1]!, { labels: [], help: m[2]! });
  for (const m of text.matchAll(/^([a-z_:][a-z0-9_:]*)\{(.*)\} \S+$/gm)) {
    const f = out.get(m[1]!)!;
    for (const l of m[2]!.matchAll(/(\w+)="/g)) {
      const name = l[1]!.startsWith('tag_') ? 'tag_<key>' : l[1]!;
      if (!f.labels.includes(name)) f.labels.push(name);
    }
  }
  return out;
}

/** keystore-watch's own metrics as registered (Organizations age included; process/nodejs metrics left out). */
function selfFamilies(): Map<string, string[]> {
  const m = new SelfMetrics({ processMetrics: false });
  m.watchOrganizations(() => 0);
  return new Map(m.registry.getMetricsAsArray().map((x) => [x.name, [...((x as unknown as { labelNames?: string[] }).labelNames ?? [])]]));
}

describe('README metric reference', () => {
  const table = readmeMetricTable(readme);

  it('the fixture makes the renderer write every family it declares', () => {
    const declared = [...renderSource.matchAll(/w\.family\('([a-z_:][a-z0-9_:]*)'/g)].map((m) => m[1]!);
    expect(declared.length).toBeGreaterThan(30);
    expect(declared.filter((n) => !snapshotFamilies().has(n)), 'families the fixture leaves empty').toEqual([]);
  });

  it('lists every metric of the code with exactly its labels, and nothing else', () => {
    const code = new Map<string, string[]>([...selfFamilies()]);
    for (const [name, f] of snapshotFamilies()) code.set(name, f.labels);
    const problems: string[] = [];
    for (const [name, labels] of code) {
      const documented = table.get(name);
      if (!documented) { problems.push(`${name} {${labels.join(', ')}} is not in the README`); continue; }
      if ([...labels].sort().join(',') !== [...documented].sort().join(',')) problems.push(`${name}: README says {${documented.join(', ')}}, the code has {${labels.join(', ')}}`);
    }
    for (const name of table.keys()) if (!code.has(name)) problems.push(`${name} is in the README but not exported`);
    expect(problems).toEqual([]);
  });

  it('fails on the two rows it was written for (labels a metric does not have)', () => {
    const wrong = readme
      .replace(/^\| `keystore_watch_outbox_pending` \| \|/m, '| `keystore_watch_outbox_pending`, `keystore_watch_outbox_dropped_total` | reason |')
      .replace(/^\| `keystore_watch_outbox_dropped_total` \| reason \|.*\n/m, '');
    expect(wrong).not.toBe(readme);
    expect(readmeMetricTable(wrong).get('keystore_watch_outbox_pending')).toEqual(['reason']);
    expect(selfFamilies().get('keystore_watch_outbox_pending')).toEqual([]);
  });

  it('every snapshot family says in HELP that its value is from the last poll, and when', () => {
    for (const [name, f] of snapshotFamilies()) {
      expect(f.help.endsWith(SNAPSHOT_HELP), name).toBe(true);
      expect(f.help, name).toContain('keystore_watch_last_poll_timestamp_seconds');
    }
  });
});
