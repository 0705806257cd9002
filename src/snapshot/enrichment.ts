// What a snapshot's targets say about their enrichment (CloudHSM DescribeClusters, CloudWatch): how many
// enrichments were attempted (one per target and service) and which failed, by service and error code. Pure; read by `keystore-watch once` (its
// stderr warnings) and by the bench (which refuses to measure a build whose enrichment all failed).
import type { TargetOutcome } from '../model.js';

export interface EnrichmentFailure {
  service: 'cloudhsm' | 'cloudwatch';
  /** CloudWatch only: the role may not read it (a warning, never a blind spot). */
  denied: boolean;
  code: string;
  targets: number;
  /** The first failed target's message. */
  example: string;
}

export function enrichmentSummary(targets: readonly TargetOutcome[]): { attempted: number; failed: number; failures: EnrichmentFailure[] } {
  const groups = new Map<string, EnrichmentFailure>();
  let attempted = 0;
  let failed = 0;
  for (const t of targets) {
    for (const [service, e] of [['cloudhsm', t.cloudHsm], ['cloudwatch', t.cloudWatch]] as const) {
      if (!e) continue;
      attempted += 1;
      if (e.ok) continue;
      failed += 1;
      const denied = 'denied' in e && e.denied;
      const code = e.error?.code ?? 'Unknown';
      const key = `${service}\0${denied}\0${code}`;
      const g = groups.get(key) ?? { service, denied, code, targets: 0, example: e.error?.message ?? '' };
      g.targets += 1;
      groups.set(key, g);
    }
  }
  return { attempted, failed, failures: [...groups.values()] };
}
