import { parse as parseYaml } from 'yaml';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionErrorCodeType } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import {
  ALERT_NAMES,
  CONDITIONS,
  SELF_MONITORING_ALERTS,
  defaultSeverity,
  fillCommand,
  guidanceFor,
  missingAzs,
  runbookAnchor,
  selfMonitoringGuidance,
  shellQuote,
  templateFor,
} from '../../src/alert/remediation/guidance.js';
import { CONDITION_GUIDANCE, ERROR_CODE_GUIDANCE, GENERIC_FAILED, type GuidanceTemplate } from '../../src/alert/remediation/table.js';
import type { AlertSubject, Condition, Guidance } from '../../src/model.js';

// Which store types each code applies to, from the AWS KMS API reference (ConnectionErrorCode).
const APPLIES_TO: Record<string, ('AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE')[]> = {
  INTERNAL_ERROR: ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'],
  NETWORK_ERRORS: ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'],
  INVALID_CREDENTIALS: ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'],
  CLUSTER_NOT_FOUND: ['AWS_CLOUDHSM'],
  INSUFFICIENT_CLOUDHSM_HSMS: ['AWS_CLOUDHSM'],
  INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET: ['AWS_CLOUDHSM'],
  SUBNET_NOT_FOUND: ['AWS_CLOUDHSM'],
  USER_LOCKED_OUT: ['AWS_CLOUDHSM'],
  USER_LOGGED_IN: ['AWS_CLOUDHSM'],
  USER_NOT_FOUND: ['AWS_CLOUDHSM'],
  XKS_PROXY_ACCESS_DENIED: ['EXTERNAL_KEY_STORE'],
  XKS_PROXY_INVALID_CONFIGURATION: ['EXTERNAL_KEY_STORE'],
  XKS_PROXY_INVALID_RESPONSE: ['EXTERNAL_KEY_STORE'],
  XKS_PROXY_INVALID_TLS_CONFIGURATION: ['EXTERNAL_KEY_STORE'],
  XKS_PROXY_NOT_REACHABLE: ['EXTERNAL_KEY_STORE'],
  XKS_PROXY_TIMED_OUT: ['EXTERNAL_KEY_STORE'],
  XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION: ['EXTERNAL_KEY_STORE'],
  XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND: ['EXTERNAL_KEY_STORE'],
};

const SDK_CODES = Object.values(ConnectionErrorCodeType).sort();
const CASES = Object.entries(APPLIES_TO).flatMap(([code, types]) => types.map((type) => [code, type] as const));

const subject = (over: Partial<AlertSubject> = {}): AlertSubject => ({
  accountId: '111122223333',
  accountName: 'prod',
  region: 'eu-west-1',
  storeId: 'cks-0123456789abcdef0',
  storeName: 'payments',
  storeType: 'AWS_CLOUDHSM',
  state: 'FAILED',
  errorCode: null,
  clusterId: 'cluster-abcdefghijk',
  details: {},
  ...over,
});

