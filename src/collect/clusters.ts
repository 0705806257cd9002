// CloudHSM enrichment: the clusters behind a target's CloudHSM key stores, in one filtered, paginated walk.
import { paginateDescribeClusters, type CloudHSMV2Client, type Cluster } from '@aws-sdk/client-cloudhsm-v2';
import type { ClusterRecord } from '../model.js';
import { certificateFacts } from './certificate.js';

export type ObservedCluster = Omit<ClusterRecord, 'stateSince' | 'stale'>;

/** DescribeClusters takes at most 25 per page; the filter list itself is batched the same way. */
const BATCH = 25;

export function toObservedCluster(accountId: string, region: string, c: Cluster): ObservedCluster | null {
  if (!c.ClusterId) return null;
  return {
    accountId,
    region,
    id: c.ClusterId,
    state: c.State ?? 'UNKNOWN',
    stateMessage: c.StateMessage ?? null,
    vpcId: c.VpcId ?? null,
    hsmType: c.HsmType ?? null,
    hsms: (c.Hsms ?? []).map((h) => ({
      id: h.HsmId ?? 'unknown',
      availabilityZone: h.AvailabilityZone ?? null,
      subnetId: h.SubnetId ?? null,
      eniIp: h.EniIp ?? null,
      state: h.State ?? 'UNKNOWN',
    })),
    subnetAzs: Object.keys(c.SubnetMapping ?? {}).sort(),
    certificateNotAfter: certificateFacts(c.Certificates?.ClusterCertificate)?.notAfter ?? null,
  };
}

/** The lent client (AwsClients.withCloudHsm) applies the target's abort signal to every request. */
export async function describeClusters(client: CloudHSMV2Client, accountId: string, region: string, clusterIds: string[]): Promise<ObservedCluster[]> {
  const out: ObservedCluster[] = [];
  for (let i = 0; i < clusterIds.length; i += BATCH) {
    const batch = clusterIds.slice(i, i + BATCH);
    for await (const page of paginateDescribeClusters({ client, pageSize: BATCH }, { Filters: { clusterIds: batch } })) {
      for (const c of page.Clusters ?? []) {
        const cluster = toObservedCluster(accountId, region, c);
        if (cluster) out.push(cluster);
      }
    }
  }
  return out;
}
