// Organizations discovery end to end: the real daemon (real SDK clients over HTTP) against the simulator.
// Refresh at most once per organizations.refreshInterval (counted by the simulator), the last good
// answer kept with its age exported when a read fails, the Organizations role of a tooling account, OU
// paths and tags in the metrics, the API, `once --format json` and a Slack alert, OU include/exclude, and
// the same from a tooling account in the aws-cn partition.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListParentsCommand, OrganizationsClient } from '@aws-sdk/client-organizations';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from '../helpers/sim.js';
import { runCli } from '../helpers/cli.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { assertSlackPayload } from '../helpers/slack-limits.js';

const MIN = 60_000;
const T0 = Date.parse('2026-03-02T09:00:00Z');

let sim: RunningSimulator;
const running: Daemon[] = [];

beforeAll(async () => { sim = await simulator('org-fleet.yaml'); });
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop(1000);
  await fetch(`${sim.url}/_sim/faults`, { method: 'DELETE' });
  await fetch(`${sim.url}/_sim/faults`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rateLimitPerSecond: 0 }) });
  await fetch(`${sim.url}/_sim/accounts/333333333333`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'ACTIVE' }) });
  await fetch(`${sim.url}/_sim/accounts/111111111111`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ missingPermissions: [] }) });
});
afterAll(async () => { await sim?.close(); });

/** Organizations requests the simulator answered so far, per operation (from its control API). */
async function orgCalls(): Promise<Record<string, number>> {
  const c = (await (await fetch(`${sim.url}/_sim/counters/organizations`)).json()) as { byOperation: Record<string, { ok: number; throttled: number; failed: number }> };
  const out: Record<string, number> = {};
  for (const [op, t] of Object.entries(c.byOperation)) out[op] = t.ok + t.throttled + t.failed;
  return out;
}
const total = (calls: Record<string, number>) => Object.values(calls).reduce((a, b) => a + b, 0);

/** Polls (real time) until check() is truthy; for conditions reached by background work. */
async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A daemon on a virtual clock, polled by the test, with discovery on (the management account listed explicitly). */
async function orgDaemon(extra: Record<string, unknown>, opts: { clock: { t: number }; credentials?: typeof BASE_CREDENTIALS }) {
  const { organizations, ...rest } = extra as { organizations?: Record<string, unknown> };
  const config = simConfig(sim, {
    accounts: [{ id: '111111111111', name: 'management' }],
    regions: ['us-east-1'],
    organizations: { enabled: true, refreshInterval: '10m', ...organizations },
    ...rest,
  });
  const daemon = new Daemon({ config, logger: silentLogger(), credentials: opts.credentials ?? BASE_CREDENTIALS, schedule: false, now: () => opts.clock.t });
  running.push(daemon);
  await daemon.start();
  return daemon;
}

const metrics = async (d: Daemon) => (await fetch(`${d.url}/metrics`)).text();
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};
const polledAccounts = (d: Daemon) => [...new Set(d.latest!.targets.map((t) => t.accountId))].sort();

describe('Organizations refresh', () => {
  it('makes no Organizations call between refreshes, and reads again once refreshInterval has passed', async () => {
    const clock = { t: T0 };
    const d = await orgDaemon({}, { clock });
    const before = await orgCalls();
    await d.pollNow();
    const first = await orgCalls();
    expect(first.ListRoots! - (before.ListRoots ?? 0)).toBe(1); // one read: one walk of the tree from its root
    expect(polledAccounts(d)).toEqual(['111111111111', '222222222222', '333333333333', '444444444444', '555555555555']);

    // The organization changes; polls inside the interval neither ask nor notice.
    await fetch(`${sim.url}/_sim/accounts/333333333333`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'SUSPENDED' }) });
    for (let i = 1; i <= 5; i++) {
      clock.t = T0 + i * MIN + 59_000;
      await d.pollNow();
      expect(total(await orgCalls()), `poll ${i + 1}`).toBe(total(first));
    }
    expect(polledAccounts(d)).toContain('333333333333');

    // Past the interval: the poll answers from the last read and reads again in the background ...
    clock.t = T0 + 10 * MIN;
    await d.pollNow();
    await until('a second walk', async () => ((await orgCalls()).ListRoots ?? 0) > first.ListRoots!);
    // ... whose answer the next poll uses.
    await until('the suspended account dropped', async () => { await d.pollNow(); return !polledAccounts(d).includes('333333333333'); });
    expect((await orgCalls()).ListRoots! - first.ListRoots!).toBe(1);
  });

  it('keeps the last good account list when a read fails, and exports its age', async () => {
    const clock = { t: T0 };
    const d = await orgDaemon({}, { clock });
    await d.pollNow();
    const accounts = polledAccounts(d);
    expect(sample(await metrics(d), 'keystore_watch_organizations_age_seconds')).toBe(0);

    await fetch(`${sim.url}/_sim/faults`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errors: [{ service: 'organizations', operation: 'ListRoots', error: 'ServiceException', status: 500 }] }) });
    clock.t = T0 + 15 * MIN;
    await d.pollNow();
    await until('the failed read counted', async () => (sample(await metrics(d), 'keystore_watch_organizations_errors_total{code="ServiceException"}') ?? 0) >= 1);
    clock.t = T0 + 16 * MIN;
    await d.pollNow();
    expect(polledAccounts(d)).toEqual(accounts);
    expect(sample(await metrics(d), 'keystore_watch_organizations_age_seconds')).toBe(16 * 60);

    // AWS answers again: once the backoff has passed (and a failing read still in flight on a loaded machine
    // has ended), a read succeeds and the age drops back to minutes, not the 16 it had reached.
    await fetch(`${sim.url}/_sim/faults`, { method: 'DELETE' });
    await until('a good read again', async () => {
      clock.t += 2 * MIN;
      await d.pollNow();
      return (sample(await metrics(d), 'keystore_watch_organizations_age_seconds') ?? Infinity) <= 2 * 60;
    });
  });
});

