// Account conditions: SCP_DENIED (a service control policy denies regions of the account).
import type { Condition, TargetOutcome } from '../../model.js';
import { deniedAction } from '../../collect/target-errors.js';
import { SUBJECT_DETAIL } from '../remediation/guidance.js';
import { accountSubjectKey } from '../subject-key.js';
import { NO_TAGS, type ConditionSource, type EvalContext, type RecordObservation } from './context.js';

/**
 * SCP_DENIED: one finding per account whose regions a service control policy denies (status denied), listing
 * the regions; warning severity, not the blind-spot page TARGET_DOWN is. Its subject's region is the first
 * denied region, so the finding is "absent" once that region is no longer monitored.
 */
export function observeDeniedAccounts(targets: readonly TargetOutcome[], ctx: EvalContext, record: RecordObservation): void {
  const byAccount = new Map<string, TargetOutcome[]>();
  for (const t of targets) {
    const list = byAccount.get(t.accountId);
    if (list) list.push(t); else byAccount.set(t.accountId, [t]);
  }
  for (const [accountId, list] of byAccount) {
    const denied = list.filter((t) => t.status === 'denied').sort((a, b) => (a.region < b.region ? -1 : 1));
    const key = accountSubjectKey(accountId);
    if (denied.length === 0) { record('SCP_DENIED', key, { kind: 'miss' }); continue; }
    const first = denied[0]!;
    const details: Record<string, string> = { [SUBJECT_DETAIL.deniedRegions]: denied.map((t) => t.region).join(', ') };
    if (first.error) {
      details.Error = first.error.code;
      details.Message = first.error.message;
      const action = deniedAction(first.error.message);
      if (action) details[SUBJECT_DETAIL.deniedAction] = action;
    }
    record('SCP_DENIED', key, { kind: 'hit', since: ctx.at, subject: {
      accountId, accountName: first.accountName, ouPath: first.ouPath ?? null, tags: first.tags ?? NO_TAGS, region: first.region, storeId: null, storeName: null, storeType: null, state: null, errorCode: null, clusterId: null, details,
    } });
  }
}

export const accountConditions: ConditionSource = {
  subject: 'account',
  conditions: ['SCP_DENIED'] satisfies Condition[],
  observe(snapshot, ctx, record) {
    observeDeniedAccounts(snapshot.targets, ctx, record);
  },
};
