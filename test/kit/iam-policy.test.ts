// config/iam-policy.json grants exactly the AWS operations the code can call: every SDK command
// and paginator used under src/ (the simulator excluded) maps to an allowed action, and the
// policies allow nothing else.
import { describe, expect, it } from 'vitest';
import { NO_PERMISSION_NEEDED as NO_PERMISSION } from '../../deploy/iam/policy.js';
import { scanSource } from '../deploy/sdk-calls.js';
import { read } from './lib.js';

// The scan of src/ is shared with test/deploy/iam-coverage.test.ts (which also checks the one action
// list, deploy/iam/policy.ts, that config/iam-policy.json is generated from, and the CloudFormation templates).
const NO_PERMISSION_NEEDED = new Set(NO_PERMISSION);
const scan = (): { uses: { file: string; symbol: string; pkg: string; action: string }[]; problems: string[] } => {
  const { calls, problems } = scanSource();
  return { uses: calls, problems };
};

interface Statement { Sid?: string; Effect: string; Action: string | string[]; Resource?: string | string[]; NotAction?: unknown; NotResource?: unknown; Principal?: unknown }
interface PolicyDoc { Version: string; Statement: Statement[] }

const iam = JSON.parse(read('config', 'iam-policy.json'));
/** The permission policies (trust policies grant nothing: they say who may assume the role). */
const permissionPolicies: [string, PolicyDoc][] = [
  ['monitoringRole.policy', iam.monitoringRole.policy],
  ['caller.policy', iam.caller.policy],
  ['organizationsRole.policy', iam.organizationsRole.policy],
];
const actions = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const granted = new Set(permissionPolicies.flatMap(([, p]) => p.Statement.flatMap(actions)));

describe('IAM policy', () => {
  const { uses, problems } = scan();

  it('finds the AWS calls in src/ and can attribute each to a service', () => {
    expect(problems).toEqual([]);
    // The poller cannot work without these; if the scan finds none it is broken, not the code.
    expect(uses.map((u) => u.action)).toEqual(expect.arrayContaining(['kms:DescribeCustomKeyStores']));
  });

  it('each command and paginator the scan found exists in its SDK package', async () => {
    for (const u of uses.filter((x) => x.pkg.startsWith('@aws-sdk/client-'))) {
      const mod = await import(u.pkg);
      expect(typeof mod[u.symbol], `${u.file}: ${u.symbol} in ${u.pkg}`).toBe('function');
    }
  });

  it('every AWS operation the code can call is allowed', () => {
    for (const u of uses) {
      if (NO_PERMISSION_NEEDED.has(u.action)) continue;
      expect(granted, `${u.file} uses ${u.symbol} (${u.action}), which config/iam-policy.json does not grant`).toContain(u.action);
    }
  });

  it('nothing more is allowed than the code uses', () => {
    const used = new Set(uses.map((u) => u.action));
    for (const a of granted) expect(used, `config/iam-policy.json grants ${a}, which no code under src/ calls`).toContain(a);
  });

  it('policies are well-formed: Allow only, no wildcard actions, AssumeRole limited to the monitoring and Organizations roles', () => {
    const trustPolicies: [string, PolicyDoc][] = [['monitoringRole.trustPolicy', iam.monitoringRole.trustPolicy], ['organizationsRole.trustPolicy', iam.organizationsRole.trustPolicy]];
    for (const [name, p] of [...permissionPolicies, ...trustPolicies]) {
      expect(p.Version, name).toBe('2012-10-17');
      const sids = p.Statement.map((s) => s.Sid);
      expect(new Set(sids).size, `${name}: duplicate Sid`).toBe(sids.length);
      for (const s of p.Statement) {
        expect(Object.keys(s).every((k) => ['Sid', 'Effect', 'Action', 'Resource', 'Principal', 'Condition'].includes(k)), `${name}: ${s.Sid}`).toBe(true);
        expect(s.Effect).toBe('Allow');
        expect(s.Sid, `${name}: statement without Sid`).toMatch(/^[A-Za-z0-9]+$/);
        for (const a of actions(s)) expect(a, `${name}: ${s.Sid}`).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
      }
    }
    const assume = iam.caller.policy.Statement.filter((s: Statement) => actions(s).includes('sts:AssumeRole'));
    expect(assume.map((s: Statement) => s.Resource)).toEqual([`arn:aws:iam::*:role/${iam.monitoringRole.roleName}`, `arn:aws:iam::*:role/${iam.organizationsRole.roleName}`]);
    for (const trust of [iam.monitoringRole.trustPolicy.Statement[0], iam.organizationsRole.trustPolicy.Statement[0]]) {
      expect(trust.Action).toBe('sts:AssumeRole');
      expect(trust.Principal.AWS).toMatch(new RegExp(`:role/${iam.caller.roleName}$`));
      expect(trust.Condition.StringEquals['sts:ExternalId']).toBeTruthy();
    }
  });

  it('every Organizations read the code makes is granted both to the caller (run in the management account) and to the Organizations role (organizations.roleArn)', () => {
    const orgActions = [...new Set(uses.map((u) => u.action).filter((a) => a.startsWith('organizations:')))].sort();
    // OU paths and tags (issue 13): the scan must see them, or it is the scan that is broken.
    expect(orgActions).toEqual(expect.arrayContaining(['organizations:DescribeOrganizationalUnit', 'organizations:ListAccounts', 'organizations:ListParents', 'organizations:ListTagsForResource']));
    // The top-down walk (issue 14), with ListAccounts + ListParents as the fallback above.
    expect(orgActions).toEqual(expect.arrayContaining(['organizations:ListAccountsForParent', 'organizations:ListOrganizationalUnitsForParent', 'organizations:ListRoots']));
    const grantedBy = (p: PolicyDoc) => new Set(p.Statement.filter((s) => !actions(s).includes('sts:AssumeRole')).flatMap(actions).filter((a) => a.startsWith('organizations:')));
    expect([...grantedBy(iam.caller.policy)].sort()).toEqual(orgActions);
    expect([...grantedBy(iam.organizationsRole.policy)].sort()).toEqual(orgActions);
    // The member roles never need Organizations.
    expect([...grantedBy(iam.monitoringRole.policy)]).toEqual([]);
  });

  it('the CloudWatch and CloudTrail reads are separate statements of the monitoring role (each can be dropped with its feature)', () => {
    // The scan must see them (issue 17), or it is the scan that is broken.
    expect(uses.map((u) => u.action)).toEqual(expect.arrayContaining(['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics', 'cloudtrail:LookupEvents']));
    const stmt = (sid: string) => iam.monitoringRole.policy.Statement.find((s: Statement) => s.Sid === sid) as Statement;
    expect(actions(stmt('ReadCloudWatchMetrics')).sort()).toEqual(['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics']);
    expect(actions(stmt('LookupKeyStoreChanges'))).toEqual(['cloudtrail:LookupEvents']);
    for (const a of ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics', 'cloudtrail:LookupEvents']) {
      expect(iam.caller.policy.Statement.flatMap(actions), `${a} belongs to the member role, not the caller`).not.toContain(a);
    }
  });

  it('the probe permission is a separate statement of the monitoring role', () => {
    const probe = iam.monitoringRole.policy.Statement.filter((s: Statement) => actions(s).includes('kms:GenerateRandom'));
    expect(probe).toHaveLength(1);
    expect(actions(probe[0])).toEqual(['kms:GenerateRandom']);
  });
});
