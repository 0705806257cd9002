// Who keystore-watch runs as, and the session limits AWS puts on AssumeRole, end to end: the daemon with the
// real SDK clients against the simulator, whose STS applies role chaining (an assumed-role caller cannot
// ask for more than 1 h) and each role's MaxSessionDuration with the real ValidationError messages.
// Also the aws-cn partition: role ARNs arn:aws-cn:iam::..., China regions.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { parseConfig } from '../../src/config/load.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import type { ScenarioInput } from '../../src/simulator/scenario.js';
import { tempDir } from '../helpers/sim.js';

const xks = (id: string, name: string) => ({ id, name, type: 'EXTERNAL_KEY_STORE', state: 'CONNECTED' });

function scenario(over: Partial<ScenarioInput> & { roleMax?: string } = {}): ScenarioInput {
  const { roleMax, ...rest } = over;
  const roles = roleMax ? { KeystoreWatch: { maxSessionDuration: roleMax } } : undefined;
  return {
    managementAccount: '111111111111',
    faults: { rateLimitPerSecond: 0 },
    accounts: [
      { id: '111111111111', name: 'tooling', regions: { 'us-east-1': {} } },
      { id: '222222222222', name: 'payments', ...(roles ? { roles } : {}), regions: { 'us-east-1': { stores: [xks('cks-c000000000000001', 'pay')] } } },
      { id: '333333333333', name: 'data', ...(roles ? { roles } : {}), regions: { 'eu-west-1': { stores: [xks('cks-c000000000000002', 'data')] } } },
    ],
    ...rest,
  } as ScenarioInput;
}

let sim: RunningSimulator | null = null;
let daemon: Daemon | null = null;
afterEach(async () => {
  await daemon?.stop(2000);
  await sim?.close();
  daemon = null;
  sim = null;
});

/** A daemon whose log lines are kept (JSON), polled `polls` times. */
async function run(s: ScenarioInput, config: Record<string, unknown>, polls = 2) {
  sim = await startSimulator({ scenario: s, port: 0 });
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  const cfg = parseConfig({
    schedule: '0 0 1 1 *', listen: '127.0.0.1:0', stateDir: tempDir(),
    ...config,
    aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '3s', targetTimeout: '8s', ...(config.aws as object) },
  }, 'test-config', {});
  const assumeRoles: string[] = [];
  daemon = new Daemon({ config: cfg, logger: createLogger({ destination: sink, pretty: false, level: 'info' }), credentials: sim.credentials, schedule: false });
  await daemon.start();
  for (let i = 0; i < polls; i++) expect(await daemon.pollNow()).toBe(true);
  const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
  const count = (series: string) => Number(metrics.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1] ?? 0);
  return { snap: daemon.latest!, lines, assumeRoles, count, warnings: lines.filter((l) => l.severity === 'warn') };
}

const roleAccounts = (partition = 'aws') => [
  { id: '222222222222', name: 'payments', roleArn: `arn:${partition}:iam::222222222222:role/KeystoreWatch` },
  { id: '333333333333', name: 'data', roleArn: `arn:${partition}:iam::333333333333:role/KeystoreWatch` },
];