function checkTemplate(t: GuidanceTemplate): void {
  expect(t.summary.length).toBeGreaterThan(20);
  expect(t.summary).not.toContain('\n');
  expect(t.cause.length).toBeGreaterThan(20);
  expect(t.steps.length).toBeGreaterThanOrEqual(2);
  expect(t.commands.length).toBeGreaterThanOrEqual(1);
  for (const c of t.commands) expect(c).toMatch(/^(aws|openssl|curl|kubectl) /);
  for (const d of t.docs) expect(d.url).toMatch(/^https:\/\/docs\.aws\.amazon\.com\//);
}

const index = (g: Guidance, re: RegExp): number => g.commands.findIndex((c) => re.test(c));

describe('remediation table coverage', () => {
  it('has a row for every ConnectionErrorCodeType value of the SDK, and nothing else (fails when the SDK gains a code)', () => {
    expect(SDK_CODES).toHaveLength(18);
    expect(Object.keys(ERROR_CODE_GUIDANCE).sort()).toEqual(SDK_CODES);
    expect(Object.keys(APPLIES_TO).sort()).toEqual(SDK_CODES);
  });

  it('covers each code for exactly the store types it applies to (21 code x type entries)', () => {
    for (const code of SDK_CODES) {
      const types = Object.keys(ERROR_CODE_GUIDANCE[code as keyof typeof ERROR_CODE_GUIDANCE]).sort();
      expect(types, code).toEqual([...APPLIES_TO[code]!].sort());
    }
    expect(CASES).toHaveLength(21);
  });

  it.each(CASES)('%s (%s) has a complete entry', (code, type) => {
    checkTemplate(ERROR_CODE_GUIDANCE[code as keyof typeof ERROR_CODE_GUIDANCE][type]!);
  });

  it('the entries that differ by type really differ', () => {
    for (const code of ['INVALID_CREDENTIALS', 'INTERNAL_ERROR', 'NETWORK_ERRORS'] as const) {
      expect(ERROR_CODE_GUIDANCE[code].AWS_CLOUDHSM!.summary).not.toEqual(ERROR_CODE_GUIDANCE[code].EXTERNAL_KEY_STORE!.summary);
    }
  });

  it.each(CONDITIONS.filter((c) => c !== 'FAILED'))('%s has a complete entry', (c) => {
    const entry = CONDITION_GUIDANCE[c as Exclude<Condition, 'FAILED'>];
    checkTemplate(entry.default);
    if (entry.AWS_CLOUDHSM) checkTemplate(entry.AWS_CLOUDHSM);
    if (entry.EXTERNAL_KEY_STORE) checkTemplate(entry.EXTERNAL_KEY_STORE);
  });

  it.each(Object.keys(GENERIC_FAILED))('generic FAILED guidance for %s is complete', (k) => checkTemplate(GENERIC_FAILED[k as keyof typeof GENERIC_FAILED]));

  it.each(SELF_MONITORING_ALERTS)('%s (Prometheus-only) has guidance', (name) => {
    const g = selfMonitoringGuidance(name);
    expect(g.summary.length).toBeGreaterThan(20);
    expect(g.steps.length).toBeGreaterThanOrEqual(2);
    expect(g.commands.length).toBeGreaterThanOrEqual(1);
    expect(g.runbookAnchor).toBe(name.toLowerCase());
  });
});

describe('guidanceFor: FAILED', () => {
  it.each(CASES)('%s on a %s store: title, ids filled in, disconnect -> (update) -> connect -> describe', (code, type) => {
    const xks = type === 'EXTERNAL_KEY_STORE';
    const s = subject({ storeType: type, errorCode: code, clusterId: xks ? null : 'cluster-abcdefghijk' });
    const g = guidanceFor('FAILED', s);
    expect(g.title).toBe(`KMS custom key store FAILED: ${code}`);
    expect(g.runbookAnchor).toBe('kmscustomkeystorefailed');
    expect(g).toMatchObject({ summary: ERROR_CODE_GUIDANCE[code as keyof typeof ERROR_CODE_GUIDANCE][type]!.summary });
    const d = index(g, /^aws kms disconnect-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1$/);
    const c = index(g, /^aws kms connect-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1$/);
    const w = g.commands.lastIndexOf('aws kms describe-custom-key-stores --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1');
    expect(d, 'disconnect').toBeGreaterThanOrEqual(0);
    expect(c, 'connect after disconnect').toBeGreaterThan(d);
    expect(w, 'describe last').toBe(g.commands.length - 1);
    const u = index(g, /^aws kms update-custom-key-store /);
    if (u >= 0) {
      expect(u).toBeGreaterThan(d);
      expect(u).toBeLessThan(c);
      expect(g.commands[u]).toContain('--custom-key-store-id cks-0123456789abcdef0');
    }
    for (const cmd of g.commands) {
      expect(cmd).not.toMatch(/\{\w+\}/); // every template placeholder filled
      if (/^aws /.test(cmd)) expect(cmd).toMatch(/--region (eu-west-1|"\$AWS_REGION")( |$)/);
    }
    if (!xks) for (const cmd of g.commands.filter((x) => x.includes('describe-clusters --filters'))) expect(cmd).toContain('clusterIds=cluster-abcdefghijk ');
  });

  it('needs an update for the codes whose fix changes a key store property', () => {
    for (const [code, type] of [['INVALID_CREDENTIALS', 'AWS_CLOUDHSM'], ['INVALID_CREDENTIALS', 'EXTERNAL_KEY_STORE'], ['USER_LOCKED_OUT', 'AWS_CLOUDHSM'], ['USER_NOT_FOUND', 'AWS_CLOUDHSM'], ['CLUSTER_NOT_FOUND', 'AWS_CLOUDHSM'], ['SUBNET_NOT_FOUND', 'AWS_CLOUDHSM'], ['XKS_PROXY_INVALID_CONFIGURATION', 'EXTERNAL_KEY_STORE'], ['XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND', 'EXTERNAL_KEY_STORE']] as const) {
      expect(index(guidanceFor('FAILED', subject({ storeType: type, errorCode: code })), /update-custom-key-store/), code).toBeGreaterThanOrEqual(0);
    }
    const pw = guidanceFor('FAILED', subject({ errorCode: 'INVALID_CREDENTIALS' }));
    expect(pw.commands).toContain('aws kms update-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --key-store-password "$KMSUSER_PASSWORD" --region eu-west-1');
  });

  it('INSUFFICIENT_CLOUDHSM_HSMS creates HSMs in the cluster zones that have none', () => {
    const g = guidanceFor('FAILED', subject({ errorCode: 'INSUFFICIENT_CLOUDHSM_HSMS', details: { 'Cluster AZs': 'eu-west-1a, eu-west-1c' } }));
    expect(g.commands).toContain('aws cloudhsmv2 describe-clusters --filters clusterIds=cluster-abcdefghijk --region eu-west-1');
    expect(g.commands).toContain('aws cloudhsmv2 create-hsm --cluster-id cluster-abcdefghijk --availability-zone eu-west-1a --region eu-west-1');
    expect(g.commands).toContain('aws cloudhsmv2 create-hsm --cluster-id cluster-abcdefghijk --availability-zone eu-west-1c --region eu-west-1');
  });

  it('a code of one store type gets its guidance even when the store type is unknown', () => {
    const g = guidanceFor('FAILED', subject({ storeType: 'SOMETHING_NEW', errorCode: 'XKS_PROXY_TIMED_OUT' }));
    expect(g.summary).toBe(ERROR_CODE_GUIDANCE.XKS_PROXY_TIMED_OUT.EXTERNAL_KEY_STORE!.summary);
  });

  it.each([
    ['AWS_CLOUDHSM', GENERIC_FAILED.AWS_CLOUDHSM],
    ['EXTERNAL_KEY_STORE', GENERIC_FAILED.EXTERNAL_KEY_STORE],
    ['NEW_STORE_TYPE', GENERIC_FAILED.UNKNOWN],
    [null, GENERIC_FAILED.UNKNOWN],
  ])('an unknown error code on a %s store still gets useful generic guidance', (type, expected) => {
    const g = guidanceFor('FAILED', subject({ storeType: type, errorCode: 'HSM_ON_FIRE_2031' }));
    expect(g.title).toBe('KMS custom key store FAILED: HSM_ON_FIRE_2031');
    expect(g.summary).toBe(expected.summary);
    expect(g.steps.length).toBeGreaterThanOrEqual(3);
    expect(g.commands).toContain('aws kms disconnect-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1');
    expect(g.commands).toContain('aws kms connect-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1');
    expect(g.docs.length).toBeGreaterThan(0);
    expect(g.runbookAnchor).toBe('kmscustomkeystorefailed');
  });

  it('a missing error code and codes that look like object keys get generic guidance', () => {
    expect(guidanceFor('FAILED', subject({ errorCode: null })).title).toBe('KMS custom key store FAILED');
    for (const code of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'internal_error']) {
      const g = guidanceFor('FAILED', subject({ errorCode: code }));
      expect(g.summary, code).toBe(GENERIC_FAILED.AWS_CLOUDHSM.summary);
    }
  });

  it('a hostile error code is defanged in the title', () => {
    const g = guidanceFor('FAILED', subject({ errorCode: `<!channel> *x*\n${'Z'.repeat(500)}` }));
    expect(g.title).not.toMatch(/[<>*\n]/);
    expect(g.title.length).toBeLessThanOrEqual(100);
  });
});

