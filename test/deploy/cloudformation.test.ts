// deploy/cloudformation/: the member role (a service-managed StackSet in every account) and the
// caller role of the monitoring account. Each template is
//  - validated offline by cfn-lint (the npm package: resource types and properties against the
//    CloudFormation resource specification, intrinsic functions, parameters and conditions), on the
//    raw template and on the template resolved for each parameter combination;
//  - resolved for every combination of its feature parameters by test/deploy/cfn-eval.ts, and the
//    resulting IAM policies compared statement by statement with deploy/iam/policy.ts (the one list,
//    itself checked against the daemon's AWS calls by iam-coverage.test.ts): a template granting an
//    action the list does not, or missing one, fails here;
//  - checked for the trust it gives: the member role only to the caller role (with the ExternalId
//    condition when one is given), the caller role to the EKS service account through IRSA and/or a
//    principal.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ROLE_NAMES, resolveResource, statementsOf, type PolicyRole, type PolicyStatement } from '../../deploy/iam/policy.js';
import { parseConfigText } from '../../src/config/load.js';
import { combinations, context, openTemplate, referencedNames, resolve } from './cfn-eval.js';
import { ROOT } from './sdk-calls.js';

const MEMBER = join(ROOT, 'deploy', 'cloudformation', 'member-role.yaml');
const MONITORING = join(ROOT, 'deploy', 'cloudformation', 'monitoring-account.yaml');
const CALLER_ARN = 'arn:aws:iam::222222222222:role/keystore-watch-caller';
const OIDC = 'oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';

interface Finding { message: string; resource: string }
interface LintResult { templateValid: boolean; errors: { crit: Finding[]; warn: Finding[]; info: Finding[] } }

/** cfn-lint (npm) in one child process for many templates: it logs and rethrows through its own
 * uncaughtException handler, which must not take the test worker down. */
function cfnLintAll(items: { target: string | object; parameters?: Record<string, string> }[]): LintResult[] {
  const script = `
    const api = require('cfn-lint/lib/api.js');
    const out = [];
    for (const { target, parameters } of JSON.parse(require('fs').readFileSync(0, 'utf8'))) {
      const opts = { parameters: parameters || {}, pseudoParameters: { 'AWS::AccountId': '123456789012', 'AWS::Region': 'us-east-1' } };
      out.push(typeof target === 'string' ? api.validateFile(target, opts) : api.validateJsonObject(target, opts));
    }
    process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, input: JSON.stringify(items), encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`cfn-lint failed: ${r.stderr.slice(0, 2000)}`);
  return JSON.parse(r.stdout) as LintResult[];
}
const cfnLint = (target: string | object, parameters: Record<string, string> = {}): LintResult => cfnLintAll([{ target, parameters }])[0]!;

/** cfn-lint 1.9.7 wants policy documents as objects; CloudFormation also accepts a JSON string (the only
 * way to build the IRSA condition keys from a parameter). This one finding is expected on the raw
 * caller template; the resolved template (a parsed object there) must lint clean. */
const JSON_STRING_POLICY = /^Expecting a JSON object, got '\{"Version":"2012-10-17","Statement":\[\$\{Statements\}\]\}'$/;

interface Statement { Sid?: string; Effect: string; Action: string | string[]; Resource?: string | string[]; Principal?: any; Condition?: any; [k: string]: unknown }
interface PolicyDoc { Version: string; Statement: Statement[] }
const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The template resolved for one set of parameters, as CloudFormation would pass it to IAM. */
function resolved(file: string, params: Record<string, string>) {
  const t = openTemplate(file);
  const ctx = context(t, params);
  const resources = resolve(t.Resources, ctx) as Record<string, any>;
  const roles = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::Role');
  expect(roles, `${file}: one IAM role`).toHaveLength(1);
  expect(Object.keys(resources), `${file}: only the role`).toHaveLength(1);
  const props = roles[0]![1].Properties;
  const trust: PolicyDoc = typeof props.AssumeRolePolicyDocument === 'string' ? JSON.parse(props.AssumeRolePolicyDocument) : props.AssumeRolePolicyDocument;
  const permissions: Statement[] = props.Policies.flatMap((p: any) => (p.PolicyDocument as PolicyDoc).Statement);
  for (const p of props.Policies) wellFormed(p.PolicyDocument, `${file} ${p.PolicyName}`);
  wellFormed(trust, `${file} trust`);
  return { template: t, ctx, resources, props, trust, permissions };
}

function wellFormed(doc: PolicyDoc, where: string): void {
  expect(doc.Version, where).toBe('2012-10-17');
  const sids = doc.Statement.map((s) => s.Sid);
  expect(new Set(sids).size, `${where}: duplicate Sid`).toBe(sids.length);
  for (const s of doc.Statement) {
    expect(Object.keys(s).every((k) => ['Sid', 'Effect', 'Action', 'Resource', 'Principal', 'Condition'].includes(k)), `${where} ${s.Sid}: only Sid/Effect/Action/Resource/Principal/Condition`).toBe(true);
    expect(s.Effect, `${where} ${s.Sid}`).toBe('Allow');
    expect(s.Sid, `${where}: statement without Sid`).toMatch(/^[A-Za-z0-9]+$/);
    for (const a of list(s.Action)) expect(a, `${where} ${s.Sid}`).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
  }
}

/** The template's permission statements must be exactly `expected` from deploy/iam/policy.ts. */
function expectStatements(permissions: Statement[], expected: PolicyStatement[], names: { member: string; organizations: string }, where: string): void {
  const got = Object.fromEntries(permissions.map((s) => [s.Sid, { actions: [...list(s.Action)].sort(), resource: s.Resource }]));
  const want = Object.fromEntries(expected.map((s) => [s.sid, { actions: [...s.actions].sort(), resource: resolveResource(s.resource, names) }]));
  expect(got, `${where}: the template's statements differ from deploy/iam/policy.ts`).toEqual(want);
}