describe('Organizations role (daemon in a tooling account)', () => {
  const tooling = { accessKeyId: baseAccessKeyId('444444444444'), secretAccessKey: 'tooling-secret' };
  const role = 'arn:aws:iam::111111111111:role/KeystoreWatchOrganizations';

  it('without organizations.roleArn the tooling account cannot list the organization', async () => {
    const clock = { t: T0 };
    const d = await orgDaemon({ accounts: [{ id: '444444444444', name: 'tooling' }] }, { clock, credentials: tooling });
    await d.pollNow();
    expect(polledAccounts(d)).toEqual(['444444444444']);
    expect(sample(await metrics(d), 'keystore_watch_organizations_errors_total{code="AccessDeniedException"}')).toBe(1);
  });

  it('with organizations.roleArn and its external id it discovers the organization through that role', async () => {
    const clock = { t: T0 };
    const d = await orgDaemon({
      accounts: [{ id: '444444444444', name: 'tooling' }],
      // The member roles of the other accounts need no external id; the management account's role is excluded.
      organizations: { roleArn: role, roleExternalId: 'org-ext-1234', excludeAccounts: ['111111111111'] },
    }, { clock, credentials: tooling });
    const assumed = (await (await fetch(`${sim.url}/_sim/requests?service=sts&operation=AssumeRole&account=444444444444`)).json()) as unknown[];
    await d.pollNow();
    expect(polledAccounts(d)).toEqual(['222222222222', '333333333333', '444444444444', '555555555555']);
    // The Organizations calls were signed by the role's account, not the tooling one.
    const listed = (await (await fetch(`${sim.url}/_sim/requests?service=organizations&operation=ListAccountsForParent`)).json()) as { account: string }[];
    expect(listed.at(-1)!.account).toBe('111111111111');
    const assumedAfter = (await (await fetch(`${sim.url}/_sim/requests?service=sts&operation=AssumeRole&account=444444444444`)).json()) as unknown[];
    expect(assumedAfter.length).toBeGreaterThan(assumed.length);
  });

  it('a wrong external id for the Organizations role fails discovery with the role\'s AccessDenied', async () => {
    const clock = { t: T0 };
    const d = await orgDaemon({
      accounts: [{ id: '444444444444', name: 'tooling' }],
      organizations: { roleArn: role, roleExternalId: 'wrong-external-id' },
    }, { clock, credentials: tooling });
    await d.pollNow();
    expect(polledAccounts(d)).toEqual(['444444444444']);
    expect(sample(await metrics(d), 'keystore_watch_organizations_errors_total{code="AccessDenied"}')).toBe(1);
  });
});

