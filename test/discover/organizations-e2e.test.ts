// Organizations discovery end to end: the real daemon (real SDK clients over HTTP) against the simulator.
// Refresh at most once per organizations.refreshInterval (counted by the simulator), the last good
// answer kept with its age exported when a read fails, and the Organizations role of a tooling account.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';

const ORG_OPERATIONS = ['ListAccounts', 'ListParents', 'DescribeOrganizationalUnit', 'ListTagsForResource', 'DescribeOrganization'];
const MIN = 60_000;
const T0 = Date.parse('2026-03-02T09:00:00Z');

let sim: RunningSimulator;
const running: Daemon[] = [];

beforeAll(async () => { sim = await simulator('org-fleet.yaml'); });
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop(1000);
  await fetch(`${sim.url}/_sim/faults`, { method: 'DELETE' });
  await fetch(`${sim.url}/_sim/accounts/333333333333`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'ACTIVE' }) });
});
afterAll(async () => { await sim?.close(); });

/** Organizations requests the simulator answered so far, per operation (from its control API). */
async function orgCalls(): Promise<Record<string, number>> {
  const c = (await (await fetch(`${sim.url}/_sim/counters`)).json()) as { byOperation: Record<string, { ok: number; throttled: number; failed: number }> };
  const out: Record<string, number> = {};
  for (const op of ORG_OPERATIONS) {
    const t = c.byOperation[op];
    if (t) out[op] = t.ok + t.throttled + t.failed;
  }
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
    expect(first.ListAccounts! - (before.ListAccounts ?? 0)).toBe(1); // 6 accounts: one page
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
    await until('a second ListAccounts walk', async () => ((await orgCalls()).ListAccounts ?? 0) > first.ListAccounts!);
    // ... whose answer the next poll uses.
    await until('the suspended account dropped', async () => { await d.pollNow(); return !polledAccounts(d).includes('333333333333'); });
    expect((await orgCalls()).ListAccounts! - first.ListAccounts!).toBe(1);
  });

  it('keeps the last good account list when a read fails, and exports its age', async () => {
    const clock = { t: T0 };
    const d = await orgDaemon({}, { clock });
    await d.pollNow();
    const accounts = polledAccounts(d);
    expect(sample(await metrics(d), 'keystore_watch_organizations_age_seconds')).toBe(0);

    await fetch(`${sim.url}/_sim/faults`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errors: [{ service: 'organizations', operation: 'ListAccounts', error: 'ServiceException', status: 500 }] }) });
    clock.t = T0 + 15 * MIN;
    await d.pollNow();
    await until('the failed read counted', async () => (sample(await metrics(d), 'keystore_watch_organizations_errors_total{code="ServiceException"}') ?? 0) >= 1);
    clock.t = T0 + 16 * MIN;
    await d.pollNow();
    expect(polledAccounts(d)).toEqual(accounts);
    expect(sample(await metrics(d), 'keystore_watch_organizations_age_seconds')).toBe(16 * 60);

    // AWS answers again: after the backoff (30 s) the next read succeeds and the age drops to 0.
    await fetch(`${sim.url}/_sim/faults`, { method: 'DELETE' });
    clock.t = T0 + 17 * MIN;
    await d.pollNow();
    await until('a good read again', async () => sample(await metrics(d), 'keystore_watch_organizations_age_seconds') === 0);
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
    const listed = (await (await fetch(`${sim.url}/_sim/requests?service=organizations&operation=ListAccounts`)).json()) as { account: string }[];
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