const memberExpected = (p: Record<string, string>): PolicyStatement[] => statementsOf('member').filter((s) =>
  s.feature === undefined
  || (s.feature === 'cloudwatch.enabled' && p.EnableCloudWatch === 'true')
  || (s.feature === 'cloudtrail.enabled' && p.EnableCloudTrail === 'true')
  || (s.feature === 'probe.enabled' && p.EnableProbe === 'true'));

const callerExpected = (p: Record<string, string>): PolicyStatement[] => statementsOf('caller').filter((s) =>
  s.feature === undefined
  || (s.feature === 'organizations.enabled' && p.OrganizationsAccess === 'direct')
  || (s.feature === 'organizations.roleArn' && p.OrganizationsAccess === 'assume-role'));

const MEMBER_COMBOS = combinations({ EnableCloudWatch: ['true', 'false'], EnableCloudTrail: ['true', 'false'], EnableProbe: ['true', 'false'], ExternalId: ['', 'keystore-watch'] })
  .map((c): Record<string, string> => ({ ...c, TrustedPrincipalArn: CALLER_ARN }));
const MONITORING_COMBOS = combinations({ OrganizationsAccess: ['direct', 'assume-role', 'none'], EksOidcProviderUrl: ['', OIDC], TrustedPrincipalArn: ['', CALLER_ARN.replace('keystore-watch-caller', 'ops-runner')] })
  .filter((c) => c.EksOidcProviderUrl !== '' || c.TrustedPrincipalArn !== '');

// Each cfn-lint run is a Node child process: generous timeouts for a loaded 2-core CI machine.
describe('CloudFormation: cfn-lint', { timeout: 180_000 }, () => {
  it('member-role.yaml lints clean', () => {
    const r = cfnLint(MEMBER, { TrustedPrincipalArn: CALLER_ARN });
    expect(r.errors.crit, JSON.stringify(r.errors.crit)).toEqual([]);
    expect(r.errors.warn).toEqual([]);
    expect(r.templateValid).toBe(true);
  });

  it('monitoring-account.yaml lints clean but for the JSON-string trust policy cfn-lint does not understand', () => {
    const r = cfnLint(MONITORING, { EksOidcProviderUrl: OIDC });
    expect(r.errors.crit.filter((f) => !JSON_STRING_POLICY.test(f.message)), JSON.stringify(r.errors.crit)).toEqual([]);
    expect(r.errors.warn).toEqual([]);
  });

  it('every resolved parameter combination of both templates lints clean', () => {
    const picks: [string, Record<string, string>][] = [
      ...MEMBER_COMBOS.map((c) => [MEMBER, c] as [string, Record<string, string>]),
      ...MONITORING_COMBOS.map((c) => [MONITORING, c] as [string, Record<string, string>]),
    ];
    const concrete = picks.map(([file, params]) => {
      const { template, resources, trust } = resolved(file, params);
      (resources as any).Role.Properties.AssumeRolePolicyDocument = trust;
      return { target: { AWSTemplateFormatVersion: template.AWSTemplateFormatVersion, Resources: resources } };
    });
    const results = cfnLintAll(concrete);
    results.forEach((r, i) => expect(r.errors.crit, `${picks[i]![0]} ${JSON.stringify(picks[i]![1])}: ${JSON.stringify(r.errors.crit)}`).toEqual([]));
    expect(results).toHaveLength(picks.length);
  });

  it('cfn-lint catches a broken template (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-cfn-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleNme: x\n      AssumeRolePolicyDocument: { Version: "2012-10-17", Statement: [] }\n');
    const r = cfnLint(bad);
    expect(r.templateValid).toBe(false);
    expect(r.errors.crit.map((f) => f.message).join('\n')).toMatch(/RoleNme/);
  });
});