describe('guidanceFor: other conditions', () => {
  it.each(CONDITIONS)('%s has runbookAnchor = lower-cased alert name and a title', (c) => {
    const g = guidanceFor(c, subject({ errorCode: c === 'FAILED' ? 'NETWORK_ERRORS' : null }));
    expect(g.runbookAnchor).toBe(ALERT_NAMES[c].toLowerCase());
    expect(runbookAnchor(ALERT_NAMES[c])).toBe(g.runbookAnchor);
    expect(g.title.length).toBeGreaterThan(5);
    for (const cmd of g.commands) expect(cmd).not.toMatch(/\{\w+\}/);
  });

  it('alert names match the Prometheus rules one to one', () => {
    const rules = parseYaml(readFileSync(new URL('../../config/prometheus/alerts.yml', import.meta.url), 'utf8')) as { groups: { rules: { alert?: string }[] }[] };
    const ruleNames = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((n): n is string => Boolean(n)).sort();
    expect([...Object.values(ALERT_NAMES), ...SELF_MONITORING_ALERTS].sort()).toEqual(ruleNames);
    expect(new Set(Object.values(ALERT_NAMES)).size).toBe(Object.keys(ALERT_NAMES).length);
  });

  it('default severities', () => {
    const critical = CONDITIONS.filter((c) => defaultSeverity(c) === 'critical').sort();
    expect(critical).toEqual(['CLUSTER_MISSING', 'CLUSTER_UNKNOWN_STATE', 'FAILED', 'NO_ACTIVE_HSMS', 'PROBE_FAILING', 'SELF', 'UNKNOWN_STATE']);
    expect(defaultSeverity('FLAPPING')).toBe('warning');
    expect(defaultSeverity('PROBE_NOT_PERMITTED')).toBe('warning');
    expect(defaultSeverity('DISCONNECTED')).toBe('warning');
    expect(defaultSeverity('TARGET_DOWN')).toBe('warning');
  });

  it('CONNECTING_TOO_LONG differs by store type', () => {
    expect(guidanceFor('CONNECTING_TOO_LONG', subject({ storeType: 'AWS_CLOUDHSM' })).summary).toContain('20 minutes');
    expect(guidanceFor('CONNECTING_TOO_LONG', subject({ storeType: 'EXTERNAL_KEY_STORE', clusterId: null })).summary).toContain('5 minutes');
    expect(guidanceFor('CONNECTING_TOO_LONG', subject({ storeType: null })).summary).toBe(CONDITION_GUIDANCE.CONNECTING_TOO_LONG.default.summary);
  });

  it('SINGLE_AZ: describe-clusters and create-hsm in a zone without an ACTIVE HSM', () => {
    const g = guidanceFor('SINGLE_AZ', subject({ state: 'CONNECTED', details: { 'Active AZs': 'eu-west-1a', 'Cluster AZs': 'eu-west-1a,eu-west-1b' } }));
    expect(g.commands).toEqual([
      'aws cloudhsmv2 describe-clusters --filters clusterIds=cluster-abcdefghijk --region eu-west-1',
      'aws cloudhsmv2 create-hsm --cluster-id cluster-abcdefghijk --availability-zone eu-west-1b --region eu-west-1',
    ]);
    // Without the cluster's zones, a zone of the region other than the active one is suggested.
    const guess = guidanceFor('SINGLE_AZ', subject({ details: { 'Active AZs': 'eu-west-1a' } }));
    expect(guess.commands[1]).toContain('--availability-zone eu-west-1b ');
    expect(missingAzs({ region: 'eu-west-1', details: { 'Active AZs': 'eu-west-1a', 'Cluster AZs': 'eu-west-1a' } })).toEqual([]);
    expect(guidanceFor('SINGLE_AZ', subject({ details: { 'Active AZs': 'eu-west-1a', 'Cluster AZs': 'eu-west-1a' } })).commands[1]).toContain('--availability-zone "$AVAILABILITY_ZONE"');
  });

  it('NO_ACTIVE_HSMS: two HSMs in two zones', () => {
    const g = guidanceFor('NO_ACTIVE_HSMS', subject({ state: 'CONNECTED', details: { 'Cluster AZs': 'eu-west-1a,eu-west-1b,eu-west-1c' } }));
    expect(g.commands.filter((c) => c.includes('create-hsm'))).toEqual([
      'aws cloudhsmv2 create-hsm --cluster-id cluster-abcdefghijk --availability-zone eu-west-1a --region eu-west-1',
      'aws cloudhsmv2 create-hsm --cluster-id cluster-abcdefghijk --availability-zone eu-west-1b --region eu-west-1',
    ]);
  });

  it('HSM_DEGRADED: replacement in the same zone, then delete the degraded HSM', () => {
    const g = guidanceFor('HSM_DEGRADED', subject({ state: 'CONNECTED', details: { HSM: 'hsm-abcdefghijk', 'HSM AZ': 'eu-west-1c' } }));
    expect(g.commands).toEqual([
      'aws cloudhsmv2 describe-clusters --filters clusterIds=cluster-abcdefghijk --region eu-west-1',
      'aws cloudhsmv2 create-hsm --cluster-id cluster-abcdefghijk --availability-zone eu-west-1c --region eu-west-1',
      'aws cloudhsmv2 delete-hsm --cluster-id cluster-abcdefghijk --hsm-id hsm-abcdefghijk --region eu-west-1',
    ]);
  });

  it('CLUSTER_MISSING and CLUSTER_NOT_ACTIVE look the cluster up', () => {
    for (const c of ['CLUSTER_MISSING', 'CLUSTER_NOT_ACTIVE', 'CLUSTER_CERT_EXPIRING', 'PROBE_FAILING'] as const) {
      expect(guidanceFor(c, subject({ state: 'CONNECTED' })).commands.some((x) => x.includes('describe-clusters --filters clusterIds=cluster-abcdefghijk')), c).toBe(true);
    }
  });

  it('TARGET_DOWN uses the role ARN from the details, and a variable without it', () => {
    const s = subject({ storeId: null, storeName: null, storeType: null, state: null, clusterId: null, details: { 'Role ARN': 'arn:aws:iam::111122223333:role/KeystoreWatch' } });
    expect(guidanceFor('TARGET_DOWN', s).commands[0]).toBe('aws sts assume-role --role-arn arn:aws:iam::111122223333:role/KeystoreWatch --role-session-name keystore-watch-check --region eu-west-1');
    expect(guidanceFor('TARGET_DOWN', { ...s, details: {} }).commands[0]).toContain('--role-arn "$ROLE_ARN"');
  });

  it('unknown ids become shell variables instead of empty arguments', () => {
    const g = guidanceFor('FAILED', subject({ storeId: null, clusterId: null, errorCode: 'CLUSTER_NOT_FOUND' }));
    expect(g.commands).toContain('aws cloudhsmv2 describe-clusters --filters clusterIds="$CLUSTER_ID" --region eu-west-1');
    expect(g.commands).toContain('aws kms disconnect-custom-key-store --custom-key-store-id "$CUSTOM_KEY_STORE_ID" --region eu-west-1');
  });

  it('templateFor reports generic matches', () => {
    expect(templateFor('FAILED', 'AWS_CLOUDHSM', 'NOPE').generic).toBe(true);
    expect(templateFor('FAILED', 'AWS_CLOUDHSM', 'USER_NOT_FOUND').generic).toBe(false);
  });
});