describe('OU paths and tags end to end', () => {
  let rx: Receiver | undefined;
  afterEach(async () => { await rx?.close(); rx = undefined; });

  it('reach keystore_watch_account_info, /api/v1/stores and a Slack alert; each read walks the tree, never one ListParents per account', async () => {
    rx = await startReceiver();
    const clock = { t: T0 };
    const d = await orgDaemon({
      organizations: { tags: ['owner', 'CostCenter'] },
      alerting: { confirmations: 2, channels: [{ type: 'slack', webhookUrl: `${rx.url}/services/T0/B0/orgs-e2e`, minSeverity: 'warning' }] },
    }, { clock });
    const c0 = await orgCalls();
    await d.pollNow();
    const c1 = await orgCalls();
    clock.t += MIN;
    await d.pollNow(); // FAILED confirmed: the alert goes out

    const text = await metrics(d);
    const info = text.split('\n').filter((l) => l.startsWith('keystore_watch_account_info{')).sort();
    expect(info).toEqual([
      'keystore_watch_account_info{account_id="111111111111",account_name="management",ou_path="/"} 1',
      'keystore_watch_account_info{account_id="222222222222",account_name="payments",ou_path="/Prod/Payments",tag_cost_center="cc-42",tag_owner="payments"} 1',
      'keystore_watch_account_info{account_id="333333333333",account_name="sandbox",ou_path="/Sandbox",tag_owner="sandbox-team"} 1',
      'keystore_watch_account_info{account_id="444444444444",account_name="tooling",ou_path="/Infra"} 1',
      'keystore_watch_account_info{account_id="555555555555",account_name="payments-eu",ou_path="/Prod/Payments/EU",tag_owner="payments-eu"} 1',
    ]);

    const api = (await (await fetch(`${d.url}/api/v1/stores`)).json()) as { stores: { customKeyStoreId: string; ouPath: string | null; tags: Record<string, string> }[] };
    expect(api.stores.find((x) => x.customKeyStoreId === 'cks-o222222222222222a')).toMatchObject({ ouPath: '/Prod/Payments', tags: { owner: 'payments', CostCenter: 'cc-42' } });
    expect(api.stores.find((x) => x.customKeyStoreId === 'cks-o222222222222222a')!.tags).not.toHaveProperty('unrelated');
    expect(api.stores.find((x) => x.customKeyStoreId === 'cks-o111111111111111a')).toMatchObject({ ouPath: '/', tags: {} });

    await rx.waitFor(1, 20_000);
    const slack = rx.requests[0]!;
    assertSlackPayload(slack.json);
    const body = JSON.stringify(slack.json);
    expect(body).toContain('pay-hsm');
    expect(body).toContain('*OU* `/Prod/Payments`');
    expect(body).toContain('*owner* payments');
    expect(body).toContain('*CostCenter* cc-42');

    // The first read walks the tree: the root and five OUs (/, /Prod, /Prod/Payments, /Prod/Payments/EU,
    // /Sandbox, /Infra), one page each of child OUs and of accounts; tags per account; no ListParents.
    const OPS = ['ListRoots', 'ListOrganizationalUnitsForParent', 'ListAccountsForParent', 'ListAccounts', 'ListParents', 'DescribeOrganizationalUnit', 'ListTagsForResource'];
    const first = (op: string) => (c1[op] ?? 0) - (c0[op] ?? 0);
    expect(OPS.map(first)).toEqual([1, 6, 6, 0, 0, 0, 5]);
    // The next read (after refreshInterval) walks again (OU names are read with it) and reads the tags.
    clock.t = T0 + 10 * MIN;
    await d.pollNow();
    await until('the second read', async () => ((await orgCalls()).ListTagsForResource ?? 0) - (c1.ListTagsForResource ?? 0) === 5);
    const c2 = await orgCalls();
    const second = (op: string) => (c2[op] ?? 0) - (c1[op] ?? 0);
    expect(OPS.map(second)).toEqual([1, 6, 6, 0, 0, 0, 5]);
  });

  it('reach once --format json', async () => {
    const dir = tempDir();
    const file = join(dir, 'org.yaml');
    writeFileSync(file, stringify({
      aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '3s' },
      accounts: [{ id: '111111111111', name: 'management', tags: { owner: 'platform' } }],
      organizations: { enabled: true, tags: ['owner'], excludeAccounts: ['444444444444'] },
      regions: ['us-east-1'],
    }));
    const r = await runCli(['once', '--config', file, '--format', 'json'], { env: { AWS_ACCESS_KEY_ID: BASE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: BASE_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' } });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { stores: { customKeyStoreId: string; ouPath: string | null; tags: Record<string, string> }[] };
    const byId = new Map(out.stores.map((x) => [x.customKeyStoreId, x]));
    expect(byId.get('cks-o222222222222222a')).toMatchObject({ ouPath: '/Prod/Payments', tags: { owner: 'payments' } });
    expect(byId.get('cks-o555555555555555a')).toMatchObject({ ouPath: '/Prod/Payments/EU', tags: { owner: 'payments-eu' } });
    // The config's own tags win for an explicit account; its OU still comes from Organizations.
    expect(byId.get('cks-o111111111111111a')).toMatchObject({ ouPath: '/', tags: { owner: 'platform' } });
  });
});

describe('include and exclude by OU', () => {
  /** The OU id the simulator gave /Prod/Payments/EU, read with a real client as an operator would. */
  async function ouIdOf(accountId: string): Promise<string> {
    const client = new OrganizationsClient({ endpoint: sim.url, region: 'us-east-1', credentials: BASE_CREDENTIALS });
    const { Parents } = await client.send(new ListParentsCommand({ ChildId: accountId }));
    client.destroy();
    return Parents![0]!.Id!;
  }

  it('a path takes its subtree, an OU id cuts a branch out, explicit accounts stay', async () => {
    const euOu = await ouIdOf('555555555555');
    expect(euOu).toMatch(/^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/);
    const cases: [Record<string, unknown>, string[]][] = [
      [{ includeOUs: ['/Prod'] }, ['111111111111', '222222222222', '555555555555']],
      [{ includeOUs: ['/Prod/Payments'], excludeOUs: [euOu] }, ['111111111111', '222222222222']],
      [{ excludeOUs: ['/Prod', '/Infra'] }, ['111111111111', '333333333333']],
      [{ includeOUs: ['/Prod/Pay'] }, ['111111111111']], // a prefix of a name is not an OU
    ];
    for (const [filters, expected] of cases) {
      const d = await orgDaemon({ organizations: filters }, { clock: { t: T0 } });
      await d.pollNow();
      expect(polledAccounts(d), JSON.stringify(filters)).toEqual(expected);
    }
  });

  it('TooManyRequestsException from Organizations is retried: every placement still arrives', async () => {
    await fetch(`${sim.url}/_sim/faults`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rateLimits: { ListParents: 2, DescribeOrganizationalUnit: 2, ListTagsForResource: 2 } }) });
    const before = (await (await fetch(`${sim.url}/_sim/counters/organizations`)).json()) as { byOperation: Record<string, { throttled: number }> };
    const d = await orgDaemon({ aws: { maxAttempts: 10 }, organizations: { tags: ['owner'] } }, { clock: { t: T0 } });
    await d.pollNow();
    const after = (await (await fetch(`${sim.url}/_sim/counters/organizations`)).json()) as { byOperation: Record<string, { throttled: number }> };
    const throttled = Object.entries(after.byOperation).reduce((n, [op, t]) => n + t.throttled - (before.byOperation[op]?.throttled ?? 0), 0);
    expect(throttled).toBeGreaterThan(0);
    const text = await metrics(d);
    expect(text).toContain('account_id="555555555555",account_name="payments-eu",ou_path="/Prod/Payments/EU",tag_owner="payments-eu"');
    expect(text).not.toMatch(/keystore_watch_organizations_enrichment_failures_total\{[^}]*\} [1-9]/);
  });
});

