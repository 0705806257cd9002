// The fault matrix: the real daemon against the simulator (behind a proxy that can refuse connections
// and a DNS name that can stop resolving) and a real webhook receiver, one fresh daemon per fault from
// test/fixtures/reliability/fault-matrix.yaml. For each fault: the process keeps serving /metrics and
// /healthz, unaffected targets stay up, affected targets are down with the right code, nothing but the
// blind-spot alert is notified, and everything recovers by itself once the fault is cleared.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator } from '../helpers/sim.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { mustRun, promtoolCheckMetrics } from '../helpers/tools.js';
import { badLogLines, captureLogger, installDnsHook, metricValue, reportFigure, setDns, startProxy, targetUp, waitUntil, type Proxy } from './support.js';

interface FaultSpec {
  name: string;
  config?: { organizations?: boolean };
  inject: {
    faults?: Record<string, unknown>;
    denyAssumeRole?: string;
    expireCredentials?: string;
    endpoint?: 'down' | 'dns';
    midWalk?: { invalidateMarkers?: boolean; removeStores?: string[] };
    clockJumpMs?: number;
  };
  expect: {
    down: string[] | 'all';
    code?: string;
    alert?: boolean;
    downPolls?: number;
    enrichmentDown?: string[];
    removedStores?: string[];
    orgErrors?: boolean;
  };
}

const MATRIX = parse(readFileSync(new URL('../fixtures/reliability/fault-matrix.yaml', import.meta.url), 'utf8')) as FaultSpec[];
const TARGETS = ['111111111111', '222222222222', '333333333333'].flatMap((a) => ['us-east-1', 'eu-west-1'].map((r) => `${a}/${r}`));
const TARGET_DOWN_AFTER = 3;
const PROMTOOL = mustRun('promtool');
const results: { fault: string; down: number; code: string; alerts: number; falseNotifications: number; recovered: boolean }[] = [];

beforeAll(() => installDnsHook());
afterAll(() => {
  reportFigure('fault-matrix', { faults: results.length, passed: results.filter((r) => r.recovered && r.falseNotifications === 0).length, results });
});

interface Seen { kind: string; condition: string; target: string | null; storeId: string | null }

/** Notifications the webhook received, digests flattened to their items. */
function seen(rx: Receiver, from = 0): Seen[] {
  const out: Seen[] = [];
  for (const r of rx.requests.slice(from)) {
    const n = (r.json as { notification: { kind: string; condition?: string; subject?: { accountId: string; region: string; storeId: string | null }; items?: { kind: string; condition: string; subject: { accountId: string; region: string; storeId: string | null } }[] } }).notification;
    const items = n.kind === 'digest' ? n.items ?? [] : [n as { kind: string; condition: string; subject: { accountId: string; region: string; storeId: string | null } }];
    for (const i of items) out.push({ kind: i.kind, condition: i.condition, target: i.subject ? `${i.subject.accountId}/${i.subject.region}` : null, storeId: i.subject?.storeId ?? null });
  }
  return out;
}