describe('shell safety of filled commands', () => {
  it('leaves plain AWS ids unquoted and quotes everything else', () => {
    expect(shellQuote('cks-0123456789abcdef0')).toBe('cks-0123456789abcdef0');
    expect(shellQuote('arn:aws:iam::111122223333:role/a+b=c,d.e@f')).toBe('arn:aws:iam::111122223333:role/a+b=c,d.e@f');
    expect(shellQuote('a b')).toBe(`'a b'`);
    expect(shellQuote(`it's`)).toBe(`'it'\\''s'`);
    expect(shellQuote('$(id)')).toBe(`'$(id)'`);
    expect(shellQuote('a\nb')).toBe(`'a?b'`);
    expect(fillCommand('x {storeId} {unknown}', { storeId: 'a;b' })).toBe(`x 'a;b' {unknown}`);
  });

  it('hostile ids reach the command as single arguments and run nothing (checked with a real shell)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-shell-'));
    const canary = join(dir, 'pwned');
    try {
      const hostile = {
        storeId: `cks-1'; touch ${canary}; echo '$(touch ${canary}) \`touch ${canary}\` "\\ $HOME | & > ${canary}`,
        region: `eu-west-1 $(touch ${canary})`,
        clusterId: `cluster-"x" ; touch ${canary} #`,
        az: `eu-west-1a' && touch ${canary}; '`,
      };
      const s = subject({ storeId: hostile.storeId, region: hostile.region, clusterId: hostile.clusterId, details: { 'Cluster AZs': hostile.az } });
      const all: string[] = [];
      for (const c of CONDITIONS) for (const code of [null, ...SDK_CODES]) all.push(...guidanceFor(c, { ...s, errorCode: code, storeType: 'AWS_CLOUDHSM' }).commands);
      for (const code of SDK_CODES) all.push(...guidanceFor('FAILED', { ...s, errorCode: code, storeType: 'EXTERNAL_KEY_STORE' }).commands);
      const commands = [...new Set(all)];
      // Stub every program the commands call: print the arguments NUL-separated, one command per line.
      const stubs = ['aws', 'openssl', 'curl', 'kubectl', 'date'].map((p) => `${p}() { printf '%s\\0' "${p}" "$@"; printf '\\n'; }`).join('\n');
      const script = `${stubs}\nset -u\nexport XKS_PROXY_HOST=h VPC_ENDPOINT_SERVICE_NAME=n VPC_ENDPOINT_SERVICE_ID=i KMSUSER_PASSWORD=p XKS_ACCESS_KEY_ID=a XKS_SECRET_ACCESS_KEY=s XKS_URI_PATH=u SUBNET_ID=s1 SUBNET_ID_1=s1 SUBNET_ID_2=s2 BACKUP_ID=b HSM_TYPE=t NEW_CLUSTER_ID=n AVAILABILITY_ZONE=z SECOND_AVAILABILITY_ZONE=z2 HSM_ID=hh ROLE_ARN=r KEYSTORE_WATCH_HOST=k IAM_ACTION=a POLICY_ID=p AWS_DNS_SUFFIX=d ACCOUNT_ID=1\n${commands.join('\n')}\n`;
      const out = execFileSync('bash', ['-c', script], { encoding: 'utf8', cwd: dir });
      expect(existsSync(canary)).toBe(false);
      const argvs = out.split('\n').filter(Boolean).map((l) => l.split('\0').filter((x, i, a) => i < a.length - 1 || x !== ''));
      const flat = argvs.flat();
      // The store id is always exactly one argument; the cluster id exactly one, or the tail of clusterIds=...
      expect(flat.filter((a) => a === hostile.storeId).length).toBeGreaterThanOrEqual(5);
      expect(flat.filter((a) => a === hostile.region).length).toBeGreaterThanOrEqual(5);
      expect(flat.some((a) => a === `clusterIds=${hostile.clusterId}`)).toBe(true);
      expect(flat.some((a) => a === hostile.clusterId)).toBe(true);
      for (const argv of argvs.filter((a) => a[0] === 'aws')) {
        const i = argv.indexOf('--custom-key-store-id');
        if (i >= 0) expect(argv[i + 1]).toBe(hostile.storeId);
        const r = argv.indexOf('--region');
        if (r >= 0) expect(argv[r + 1]).toBe(hostile.region);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