describe('an IAM policy from before OU paths and tags (organizations:ListAccounts only)', () => {
  // Without the top-down walk's actions the read falls back to ListAccounts (+ ListParents per account).
  const TREE = ['organizations:ListRoots', 'organizations:ListOrganizationalUnitsForParent', 'organizations:ListAccountsForParent'];
  const deny = (actions: string[]) => fetch(`${sim.url}/_sim/accounts/111111111111`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ missingPermissions: actions }) });

  it('still discovers every account; OU paths and tags stay unknown, each denied operation is tried at most twice and reported', async () => {
    await deny([...TREE, 'organizations:ListParents', 'organizations:ListTagsForResource']);
    const c0 = await orgCalls();
    const d = await orgDaemon({ organizations: { tags: ['owner'] } }, { clock: { t: T0 } });
    await d.pollNow();
    expect(polledAccounts(d)).toEqual(['111111111111', '222222222222', '333333333333', '444444444444', '555555555555']);
    const c1 = await orgCalls();
    expect((c1.ListParents ?? 0) - (c0.ListParents ?? 0)).toBeLessThanOrEqual(2);
    expect((c1.ListTagsForResource ?? 0) - (c0.ListTagsForResource ?? 0)).toBeLessThanOrEqual(2);
    const text = await metrics(d);
    expect(text).toContain('keystore_watch_account_info{account_id="222222222222",account_name="payments",ou_path=""} 1');
    expect(sample(text, 'keystore_watch_organizations_enrichment_failures_total{operation="ListParents",code="AccessDeniedException"}')).toBe(5);
    expect(sample(text, 'keystore_watch_organizations_enrichment_failures_total{operation="ListTagsForResource",code="AccessDeniedException"}')).toBe(5);
    expect(sample(text, 'keystore_watch_organizations_age_seconds')).toBe(0); // the account list itself is fresh
  });

  it('with OU filters, an account whose OU cannot be read is left out by includeOUs and kept by excludeOUs', async () => {
    await deny([...TREE, 'organizations:ListParents']);
    const inc = await orgDaemon({ organizations: { includeOUs: ['/Prod'] } }, { clock: { t: T0 } });
    await inc.pollNow();
    expect(polledAccounts(inc)).toEqual(['111111111111']);
    const exc = await orgDaemon({ organizations: { excludeOUs: ['/Prod'] } }, { clock: { t: T0 } });
    await exc.pollNow();
    expect(polledAccounts(exc)).toEqual(['111111111111', '222222222222', '333333333333', '444444444444', '555555555555']);
  });
});