describe('fault matrix: daemon + simulator + webhook receiver', () => {
  for (const spec of MATRIX) {
    it(spec.name, async () => {
      const sim: RunningSimulator = await simulator('reliability-fleet.yaml');
      const proxy: Proxy = await startProxy(sim.url);
      const rx = await startReceiver();
      const logs = captureLogger('info');
      let clock = Date.UTC(2026, 2, 1, 9);
      // Organizations is read at most once per refreshInterval: one minute, so every fault poll (a minute apart) reads again.
      const accounts = spec.config?.organizations ? { accounts: [], organizations: { enabled: true, roleName: 'KeystoreWatch', refreshInterval: '1m' } } : {};
      const config = simConfig(sim, {
        ...accounts,
        // The DNS fault resolves a .invalid host through a dns.lookup hook installed in this thread, which the
        // SDK threads (aws.sdkThreads) cannot see: that one fault runs every call on the main thread; every
        // other fault goes through the default (threads, auto) to an address.
        aws: {
          endpoint: spec.inject.endpoint === 'dns' ? `http://kw-aws.invalid:${proxy.port}` : `http://127.0.0.1:${proxy.port}`,
          ...(spec.inject.endpoint === 'dns' ? { sdkThreads: 0 } : {}),
          maxAttempts: 2, requestTimeout: '500ms', targetTimeout: '1500ms', pageSize: 2, concurrency: 8,
        },
        alerting: { confirmations: 2, targetDownAfter: TARGET_DOWN_AFTER, groupThreshold: 5, channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] },
      });
      const daemon = new Daemon({ config, logger: logs.logger, credentials: BASE_CREDENTIALS, schedule: false, now: () => clock });
      try {
        await daemon.start();
        const get = (p: string) => fetch(`${daemon.url}${p}`);
        const drained = () => waitUntil(() => daemon.alerts.outbox.pending() === 0, 'the outbox to drain');
        const poll = async () => {
          clock += 60_000;
          expect(await daemon.pollNow()).toBe(true);
          // The process keeps serving whatever happens upstream.
          expect((await get('/healthz')).status).toBe(200);
          const m = await get('/metrics');
          expect(m.status).toBe(200);
          return m.text();
        };
        const targetsApi = async () => ((await (await get('/api/v1/targets')).json()) as { targets: { accountId: string; region: string; ok: boolean; error: { code: string } | null }[] }).targets;

        // Baseline: every target up, nothing to say.
        await poll();
        const baseline = await poll();
        for (const t of TARGETS) expect(targetUp(baseline, ...(t.split('/') as [string, string])), `${t} up at baseline`).toBe(1);
        await drained();
        expect(rx.requests).toHaveLength(0);
        const storesBefore = daemon.latest!.stores.map((s) => s.id).sort();

        // Inject.
        const { inject } = spec;
        if (inject.faults) sim.fleet.setFaults(inject.faults);
        if (inject.denyAssumeRole) {
          sim.fleet.setAccount(inject.denyAssumeRole, { denyAssumeRole: true });
          sim.fleet.expireCredentials(inject.denyAssumeRole);
        }
        if (inject.endpoint === 'down') await proxy.down();
        if (inject.endpoint === 'dns') { setDns(false); proxy.dropConnections(); }
        let midWalkRan = false;
        if (inject.midWalk) {
          proxy.onRequest = (r) => {
            if (midWalkRan || r.headers['x-amz-target'] !== 'TrentService.DescribeCustomKeyStores' || !r.body.includes('"Marker"')) return;
            midWalkRan = true;
            if (inject.midWalk!.invalidateMarkers) sim.fleet.invalidateMarkers();
            for (const id of inject.midWalk!.removeStores ?? []) sim.fleet.removeStore(id);
          };
        }
        if (inject.clockJumpMs) clock += inject.clockJumpMs;

        const exp = spec.expect;
        const down = exp.down === 'all' ? TARGETS : exp.down;
        const faultPolls = exp.alert ? TARGET_DOWN_AFTER + 1 : 3;
        const downPolls = exp.downPolls ?? faultPolls;
        let lastMetrics = '';
        let downCode = '';
        for (let i = 1; i <= faultPolls; i++) {
          if (inject.expireCredentials && i === 1) sim.fleet.expireCredentials(inject.expireCredentials);
          lastMetrics = await poll();
          const api = await targetsApi();
          const expectDown = i <= downPolls ? down : [];
          for (const t of TARGETS) {
            const [a, r] = t.split('/') as [string, string];
            const row = api.find((x) => x.accountId === a && x.region === r)!;
            if (expectDown.includes(t)) {
              expect(targetUp(lastMetrics, a, r), `${t} down in poll ${i}`).toBe(0);
              expect(row.ok).toBe(false);
              if (i === downPolls) {
                expect(row.error?.code, `${t} error code`).toMatch(new RegExp(exp.code!));
                downCode = row.error!.code;
              }
              // A down target keeps its last known stores, marked stale.
              const kept = daemon.latest!.stores.filter((s) => `${s.accountId}/${s.region}` === t);
              expect(kept.length).toBeGreaterThan(0);
              expect(kept.every((s) => s.stale)).toBe(true);
            } else {
              expect(targetUp(lastMetrics, a, r), `${t} unaffected in poll ${i}`).toBe(1);
              expect(row.ok).toBe(true);
            }
          }
        }
        if (inject.midWalk) expect(midWalkRan).toBe(true);
        if (PROMTOOL) expect(promtoolCheckMetrics(lastMetrics).output).toBe('');
        for (const t of exp.enrichmentDown ?? []) {
          const [a, r] = t.split('/') as [string, string];
          expect(metricValue(lastMetrics, `keystore_watch_cloudhsm_enrichment_up{account_id="${a}",region="${r}"}`), `${t} enrichment`).toBe(0);
          expect(daemon.latest!.clusters.filter((c) => c.accountId === a && c.region === r).every((c) => c.stale)).toBe(true);
          expect(daemon.latest!.stores.filter((s) => s.accountId === a && s.region === r).every((s) => !s.stale)).toBe(true);
        }
        if (exp.orgErrors) {
          // Reads run beside the polls, one at a time (a slow read may span two polls on a loaded machine):
          // wait for the failures to be counted.
          const orgErrors = (text: string) => text.split('\n').filter((l) => l.startsWith('keystore_watch_organizations_errors_total{')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
          await waitUntil(async () => orgErrors(await (await get('/metrics')).text()) >= 1, 'a failed Organizations read counted');
          expect(daemon.latest!.targets).toHaveLength(TARGETS.length);
          // The list in use is the last good one, and its age says so (a minute per fault poll at least, minus the one in flight).
          expect(metricValue(await (await get('/metrics')).text(), 'keystore_watch_organizations_age_seconds')).toBeGreaterThanOrEqual(60 * (faultPolls - 1));
        }
        if (!exp.removedStores) expect(daemon.latest!.stores.map((s) => s.id).sort()).toEqual(storesBefore);

        await drained();
        const during = seen(rx);
        const expectedAlerts = exp.alert ? down.map((t) => `firing:TARGET_DOWN:${t}`).sort() : [];
        expect(during.map((n) => `${n.kind}:${n.condition}:${n.target}`).sort(), 'notifications during the fault').toEqual(expectedAlerts);
        const falseDuring = during.filter((n) => n.condition !== 'TARGET_DOWN').length;

        // Clear and recover by itself.
        sim.fleet.resetFaults();
        sim.fleet.setFaults({ rateLimitPerSecond: 0 });
        if (inject.denyAssumeRole) sim.fleet.setAccount(inject.denyAssumeRole, { denyAssumeRole: false });
        await proxy.up();
        setDns(true);
        proxy.onRequest = null;
        const afterFault = rx.requests.length;
        let text = '';
        for (let i = 0; i < 3; i++) text = await poll();
        for (const t of TARGETS) expect(targetUp(text, ...(t.split('/') as [string, string])), `${t} recovered`).toBe(1);
        for (const t of exp.enrichmentDown ?? []) {
          const [a, r] = t.split('/') as [string, string];
          expect(metricValue(text, `keystore_watch_cloudhsm_enrichment_up{account_id="${a}",region="${r}"}`)).toBe(1);
        }
        expect(daemon.latest!.stores.every((s) => !s.stale)).toBe(true);
        expect(daemon.latest!.stores.map((s) => s.id).sort()).toEqual(storesBefore.filter((id) => !(exp.removedStores ?? []).includes(id)));
        await drained();
        const after = seen(rx, afterFault);
        expect(after.map((n) => `${n.kind}:${n.condition}:${n.target}`).sort(), 'notifications after recovery').toEqual(exp.alert ? down.map((t) => `resolved:TARGET_DOWN:${t}`).sort() : []);

        // The change history holds no invented store changes: only target down/up and real deletions.
        const events = ((await (await get('/api/v1/events?limit=1000')).json()) as { events: { type: string; storeId?: string; id?: string }[] }).events;
        const storeEvents = events.filter((e) => e.type.startsWith('store_') || e.type === 'state_changed' || e.type === 'error_code_changed' || e.type === 'config_changed');
        expect(storeEvents.filter((e) => e.type !== 'store_removed' && e.type !== 'store_added').map((e) => e.type)).toEqual([]);
        expect(storeEvents.filter((e) => e.type === 'store_added')).toHaveLength(0);
        const removed = storeEvents.filter((e) => e.type === 'store_removed').map((e) => (e as { storeId?: string }).storeId).sort();
        expect(removed).toEqual([...(exp.removedStores ?? [])].sort());
        expect(badLogLines(logs.text())).toEqual([]);

        results.push({ fault: spec.name, down: down.length, code: downCode, alerts: expectedAlerts.length, falseNotifications: falseDuring + after.filter((n) => n.condition !== 'TARGET_DOWN').length, recovered: true });
      } finally {
        setDns(true);
        await daemon.stop(500);
        await Promise.all([proxy.close(), rx.close(), sim.close()]);
      }
    }, 60_000);
  }
});
