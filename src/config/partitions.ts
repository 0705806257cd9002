// AWS partitions and region names from the SDK's own endpoint metadata (the partitions table the SDK
// resolves every endpoint with), so keystore-watch knows exactly the regions its SDK knows: a typo
// such as "us-east-7" or "eu-west1" is refused at start instead of failing as DNS errors at 3 a.m.
//
// The table comes from @aws-sdk/core (the core every client of this build shares; the standalone
// @aws-sdk/util-endpoints in node_modules belongs to the older CloudHSM client and lacks regions such as
// il-central-1). partition() answers a listed region with its description; a name that only matches a
// partition's regionRegex (us-east-7) comes back without one, which is how an unknown region is told apart.
import { partition as sdkPartition } from '@aws-sdk/core/client';

export interface PartitionInfo {
  /** aws, aws-cn, aws-us-gov, aws-iso, ... : the second field of every ARN in the partition. */
  name: string;
  /** Where the partition's global services (IAM, Organizations, Account) live: us-east-1, cn-northwest-1, us-gov-west-1. */
  homeRegion: string;
  dnsSuffix: string;
}

const REGION_SHAPE = /^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/;

/** The partition of a region the SDK knows, or null for a name no partition lists (a typo, or a region newer than this build). */
export function partitionOfRegion(region: string): PartitionInfo | null {
  if (!REGION_SHAPE.test(region)) return null;
  const p = sdkPartition(region) as { name: string; implicitGlobalRegion?: string; dnsSuffix: string; description?: string };
  // Listed regions carry a description; pseudo-regions such as aws-global fail REGION_SHAPE above.
  if (typeof p.description !== 'string') return null;
  return { name: p.name, homeRegion: p.implicitGlobalRegion ?? region, dnsSuffix: p.dnsSuffix };
}

export const isKnownRegion = (region: string): boolean => partitionOfRegion(region) !== null;

/** The partition field of an ARN (arn:PARTITION:service:...), or null when it is not an ARN. */
export function arnPartition(arn: string): string | null {
  const m = /^arn:([a-z-]+):/.exec(arn);
  return m ? m[1]! : null;
}

/** arn:<partition>:iam::<account>:role/<name> */
export const roleArnFor = (partition: string, accountId: string, roleName: string): string => `arn:${partition}:iam::${accountId}:role/${roleName}`;

/** True for the ARN of an STS assumed-role session (arn:aws:sts::123456789012:assumed-role/Role/session). */
export const isAssumedRoleArn = (arn: string): boolean => /^arn:[a-z-]+:sts::\d{12}:assumed-role\//.test(arn);
