// The one place subject and alert keys are built. A subject key names what an alert is about
// (`store:<account>/<region>/<id>`, `cluster:<account>/<region>/<clusterId>`, `target:<account>/<region>`,
// `account:<account>`); an alert key is `<CONDITION>:<subject key>`. The engine (lifecycle and
// conditions) and storm grouping use these functions, so the keys never drift apart.
import { storeKey, targetKey, type AlertSubject, type Condition } from '../model.js';

export type SubjectKind = 'store' | 'cluster' | 'target' | 'account';

/** The subject key of a subject of `kind`: `id` is the store or cluster id; targets have none, accounts no region either. */
export function subjectKey(kind: SubjectKind, ref: { accountId: string; region?: string; id?: string }): string {
  switch (kind) {
    case 'store':
    case 'cluster':
      return `${kind}:${storeKey({ accountId: ref.accountId, region: ref.region ?? '', id: ref.id ?? '' })}`;
    case 'target':
      return `target:${targetKey({ accountId: ref.accountId, region: ref.region ?? '' })}`;
    case 'account':
      return `account:${ref.accountId}`;
  }
}

export const alertKeyOf = (condition: Condition, subject: string): string => `${condition}:${subject}`;
/** The subject key an alert key was built from (alertKeyOf's inverse: no condition holds a ':'). */
export const subjectKeyOfAlertKey = (alertKey: string): string => alertKey.slice(alertKey.indexOf(':') + 1);
export const storeSubjectKey = (s: { accountId: string; region: string; id: string }): string => subjectKey('store', s);
export const clusterSubjectKey = (accountId: string, region: string, clusterId: string): string => subjectKey('cluster', { accountId, region, id: clusterId });
export const targetSubjectKey = (t: { accountId: string; region: string }): string => subjectKey('target', t);
/** Findings about a whole account (SCP_DENIED). */
export const accountSubjectKey = (accountId: string): string => subjectKey('account', { accountId });

/** The kind of a subject key. */
export const subjectKindOf = (key: string): SubjectKind | null => {
  const kind = key.slice(0, key.indexOf(':'));
  return kind === 'store' || kind === 'cluster' || kind === 'target' || kind === 'account' ? kind : null;
};

/**
 * The subject an alert notification counts against for storm grouping: the store (store and cluster
 * findings of one store count once), else the cluster, else the target.
 */
export function deliverySubjectKey(s: AlertSubject): string {
  if (s.storeId !== null) return storeSubjectKey({ accountId: s.accountId, region: s.region, id: s.storeId });
  if (s.clusterId !== null) return clusterSubjectKey(s.accountId, s.region, s.clusterId);
  return targetSubjectKey(s);
}
