// Walks DescribeCustomKeyStores for one account x region with the SDK paginator.
import { paginateDescribeCustomKeyStores, type CustomKeyStoresListEntry, type KMSClient } from '@aws-sdk/client-kms';
import type { StoreRecord } from '../model.js';
import { certificateFacts } from './certificate.js';
import { errorCode } from './aws-clients.js';
import { accessKeyIdLast4 } from './sensitive.js';

/** A store as AWS reported it, before the snapshot adds history (stateSince, stale). */
export type ObservedStore = Omit<StoreRecord, 'stateSince' | 'stale' | 'accountName'>;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export function toObservedStore(accountId: string, region: string, e: CustomKeyStoresListEntry): ObservedStore | null {
  // An entry without an id cannot be tracked; skipping it beats crashing the walk.
  if (!e.CustomKeyStoreId) return null;
  const cert = certificateFacts(e.TrustAnchorCertificate);
  const x = e.XksProxyConfiguration;
  const type = e.CustomKeyStoreType ?? (e.CloudHsmClusterId ? 'AWS_CLOUDHSM' : x ? 'EXTERNAL_KEY_STORE' : 'AWS_CLOUDHSM');
  const state = e.ConnectionState ?? 'UNKNOWN';
  return {
    accountId,
    region,
    id: e.CustomKeyStoreId,
    name: e.CustomKeyStoreName ?? '',
    type,
    state,
    errorCode: state === 'FAILED' ? (e.ConnectionErrorCode ?? 'UNKNOWN') : null,
    clusterId: str(e.CloudHsmClusterId),
    xks: x
      ? {
          connectivity: str(x.Connectivity),
          uriEndpoint: str(x.UriEndpoint),
          uriPath: str(x.UriPath),
          vpcEndpointServiceName: str(x.VpcEndpointServiceName),
          // @sensitive in the KMS model: only the last 4 characters are kept (collect/sensitive.ts).
          accessKeyIdLast4: accessKeyIdLast4(x.AccessKeyId),
        }
      : null,
    trustAnchorSha256: cert?.sha256 ?? null,
    trustAnchorNotAfter: cert?.notAfter ?? null,
    createdAt: e.CreationDate instanceof Date && !Number.isNaN(e.CreationDate.getTime()) ? e.CreationDate.getTime() : null,
  };
}

/**
 * Every store of the target, each once. KMS answers InvalidMarkerException when a marker expires or the
 * fleet changes under it: the walk restarts once from the beginning instead of failing the target.
 * The calls carry no per-call options, so a client with cacheMiddleware uses its cached handler; the
 * client (AwsClients.withKms) applies the abort signal itself.
 */
export async function walkKeyStores(client: KMSClient, accountId: string, region: string, pageSize: number, signal: AbortSignal): Promise<ObservedStore[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      const byId = new Map<string, ObservedStore>();
      for await (const page of paginateDescribeCustomKeyStores({ client, pageSize }, {})) {
        for (const entry of page.CustomKeyStores ?? []) {
          const store = toObservedStore(accountId, region, entry);
          if (store) byId.set(store.id, store);
        }
      }
      return [...byId.values()];
    } catch (err) {
      if (attempt === 0 && errorCode(err) === 'InvalidMarkerException' && !signal.aborted) continue;
      throw err;
    }
  }
}

