// The ONE list of IAM permissions keystore-watch needs. Everything else is derived from or checked
// against it:
//  - config/iam-policy.json is generated from it (deploy/iam/gen-iam-policy.ts; a test fails when the
//    committed file is out of date);
//  - deploy/cloudformation/member-role.yaml and monitoring-account.yaml are checked against it
//    statement by statement (test/deploy/cloudformation.test.ts resolves each template's policies
//    under every combination of its feature parameters);
//  - test/deploy/iam-coverage.test.ts scans src/ (the simulator excluded) for every SDK command and
//    paginator and fails when the code calls an operation no statement grants, or a statement grants
//    one the code never calls.
//
// Each statement belongs to one role:
//  - member: the read-only role assumed in every monitored account (KeystoreWatch);
//  - caller: the daemon's own identity (IRSA role, instance role, ...), in the monitoring account;
//  - organizations: the optional role in the management / delegated administrator account
//    (organizations.roleArn), when the daemon runs in a tooling account.
// `feature` names the config switch a statement serves, so a deployment can drop it with the feature.

export type PolicyRole = 'member' | 'caller' | 'organizations';

export interface PolicyStatement {
  role: PolicyRole;
  sid: string;
  actions: readonly string[];
  /** '*' or a role ARN pattern; `${MemberRoleName}` / `${OrganizationsRoleName}` stand for the role names. */
  resource: string;
  /** The config key the statement serves (dropped with the feature), or undefined when always needed. */
  feature?: 'probe.enabled' | 'cloudwatch.enabled' | 'cloudtrail.enabled' | 'organizations.enabled' | 'organizations.roleArn';
}

/** Operations AWS answers without any IAM permission (the daemon calls them, no policy grants them). */
export const NO_PERMISSION_NEEDED: readonly string[] = ['sts:GetCallerIdentity'];

const ORGANIZATIONS_READS = [
  'organizations:ListRoots',
  'organizations:ListOrganizationalUnitsForParent',
  'organizations:ListAccountsForParent',
  'organizations:ListAccounts',
  'organizations:ListParents',
  'organizations:DescribeOrganizationalUnit',
  'organizations:ListTagsForResource',
] as const;

export const STATEMENTS: readonly PolicyStatement[] = [
  // The member role. None of these reads supports resource-level restriction, hence Resource *.
  { role: 'member', sid: 'ReadCustomKeyStores', actions: ['kms:DescribeCustomKeyStores'], resource: '*' },
  { role: 'member', sid: 'ReadCloudHsmClusters', actions: ['cloudhsm:DescribeClusters'], resource: '*' },
  { role: 'member', sid: 'ReadEnabledRegions', actions: ['account:ListRegions'], resource: '*' },
  { role: 'member', sid: 'ReadCloudWatchMetrics', actions: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'], resource: '*', feature: 'cloudwatch.enabled' },
  { role: 'member', sid: 'LookupKeyStoreChanges', actions: ['cloudtrail:LookupEvents'], resource: '*', feature: 'cloudtrail.enabled' },
  { role: 'member', sid: 'ProbeGenerateRandom', actions: ['kms:GenerateRandom'], resource: '*', feature: 'probe.enabled' },
  // The caller.
  { role: 'caller', sid: 'AssumeMonitoringRole', actions: ['sts:AssumeRole'], resource: 'arn:aws:iam::*:role/${MemberRoleName}' },
  { role: 'caller', sid: 'AssumeOrganizationsRole', actions: ['sts:AssumeRole'], resource: 'arn:aws:iam::*:role/${OrganizationsRoleName}', feature: 'organizations.roleArn' },
  { role: 'caller', sid: 'DiscoverOrganizationAccounts', actions: ORGANIZATIONS_READS, resource: '*', feature: 'organizations.enabled' },
  // The Organizations role (organizations.roleArn).
  { role: 'organizations', sid: 'ReadOrganization', actions: ORGANIZATIONS_READS, resource: '*' },
];

export const DEFAULT_ROLE_NAMES = { member: 'KeystoreWatch', caller: 'keystore-watch-caller', organizations: 'KeystoreWatchOrganizations' } as const;

export const statementsOf = (role: PolicyRole): PolicyStatement[] => STATEMENTS.filter((s) => s.role === role);

/** Every IAM action any role is granted. */
export const allActions = (): string[] => [...new Set(STATEMENTS.flatMap((s) => s.actions))].sort();

/** Resource with the role names filled in (and the partition, for arn: resources). */
export function resolveResource(resource: string, names: { member: string; organizations: string }, partition = 'aws'): string {
  return resource
    .replace('${MemberRoleName}', names.member)
    .replace('${OrganizationsRoleName}', names.organizations)
    .replace(/^arn:aws:/, `arn:${partition}:`);
}
