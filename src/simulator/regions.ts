// The real region list: partitions and their regions come from the AWS SDK's own partition metadata
// (the partitions.json that @aws-sdk/core embeds for its endpoint rules), so a region exists here
// exactly when the SDK in use knows it. Opt-in flags follow the AWS Account Management Reference Guide,
// "Specify which AWS Regions your account can use" (manage-acct-regions): Regions launched before
// March 20, 2019 are enabled by default and cannot be disabled; Regions launched after that date are
// "opt-in Regions", disabled until the account enables them (Account ListRegions reports them
// DISABLED / ENABLED, the others ENABLED_BY_DEFAULT). Built once at load: nothing here is per request.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface PartitionInfo {
  id: string;
  /** Where the partition's global services sign (Organizations, IAM, Account): us-east-1, cn-northwest-1, us-gov-west-1. */
  homeRegion: string;
  dnsSuffix: string;
  /** Real region names, sorted (pseudo-regions such as aws-global left out). */
  regions: readonly string[];
}

export interface RegionInfo {
  name: string;
  partition: string;
  /** Disabled until the account enables it (launched after March 20, 2019). */
  optIn: boolean;
  description: string | undefined;
}

/**
 * The regions of the commercial partition that every account has (launched before March 20, 2019).
 * Every other region of the `aws` partition is an opt-in region; China and GovCloud have none.
 */
export const ENABLED_BY_DEFAULT: ReadonlySet<string> = new Set([
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'ca-central-1', 'sa-east-1',
  'eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1', 'eu-north-1',
  'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-southeast-1', 'ap-southeast-2',
]);

interface RawPartitions {
  partitions: { id: string; regionRegex: string; outputs: { dnsSuffix: string; implicitGlobalRegion?: string }; regions: Record<string, { description?: string } | undefined> }[];
}

/** The partition metadata of the SDK in node_modules (@aws-sdk/core, whose endpoint rules the clients use). */
function loadPartitions(): RawPartitions {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@aws-sdk/core/package.json'));
  const file = join(root, 'dist-es/submodules/client/util-endpoints/lib/aws/partitions.js');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`simulator: cannot read the AWS SDK partition metadata at ${file}: ${(err as Error).message}`);
  }
  // The module is `export const partitionsInfo = { ...JSON... };`.
  return JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)) as RawPartitions;
}

const raw = loadPartitions();
const byName = new Map<string, RegionInfo>();
const partitions = new Map<string, PartitionInfo>();
for (const p of raw.partitions) {
  const pattern = new RegExp(p.regionRegex);
  const names = Object.keys(p.regions).filter((r) => pattern.test(r)).sort();
  for (const name of names) {
    byName.set(name, { name, partition: p.id, optIn: p.id === 'aws' && !ENABLED_BY_DEFAULT.has(name), description: p.regions[name]?.description });
  }
  // Endpoint pseudo-regions (aws-global, aws-cn-global, ...): the SDK accepts them as a client region and
  // reaches the partition's global endpoint, so a request signed with one is no DNS failure. Not listed
  // among the partition's regions (ListRegions never shows them).
  for (const name of Object.keys(p.regions)) {
    if (!pattern.test(name)) byName.set(name, { name, partition: p.id, optIn: false, description: p.regions[name]?.description });
  }
  partitions.set(p.id, { id: p.id, homeRegion: p.outputs.implicitGlobalRegion ?? names[0] ?? '', dnsSuffix: p.outputs.dnsSuffix, regions: names });
}

/** Partition ids that have regions (aws, aws-cn, aws-us-gov, the ISO partitions, ...). */
export const PARTITION_IDS: readonly string[] = [...partitions.values()].filter((p) => p.regions.length > 0).map((p) => p.id);

export function regionInfo(name: string): RegionInfo | undefined {
  return byName.get(name);
}

export function partitionInfo(id: string): PartitionInfo | undefined {
  return partitions.get(id);
}

/** The partition a region belongs to, or undefined when no partition has it (the SDK would fail DNS). */
export function partitionOf(region: string): string | undefined {
  return byName.get(region)?.partition;
}

/** Every region of a partition, in name order. */
export function regionsOf(partition: string): readonly string[] {
  return partitions.get(partition)?.regions ?? [];
}