describe('CloudFormation: the permissions are exactly deploy/iam/policy.ts', () => {
  it('member-role.yaml, every combination of EnableCloudWatch / EnableCloudTrail / EnableProbe / ExternalId', () => {
    for (const params of MEMBER_COMBOS) {
      const { permissions, ctx } = resolved(MEMBER, params);
      expectStatements(permissions, memberExpected(ctx.params), { member: ctx.params.RoleName!, organizations: '-' }, `member-role ${JSON.stringify(params)}`);
    }
  });

  it('member-role.yaml with every feature on grants every member action of the list (and the defaults leave the probe out)', () => {
    const on = resolved(MEMBER, { TrustedPrincipalArn: CALLER_ARN, EnableProbe: 'true' });
    expect(on.permissions.flatMap((s) => list(s.Action)).sort()).toEqual(statementsOf('member').flatMap((s) => s.actions).sort());
    const defaults = resolved(MEMBER, { TrustedPrincipalArn: CALLER_ARN });
    expect(defaults.permissions.flatMap((s) => list(s.Action))).not.toContain('kms:GenerateRandom');
  });

  it('monitoring-account.yaml, every OrganizationsAccess and trust combination', () => {
    for (const params of MONITORING_COMBOS) {
      const { permissions, ctx } = resolved(MONITORING, params);
      expectStatements(permissions, callerExpected(ctx.params), { member: ctx.params.MemberRoleName!, organizations: ctx.params.OrganizationsRoleName! }, `monitoring-account ${JSON.stringify(params)}`);
    }
  });

  it('role names and the partition flow into the AssumeRole resources', () => {
    const t = openTemplate(MONITORING);
    const ctx = context(t, { EksOidcProviderUrl: OIDC, MemberRoleName: 'KwRead', OrganizationsAccess: 'assume-role', OrganizationsRoleName: 'KwOrg' }, { 'AWS::Partition': 'aws-cn' });
    const stmts = (resolve(t.Resources, ctx) as any).Role.Properties.Policies[0].PolicyDocument.Statement as Statement[];
    expect(stmts.map((s) => s.Resource)).toEqual(['arn:aws-cn:iam::*:role/KwRead', 'arn:aws-cn:iam::*:role/KwOrg']);
  });

  it('the comparison catches a template that grants one action too many or misses one (the check can fail)', () => {
    const { permissions, ctx } = resolved(MEMBER, MEMBER_COMBOS[0]!);
    const names = { member: ctx.params.RoleName!, organizations: '-' };
    const extra = permissions.map((s) => (s.Sid === 'ReadCustomKeyStores' ? { ...s, Action: ['kms:DescribeCustomKeyStores', 'kms:ListKeys'] } : s));
    expect(() => expectStatements(extra, memberExpected(ctx.params), names, 'extra')).toThrow();
    expect(() => expectStatements(permissions.slice(1), memberExpected(ctx.params), names, 'missing')).toThrow();
  });

  it('a statement in the list that no template grants, or one only templates grant, fails one of the above', () => {
    // Every statement of the list appears in some template combination: the member and caller roles in
    // the two templates; the organizations role is created by hand (README) from config/iam-policy.json.
    const seen = new Set<string>();
    for (const p of MEMBER_COMBOS) for (const s of resolved(MEMBER, p).permissions) seen.add(`member:${s.Sid}`);
    for (const p of MONITORING_COMBOS) for (const s of resolved(MONITORING, p).permissions) seen.add(`caller:${s.Sid}`);
    const roles: PolicyRole[] = ['member', 'caller'];
    expect([...seen].sort()).toEqual(roles.flatMap((r) => statementsOf(r).map((s) => `${r}:${s.sid}`)).sort());
  });
});

describe('CloudFormation: defaults agree with config/iam-policy.json and each other', () => {
  it('role names', () => {
    const member = openTemplate(MEMBER).Parameters;
    const caller = openTemplate(MONITORING).Parameters;
    expect(member.RoleName.Default).toBe(DEFAULT_ROLE_NAMES.member);
    expect(caller.MemberRoleName.Default).toBe(DEFAULT_ROLE_NAMES.member);
    expect(caller.RoleName.Default).toBe(DEFAULT_ROLE_NAMES.caller);
    expect(caller.OrganizationsRoleName.Default).toBe(DEFAULT_ROLE_NAMES.organizations);
    // The feature switches default as the daemon's config does (probe off, CloudWatch and CloudTrail on).
    const config = parseConfigText('accounts: [{ id: "111111111111" }]\nregions: [us-east-1]\n', 'defaults', {});
    expect([member.EnableProbe.Default, member.EnableCloudWatch.Default, member.EnableCloudTrail.Default]).toEqual([config.probe.enabled, config.cloudwatch.enabled, config.cloudtrail.enabled].map(String));
    expect(config.organizations.roleName).toBe(DEFAULT_ROLE_NAMES.member);
  });
});

