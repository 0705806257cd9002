// Generates config/iam-policy.json from the one permission list, deploy/iam/policy.ts.
//
//   npx tsx deploy/iam/gen-iam-policy.ts          # write the file
//   npx tsx deploy/iam/gen-iam-policy.ts --check  # exit 1 when the file is out of date
//
// test/deploy/iam-coverage.test.ts fails when the committed file differs from what this produces.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeOrCheck } from '../../scripts/generated-file.js';
import { DEFAULT_ROLE_NAMES, resolveResource, statementsOf, type PolicyRole } from './policy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const IAM_POLICY_PATH = join(ROOT, 'config', 'iam-policy.json');

const COMMENTS = {
  file: 'Least-privilege IAM for keystore-watch, GENERATED from deploy/iam/policy.ts by deploy/iam/gen-iam-policy.ts: do not edit. Each *Policy / trustPolicy below is a complete IAM policy document: extract it with jq, e.g. `jq .monitoringRole.policy config/iam-policy.json > policy.json`. The same permissions as CloudFormation: deploy/cloudformation/member-role.yaml (a service-managed StackSet for every member account) and monitoring-account.yaml (the caller). test/deploy/iam-coverage.test.ts and test/kit/iam-policy.test.ts check that every AWS operation in src/ is covered here and nothing more is granted.',
  member: 'Create this role in every member account (default name KeystoreWatch, see organizations.roleName and accounts[].roleArn), or deploy deploy/cloudformation/member-role.yaml as a StackSet. DescribeCustomKeyStores, DescribeClusters and GenerateRandom support no resource-level restriction, hence Resource *. account:ListRegions (without an AccountId: the role\'s own account) serves regions: enabled, and tells a region the account has not enabled (KMS then answers UnrecognizedClientException) from bad credentials; without it keystore-watch falls back to whether the same credentials answered in another region. Partitions: in AWS China or GovCloud every ARN here starts arn:aws-cn: or arn:aws-us-gov: instead of arn:aws: (keystore-watch builds role ARNs in the partition of its regions). Drop the ProbeGenerateRandom statement unless probe.enabled is true. ReadCloudWatchMetrics (external key store and CloudHSM health from AWS/KMS and AWS/CloudHSM; ListMetrics finds each metric\'s dimension sets, GetMetricData reads them) serves cloudwatch.enabled, LookupKeyStoreChanges (who disconnected, connected, created, deleted or updated a store) cloudtrail.enabled: drop either with its feature. Neither supports resource-level restriction, hence Resource *. If the caller\'s own account is listed without roleArn, attach this policy to the caller as well.',
  caller: 'The identity keystore-watch runs as (the IRSA role of config/kubernetes/serviceaccount.yaml, an instance role, ...; deploy/cloudformation/monitoring-account.yaml creates it). It assumes the monitoring role in each account and, with organizations.enabled, reads the organization\'s accounts, OU paths and tags: directly when it runs in the management account or a delegated administrator (DiscoverOrganizationAccounts), or through organizationsRole when organizations.roleArn is set (AssumeOrganizationsRole). Narrow the role ARN pattern when accounts[].roleArn uses other role names. The Organizations reads walk the tree top-down (ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent: about two calls per OU); a policy without them still works through ListAccounts plus ListParents and DescribeOrganizationalUnit per account, which costs about one call per account on each refresh.',
  organizations: 'Only with organizations.roleArn (the daemon runs in a tooling account): create this role in the management account or a delegated administrator account, trusted by the caller, and set organizations.roleArn to it (organizations.roleExternalId to the external id). Then drop DiscoverOrganizationAccounts from the caller, and AssumeOrganizationsRole when roleArn is not used. ListAccounts lists the members; ListParents and DescribeOrganizationalUnit give each account\'s OU path; ListTagsForResource reads the tags named in organizations.tags (drop it when that list is empty). Organizations actions support no resource-level restriction for these reads, hence Resource *.',
};

const CALLER_ARN = `arn:aws:iam::000000000000:role/${DEFAULT_ROLE_NAMES.caller}`;

function policy(role: PolicyRole) {
  return {
    Version: '2012-10-17',
    Statement: statementsOf(role).map((s) => ({
      Sid: s.sid,
      Effect: 'Allow',
      Action: [...s.actions],
      Resource: resolveResource(s.resource, DEFAULT_ROLE_NAMES),
    })),
  };
}

const trust = (externalId: string) => ({
  Version: '2012-10-17',
  Statement: [{
    Sid: 'TrustKeystoreWatchCaller',
    Effect: 'Allow',
    Principal: { AWS: CALLER_ARN },
    Action: 'sts:AssumeRole',
    Condition: { StringEquals: { 'sts:ExternalId': externalId } },
  }],
});

export function renderIamPolicy(): string {
  const doc = {
    $comment: COMMENTS.file,
    monitoringRole: { $comment: COMMENTS.member, roleName: DEFAULT_ROLE_NAMES.member, policy: policy('member'), trustPolicy: trust('keystore-watch') },
    caller: { $comment: COMMENTS.caller, roleName: DEFAULT_ROLE_NAMES.caller, policy: policy('caller') },
    organizationsRole: { $comment: COMMENTS.organizations, roleName: DEFAULT_ROLE_NAMES.organizations, policy: policy('organizations'), trustPolicy: trust('keystore-watch-organizations') },
  };
  // Arrays of strings on one line, as the hand-written file had them.
  return JSON.stringify(doc, null, 2).replace(/\[\n\s+("[^\n]*"(?:,\n\s+"[^\n]*")*)\n\s+\]/g, (_m, items: string) => `[${items.split(/,\n\s+/).join(', ')}]`) + '\n';
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) writeOrCheck(IAM_POLICY_PATH, renderIamPolicy(), process.argv, 'npx tsx deploy/iam/gen-iam-policy.ts');
