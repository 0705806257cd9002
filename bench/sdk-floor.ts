// The SDK floor of a steady poll (issue 14: "if a target proves impossible, show the measurement that says
// so"): the AWS calls a steady poll makes — DescribeCustomKeyStores for every account-region, then
// DescribeClusters for the CloudHSM clusters its stores name — sent through the project's own AWS clients
// (AwsClients.withKms / withCloudHsm: the SDK clients the issue asks to keep, pooled and lent per call,
// on the SDK threads or not) with 64 targets in flight, and NOTHING else: no snapshot, diff, alerts,
// commit, metrics or CloudTrail. Credentials are assumed before the clock starts (a steady poll has them).
// Against the simulator in its own process, with the bench's faults (30-50 ms, 5/s per account-region).
// The ratio to the bound (the simulator's counted calls x mean latency / 64) is what any code built on
// these clients can at best reach on this machine: the daemon's steady poll adds its own work on top.
//
// The fleets, their sizes and the faults are bench/run.ts's, from bench/lib/fleets.ts; --quick takes
// run.ts's --quick sizes (a check that it runs, not a measurement).
//
//   npx tsx bench/sdk-floor.ts [--scenario sparse|dense] [--threads 0,1,2] [--rounds 3] [--quick]
import { parseArgs } from 'node:util';
import { DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { AwsClients } from '../src/collect/aws-clients.js';
import { parseConfig } from '../src/config/load.js';
import { mapBounded } from '../src/util/map-bounded.js';
import { SimProcess, servedBetween, simOverheadMs, type FleetShape, type SimCounters } from './lib/sim-process.js';
import { CONCURRENCY, FAULTS, FLEET_SIZES, MEAN_LATENCY_MS, denseFleet, sparseFleet } from './lib/fleets.js';
import { median } from './lib/stats.js';

const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'sparse' }, threads: { type: 'string', default: '1,0' }, rounds: { type: 'string', default: '3' }, quick: { type: 'boolean', default: false } } });
// The scenarios of bench/run.ts: sparse = the default scenario (1,000 of its 4,000 accounts x 16 regions), dense = 500 x 16, one store each.
const SIZES = values.quick ? FLEET_SIZES.quick : FLEET_SIZES.full;
const SHAPES: Record<string, { shape: FleetShape; accounts: number }> = {
  sparse: { shape: sparseFleet(SIZES.simAccounts), accounts: SIZES.defaultAccounts },
  dense: { shape: denseFleet(SIZES.dense), accounts: SIZES.dense.accounts },
};
const S = SHAPES[values.scenario!];
if (!S) throw new Error(`--scenario sparse|dense, not ${values.scenario}`);
const log = (s: string) => process.stderr.write(`[sdk-floor ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const total = (c: SimCounters) => c.total;

const sim = await SimProcess.start(S.shape, FAULTS);
try {
  const accounts = sim.accountIds.slice(0, S.accounts);
  const targets = accounts.flatMap((id) => S.shape.regions.map((region) => ({ accountId: id, region, roleArn: `arn:aws:iam::${id}:role/KeystoreWatch`, externalId: null })));
  const rows: { threads: number; wallS: number; calls: number; boundS: number; ratio: number; cpuS: number; meanCallMs: number; simExtraMs: number; simCpuS: number }[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const threads of values.threads!.split(',').map(Number)) {
      const config = parseConfig({ stateDir: '/tmp', aws: { endpoint: sim.url, concurrency: CONCURRENCY, maxAttempts: 5, requestTimeout: '10s', targetTimeout: '60s', sdkThreads: threads }, accounts: accounts.map((id) => ({ id })), regions: S.shape.regions }, 'bench', {});
      const clients = new AwsClients({ aws: config.aws, credentials: sim.credentials });
      try {
        await Promise.all([clients.prepare(), clients.startSdkThreads()]);
        // Credentials first (a steady poll has them cached), and one untimed pass to warm the JIT and the pools.
        await mapBounded(accounts, 16, (id) => clients.credentialsFor({ roleArn: `arn:aws:iam::${id}:role/KeystoreWatch`, externalId: null })());
        // Each call's time as its caller sees it (lend, send, answer): mean minus the simulator's mean latency
        // is what a call costs beyond the network, and with 64 in flight the sweep's ratio follows from it.
        let callMs = 0;
        let callN = 0;
        const timed = async <T>(f: () => Promise<T>): Promise<T> => {
          const t = performance.now();
          try { return await f(); } finally { callMs += performance.now() - t; callN++; }
        };
        const pass = () => mapBounded(targets, CONCURRENCY, async (t) => {
          const out = await timed(() => clients.withKms(t, (kms) => kms.send(new DescribeCustomKeyStoresCommand({ Limit: 1000 }))));
          const ids = [...new Set((out.CustomKeyStores ?? []).map((s) => s.CloudHsmClusterId).filter((x): x is string => !!x))];
          if (ids.length) await timed(() => clients.withCloudHsm(t, (hsm) => hsm.send(new DescribeClustersCommand({ Filters: { clusterIds: ids } }))));
        });
        await pass();
        // Past the 5/s window of the warm-up pass.
        await new Promise((r) => setTimeout(r, 1500));
        const c0 = await sim.counters();
        const s0 = await sim.cpuSeconds();
        callMs = 0;
        callN = 0;
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await pass();
        const wallS = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const s1 = await sim.cpuSeconds();
        const c1 = await sim.counters();
        const calls = total(c1) - total(c0);
        // How much of a call's time beyond the drawn latency the simulator itself held it; the rest is this side's.
        const simExtraMs = simOverheadMs(servedBetween(c0, c1));
        const boundS = (calls * MEAN_LATENCY_MS) / CONCURRENCY / 1000;
        const row = { threads, wallS, calls, boundS, ratio: wallS / boundS, cpuS: (cpu.user + cpu.system) / 1e6, meanCallMs: callMs / callN, simExtraMs, simCpuS: s0 !== null && s1 !== null ? s1 - s0 : NaN };
        rows.push(row);
        log(`round ${round}, sdkThreads ${threads}: ${calls} calls in ${wallS.toFixed(2)} s, bound ${boundS.toFixed(2)} s, x${row.ratio.toFixed(3)}; mean call ${row.meanCallMs.toFixed(1)} ms against the simulator's ${MEAN_LATENCY_MS} ms drawn (+${simExtraMs.toFixed(2)} ms its own handling); CPU ${row.cpuS.toFixed(2)} s here, ${row.simCpuS.toFixed(2)} s in the simulator`);
      } finally {
        clients.close();
      }
    }
  }
  for (const threads of new Set(rows.map((r) => r.threads))) {
    const rs = rows.filter((r) => r.threads === threads);
    const ratios = rs.map((r) => r.ratio);
    console.log(`${values.scenario} SDK floor, sdkThreads ${threads}: median x${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}) of the bound, ${rs[0]!.calls} calls, bound ${rs[0]!.boundS.toFixed(2)} s, wall ${rs.map((r) => r.wallS.toFixed(2)).join(' / ')} s, mean call ${rs.map((r) => r.meanCallMs.toFixed(1)).join(' / ')} ms (the simulator's own +${rs.map((r) => r.simExtraMs.toFixed(2)).join(' / ')}), CPU ${rs.map((r) => r.cpuS.toFixed(2)).join(' / ')} s + simulator ${rs.map((r) => r.simCpuS.toFixed(2)).join(' / ')} s`);
  }
} finally {
  await sim.stop();
}
