// How a store looks outside the process (API, CLI JSON): never the trust anchor PEM (it is not even kept).
import type { StoreRecord } from '../model.js';

export function publicStore(s: StoreRecord) {
  return {
    accountId: s.accountId,
    accountName: s.accountName,
    ouPath: s.ouPath ?? null,
    tags: s.tags ?? {},
    region: s.region,
    customKeyStoreId: s.id,
    customKeyStoreName: s.name,
    customKeyStoreType: s.type,
    connectionState: s.state,
    connectionErrorCode: s.errorCode,
    cloudHsmClusterId: s.clusterId,
    xksProxy: s.xks,
    creationDate: s.createdAt === null ? null : new Date(s.createdAt).toISOString(),
    stateSince: new Date(s.stateSince).toISOString(),
    trustAnchorNotAfter: s.trustAnchorNotAfter === null ? null : new Date(s.trustAnchorNotAfter).toISOString(),
    stale: s.stale,
  };
}