describe('CloudFormation: trust', () => {
  it('member role: only the caller role, with sts:ExternalId when given', () => {
    for (const params of MEMBER_COMBOS) {
      const { trust } = resolved(MEMBER, params);
      expect(trust.Statement).toHaveLength(1);
      const [s] = trust.Statement;
      expect(s!.Principal).toEqual({ AWS: CALLER_ARN });
      expect(s!.Action).toBe('sts:AssumeRole');
      if (params.ExternalId) expect(s!.Condition).toEqual({ StringEquals: { 'sts:ExternalId': params.ExternalId } });
      else expect(s!.Condition).toBeUndefined();
    }
  });

  it('caller role: the EKS service account through IRSA (sub and aud), and/or the given principal', () => {
    for (const params of MONITORING_COMBOS) {
      const { trust, ctx } = resolved(MONITORING, params);
      const irsa = trust.Statement.find((s) => s.Sid === 'TrustEksServiceAccount');
      const principal = trust.Statement.find((s) => s.Sid === 'TrustPrincipal');
      expect(trust.Statement).toHaveLength((params.EksOidcProviderUrl ? 1 : 0) + (params.TrustedPrincipalArn ? 1 : 0));
      if (params.EksOidcProviderUrl) {
        expect(irsa).toEqual({
          Sid: 'TrustEksServiceAccount', Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${OIDC}` },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: { StringEquals: { [`${OIDC}:aud`]: 'sts.amazonaws.com', [`${OIDC}:sub`]: `system:serviceaccount:${ctx.params.ServiceAccountNamespace}:${ctx.params.ServiceAccountName}` } },
        });
      } else expect(irsa).toBeUndefined();
      if (params.TrustedPrincipalArn) expect(principal).toEqual({ Sid: 'TrustPrincipal', Effect: 'Allow', Principal: { AWS: params.TrustedPrincipalArn }, Action: 'sts:AssumeRole' });
      else expect(principal).toBeUndefined();
    }
  });

  it('parameters: defaults and examples match their AllowedPattern (CloudFormation anchors it), bad values do not; every parameter is used', () => {
    const cases: [string, string, string[], string[]][] = [
      [MEMBER, 'TrustedPrincipalArn', [CALLER_ARN, 'arn:aws-us-gov:iam::123456789012:role/path/kw'], ['123456789012', 'arn:aws:iam::1234:role/x', '*']],
      [MEMBER, 'ExternalId', ['', 'keystore-watch'], ['has space']],
      [MONITORING, 'EksOidcProviderUrl', ['', OIDC, 'oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC123'], [`https://${OIDC}`, 'example.com/id/x']],
      [MONITORING, 'TrustedPrincipalArn', ['', CALLER_ARN, 'arn:aws:iam::123456789012:root'], ['arn:aws:iam::123456789012:user/bob']],
    ];
    for (const [file, name, good, bad] of cases) {
      const p = openTemplate(file).Parameters[name];
      const re = new RegExp(`^(?:${p.AllowedPattern})$`);
      for (const v of good) expect(re.test(v), `${name}=${v}`).toBe(true);
      for (const v of bad) expect(re.test(v), `${name}=${v}`).toBe(false);
    }
    for (const file of [MEMBER, MONITORING]) {
      const t = openTemplate(file);
      for (const [name, p] of Object.entries<any>(t.Parameters)) {
        if (p.AllowedPattern && p.Default !== undefined) expect(new RegExp(`^(?:${p.AllowedPattern})$`).test(String(p.Default)), `${file} ${name} default`).toBe(true);
      }
      const conditionsUsed = [...JSON.stringify(t.Resources).matchAll(/"Fn::If":\["(\w+)"/g)].map((m) => m[1]!);
      for (const c of Object.keys(t.Conditions ?? {})) {
        const viaOthers = JSON.stringify(t.Conditions).includes(`{"Condition":"${c}"}`);
        expect(conditionsUsed.includes(c) || viaOthers, `${file}: condition ${c} is never used`).toBe(true);
      }
      expect(Object.keys(t).sort(), file).toEqual(expect.arrayContaining(['AWSTemplateFormatVersion', 'Description', 'Parameters', 'Resources', 'Outputs']));
      for (const k of Object.keys(t)) expect(['AWSTemplateFormatVersion', 'Description', 'Parameters', 'Conditions', 'Resources', 'Outputs', 'Metadata'], `${file}: section ${k}`).toContain(k);
      const used = referencedNames(t.Resources);
      for (const c of Object.values(t.Conditions ?? {})) referencedNames(c, used);
      for (const name of Object.keys(t.Parameters)) expect(used.has(name), `${file}: parameter ${name} is never used`).toBe(true);
    }
  });
});