describe('identity and session limits', () => {
  it('logs who it runs as at start', async () => {
    const r = await run(scenario(), { accounts: roleAccounts(), regions: ['us-east-1', 'eu-west-1'] }, 1);
    const who = r.lines.find((l) => l.msg === 'AWS identity')!;
    expect(who).toMatchObject({ account: '111111111111', arn: 'arn:aws:iam::111111111111:user/keystore-watch-simulator', sessionSeconds: 3600 });
    expect(r.warnings).toEqual([]);
  });

  it('role chaining: an assumed-role base identity with sessionDuration 4h polls fine, with one warning explaining the 1 h cap', async () => {
    const r = await run(scenario({ credentials: { baseIdentity: 'role' }, roleMax: '12h' } as never), { accounts: roleAccounts(), regions: ['us-east-1', 'eu-west-1'], aws: { sessionDuration: '4h' } }, 3);
    expect(r.snap.targets.every((t) => t.status === 'ok')).toBe(true);
    expect(r.snap.stores).toHaveLength(2);
    expect(r.lines.find((l) => l.msg === 'AWS identity')).toMatchObject({ arn: expect.stringMatching(/^arn:aws:sts::111111111111:assumed-role\//), sessionSeconds: 3600 });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]!.msg).toMatch(/lowered from 4 h to 1 h.*role chaining.*1 hour/);
    // Capped before the first AssumeRole: no refused attempt, one AssumeRole per role for three polls.
    expect(r.count('keystore_watch_aws_requests_total{service="sts",operation="AssumeRole"}')).toBe(2);
    expect(r.count('keystore_watch_aws_request_failures_total{service="sts",operation="AssumeRole",code="ValidationError"}')).toBe(0);
  });

  it("a duration above a role's MaxSessionDuration is retried once at 1 h, with one warning per role", async () => {
    const r = await run(scenario(), { accounts: roleAccounts(), regions: ['us-east-1', 'eu-west-1'], aws: { sessionDuration: '4h' } }, 3);
    expect(r.snap.targets.every((t) => t.status === 'ok')).toBe(true);
    const caps = r.warnings.filter((w) => /MaxSessionDuration/.test(String(w.msg)));
    expect(caps.map((w) => w.roleArn).sort()).toEqual(['arn:aws:iam::222222222222:role/KeystoreWatch', 'arn:aws:iam::333333333333:role/KeystoreWatch']);
    expect(r.warnings).toHaveLength(2);
    // Per role: the refused 4 h attempt and the 1 h retry, then nothing more for three polls.
    expect(r.count('keystore_watch_aws_requests_total{service="sts",operation="AssumeRole"}')).toBe(4);
  });
});

describe('partition aws-cn', () => {
  it('assumes arn:aws-cn:iam:: roles and polls cn-north-1 and cn-northwest-1', async () => {
    const s = scenario();
    s.partition = 'aws-cn';
    s.accounts = [
      { id: '111111111111', name: 'tooling', regions: { 'cn-northwest-1': {} } },
      { id: '222222222222', name: 'beijing', regions: { 'cn-north-1': { stores: [xks('cks-c000000000000011', 'bj')] }, 'cn-northwest-1': {} } },
      { id: '333333333333', name: 'ningxia', regions: { 'cn-northwest-1': { stores: [xks('cks-c000000000000012', 'nx')] } } },
    ] as ScenarioInput['accounts'];
    const r = await run(s, { accounts: roleAccounts('aws-cn'), regions: ['cn-north-1', 'cn-northwest-1'] }, 1);
    expect(r.snap.targets.map((t) => `${t.accountId}/${t.region}/${t.status}`).sort()).toEqual([
      '222222222222/cn-north-1/ok', '222222222222/cn-northwest-1/ok', '333333333333/cn-north-1/ok', '333333333333/cn-northwest-1/ok',
    ]);
    expect(r.snap.stores.map((x) => x.id).sort()).toEqual(['cks-c000000000000011', 'cks-c000000000000012']);
    expect(r.lines.find((l) => l.msg === 'AWS identity')).toMatchObject({ arn: expect.stringMatching(/^arn:aws-cn:/), homeRegion: 'cn-northwest-1' });
    // The simulator refuses a role ARN of another partition, so the polls above prove the ARNs were aws-cn.
    expect(r.count('keystore_watch_aws_requests_total{service="sts",operation="AssumeRole"}')).toBe(2);
  });

  it('Organizations discovery builds arn:aws-cn:iam:: role ARNs from the partition of the regions', async () => {
    const s = scenario();
    s.partition = 'aws-cn';
    s.accounts = [
      { id: '111111111111', name: 'management', regions: { 'cn-northwest-1': {} } },
      { id: '222222222222', name: 'beijing', regions: { 'cn-north-1': { stores: [xks('cks-c000000000000021', 'bj')] } } },
    ] as ScenarioInput['accounts'];
    const r = await run(s, { organizations: { enabled: true }, regions: ['cn-north-1', 'cn-northwest-1'] }, 1);
    expect(r.snap.targets.map((t) => `${t.accountId}/${t.region}/${t.status}`).sort()).toEqual([
      '111111111111/cn-north-1/ok', '111111111111/cn-northwest-1/ok', '222222222222/cn-north-1/ok', '222222222222/cn-northwest-1/ok',
    ]);
    expect(r.snap.stores.map((x) => x.id)).toEqual(['cks-c000000000000021']);
  });
});
