// enrichmentSummary: pure, over hand-made target outcomes.
import { describe, expect, it } from 'vitest';
import type { TargetOutcome } from '../../src/model.js';
import { enrichmentSummary } from '../../src/snapshot/enrichment.js';

const target = (over: Partial<TargetOutcome>): TargetOutcome => ({
  accountId: '111111111111', accountName: 'a', region: 'us-east-1', status: 'ok', ok: true, error: null, durationMs: 1,
  lastSuccessAt: 1, consecutiveFailures: 0, cloudHsm: null, ...over,
} as TargetOutcome);
const err = (code: string, message = `${code} message`) => ({ code, message });

describe('enrichmentSummary', () => {
  it('counts the enrichments attempted (one per target and service) and groups the failures by service, denial and code', () => {
    const s = enrichmentSummary([
      target({ cloudHsm: { ok: true, error: null }, cloudWatch: { ok: true, denied: false, error: null } }),
      target({ cloudHsm: { ok: false, error: err('CloudHsmAccessDeniedException', 'first') } }),
      target({ cloudHsm: { ok: false, error: err('CloudHsmAccessDeniedException', 'second') } }),
      target({ cloudWatch: { ok: false, denied: true, error: err('AccessDenied') } }),
      target({ cloudWatch: { ok: false, denied: false, error: err('AccessDenied') } }),
      target({}), // no store: no enrichment at all
    ]);
    expect(s.attempted).toBe(6);
    expect(s.failed).toBe(4);
    expect(s.failures).toEqual([
      { service: 'cloudhsm', denied: false, code: 'CloudHsmAccessDeniedException', targets: 2, example: 'first' },
      { service: 'cloudwatch', denied: true, code: 'AccessDenied', targets: 1, example: 'AccessDenied message' },
      { service: 'cloudwatch', denied: false, code: 'AccessDenied', targets: 1, example: 'AccessDenied message' },
    ]);
  });

  it('an empty or healthy fleet has no failures', () => {
    expect(enrichmentSummary([])).toEqual({ attempted: 0, failed: 0, failures: [] });
    expect(enrichmentSummary([target({ cloudHsm: { ok: true, error: null } })])).toEqual({ attempted: 1, failed: 0, failures: [] });
  });
});
