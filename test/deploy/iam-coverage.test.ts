// The one permission list (deploy/iam/policy.ts) grants exactly the AWS operations the daemon calls:
// every SDK command and paginator under src/ (the simulator excluded) is granted to some role, and no
// role is granted an action the code never calls. config/iam-policy.json is generated from the list.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IAM_POLICY_PATH, renderIamPolicy } from '../../deploy/iam/gen-iam-policy.js';
import { allActions, NO_PERMISSION_NEEDED, STATEMENTS } from '../../deploy/iam/policy.js';
import { hiddenCallPaths, scanSource, scanText } from './sdk-calls.js';

describe('IAM permission list (deploy/iam/policy.ts)', () => {
  const { calls, problems, imports } = scanSource();
  const used = new Set(calls.map((c) => c.action).filter((a) => !NO_PERMISSION_NEEDED.includes(a)));

  it('the scan attributes every AWS call in src/ to a service, and finds the ones the daemon cannot work without', () => {
    expect(problems).toEqual([]);
    // If these are missing it is the scan that is broken, not the code.
    expect([...used]).toEqual(expect.arrayContaining(['kms:DescribeCustomKeyStores', 'cloudhsm:DescribeClusters', 'sts:AssumeRole', 'account:ListRegions', 'kms:GenerateRandom', 'cloudwatch:GetMetricData', 'cloudwatch:ListMetrics', 'cloudtrail:LookupEvents', 'organizations:ListAccounts']));
  });

  it('no AWS call can hide from the scan: no aggregated client, no waiter imported under src/', async () => {
    expect(await hiddenCallPaths(imports)).toEqual([]);
    // ... and the check sees them when they are there (it can fail).
    const bad = scanText(`import { KMS, waitUntilStackCreateComplete } from '@aws-sdk/client-kms';\nimport { CloudFormation } from '@aws-sdk/client-cloudformation';`, 'x.ts').imports;
    const found = await hiddenCallPaths(bad.filter((i) => i.pkg === '@aws-sdk/client-kms'));
    expect(found.join('\n')).toMatch(/KMS is the aggregated client/);
  });

  it('each command and paginator the scan found exists in its SDK package', async () => {
    for (const c of calls.filter((x) => x.pkg.startsWith('@aws-sdk/client-'))) {
      const mod = await import(c.pkg);
      expect(typeof mod[c.symbol], `${c.file}: ${c.symbol} in ${c.pkg}`).toBe('function');
    }
  });

  it('every AWS operation the daemon calls is granted', () => {
    const granted = new Set(allActions());
    for (const c of calls) {
      if (NO_PERMISSION_NEEDED.includes(c.action)) continue;
      expect(granted.has(c.action), `${c.file} calls ${c.symbol} (${c.action}), which deploy/iam/policy.ts does not grant`).toBe(true);
    }
  });

  it('nothing is granted that the daemon does not call', () => {
    for (const a of allActions()) expect(used.has(a), `deploy/iam/policy.ts grants ${a}, which no code under src/ calls`).toBe(true);
  });

  it('the list is well-formed: unique Sids per role, IAM action syntax, no wildcard, Resource * or a role ARN', () => {
    for (const role of ['member', 'caller', 'organizations'] as const) {
      const sids = STATEMENTS.filter((s) => s.role === role).map((s) => s.sid);
      expect(new Set(sids).size, role).toBe(sids.length);
    }
    for (const s of STATEMENTS) {
      expect(s.sid).toMatch(/^[A-Za-z0-9]+$/);
      for (const a of s.actions) expect(a, s.sid).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
      expect(s.resource === '*' || /^arn:aws:iam::\*:role\/\$\{\w+RoleName\}$/.test(s.resource), s.sid).toBe(true);
    }
    // sts:AssumeRole only for the caller; Organizations never for the member role.
    for (const s of STATEMENTS.filter((x) => x.actions.includes('sts:AssumeRole'))) expect(s.role).toBe('caller');
    for (const s of STATEMENTS.filter((x) => x.role === 'member')) expect(s.actions.some((a) => a.startsWith('organizations:') || a.startsWith('sts:'))).toBe(false);
  });

  it('config/iam-policy.json is generated from the list and up to date', () => {
    expect(readFileSync(IAM_POLICY_PATH, 'utf8'), 'run: npx tsx deploy/iam/gen-iam-policy.ts').toBe(renderIamPolicy());
  });

  it('the scan catches a new call, an unattributable call and a namespace import (the check can fail)', () => {
    const added = scanText(`import { EnableKeyCommand } from '@aws-sdk/client-kms';\nawait kms.send(new EnableKeyCommand({ KeyId }));`, 'x.ts');
    expect(added.calls.map((c) => c.action)).toEqual(['kms:EnableKey']);
    expect(allActions()).not.toContain('kms:EnableKey');
    expect(scanText(`await c.send(new MysteryCommand({}));`, 'y.ts').problems).toHaveLength(1);
    expect(scanText(`import * as kms from '@aws-sdk/client-kms';`, 'z.ts').problems).toHaveLength(1);
    expect(scanText(`import { paginateListAliases as pla } from '@aws-sdk/client-kms';\nfor await (const p of pla({ client }, {})) {}`, 'w.ts').calls.map((c) => c.action)).toEqual(['kms:ListAliases']);
  });
});