describe('aws-cn: Organizations discovery from a tooling account', () => {
  it('assumes the arn:aws-cn Organizations role, polls cn-north-1 and cn-northwest-1, and carries OU paths and tags', async () => {
    const cn = await simulator('org-fleet-cn.yaml');
    try {
      const config = parseConfig({
        schedule: '0 0 1 1 *', listen: '127.0.0.1:0', stateDir: tempDir(),
        aws: { endpoint: cn.url, maxAttempts: 2, requestTimeout: '3s', targetTimeout: '8s' },
        accounts: [{ id: '444444444444', name: 'tooling' }],
        regions: ['cn-north-1', 'cn-northwest-1'],
        organizations: {
          enabled: true, tags: ['owner'], excludeAccounts: ['111111111111'],
          roleArn: 'arn:aws-cn:iam::111111111111:role/KeystoreWatchOrganizations', roleExternalId: 'org-ext-cn-1234',
        },
      }, 'aws-cn-config', {});
      expect(config.aws.homeRegion).toBe('cn-northwest-1');
      const d = new Daemon({ config, logger: silentLogger(), credentials: { accessKeyId: baseAccessKeyId('444444444444'), secretAccessKey: 'x' }, schedule: false });
      running.push(d);
      await d.start();
      await d.pollNow();
      // The simulator refuses role ARNs of another partition: these answers prove arn:aws-cn roles throughout.
      expect(d.latest!.targets.map((t) => `${t.accountId}/${t.region}/${t.ok}`).sort()).toEqual([
        '222222222222/cn-north-1/true', '222222222222/cn-northwest-1/true', '333333333333/cn-north-1/true', '333333333333/cn-northwest-1/true',
        '444444444444/cn-north-1/true', '444444444444/cn-northwest-1/true',
      ]);
      const listed = (await (await fetch(`${cn.url}/_sim/requests?service=organizations&operation=ListRoots`)).json()) as { account: string; region: string }[];
      expect(listed.map((l) => l.account)).toEqual(['111111111111']);
      const text = await metrics(d);
      expect(text).toContain('keystore_watch_account_info{account_id="222222222222",account_name="beijing",ou_path="/Prod/Payments",tag_owner="payments"} 1');
      expect(text).toContain('keystore_watch_account_info{account_id="333333333333",account_name="ningxia",ou_path="/Prod/Data",tag_owner="data"} 1');
      const api = (await (await fetch(`${d.url}/api/v1/stores`)).json()) as { stores: { customKeyStoreId: string; ouPath: string }[] };
      expect(api.stores.map((x) => `${x.customKeyStoreId} ${x.ouPath}`).sort()).toEqual(['cks-cn22222222222222a /Prod/Payments', 'cks-cn33333333333333a /Prod/Data']);
    } finally {
      for (const d of running.splice(0)) await d.stop(1000);
      await cn.close();
    }
  });

  it('refuses an Organizations role of another partition than the regions (exit 2 naming the key)', () => {
    expect(() => parseConfig({ accounts: [{ id: '444444444444' }], regions: ['cn-north-1'], organizations: { enabled: true, roleArn: 'arn:aws:iam::111111111111:role/KeystoreWatchOrganizations' } }, 'mixed.yaml', {}))
      .toThrow(/organizations\.roleArn: role ARN arn:aws:iam::111111111111:role\/KeystoreWatchOrganizations is in partition aws/);
  });
});
