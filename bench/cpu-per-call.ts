// CPU per AWS call (issue 14 item 3): a cold `once` sweep (fresh AwsClients + Poller in a fresh compiled
// child process, as `keystore-watch once` runs) over a dense fleet — one store in every account-region,
// 40 % CloudHSM — against the simulator in its own process. Reports the child's CPU time for the sweep
// (process.cpuUsage around it) divided by the AWS calls the simulator counted, per run and as a range.
//   npx tsx bench/cpu-per-call.ts [--accounts 200] [--repeat 5] [--regions list|enabled] [--cpu-prof DIR]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { DaemonProcess } from './lib/daemon-process.js';
import { REGIONS_16, SimProcess, type FleetShape, type SimCounters } from './lib/sim-process.js';
import { imageNodeOptions } from './lib/build.js';
import { FAULTS, denseFleet } from './lib/fleets.js';

const { values } = parseArgs({ options: { accounts: { type: 'string', default: '200' }, repeat: { type: 'string', default: '5' }, regions: { type: 'string', default: 'list' }, 'cpu-prof': { type: 'string' }, concurrency: { type: 'string', default: '64' } } });
const ACCOUNTS = Number(values.accounts);
const REPEAT = Number(values.repeat);
// The bench's dense shape (bench/lib/fleets.ts), one account more (the first is not watched), seed 17 as measured before.
const shape: FleetShape = { ...denseFleet({ accounts: ACCOUNTS + 1, regions: REGIONS_16.length }), seed: 17 };
const log = (s: string) => process.stderr.write(`[cpu-per-call ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const sim = await SimProcess.start(shape, FAULTS);
try {
  const stats = await sim.stats();
  log(`simulator ${sim.url}: ${JSON.stringify(stats)}`);
  const config = {
    aws: { endpoint: sim.url, concurrency: Number(values.concurrency), maxAttempts: 5, requestTimeout: '10s', targetTimeout: '60s', pageSize: 1000 },
    accounts: sim.accountIds.slice(1, ACCOUNTS + 1).map((id) => ({ id, roleArn: `arn:aws:iam::${id}:role/KeystoreWatch` })),
    regions: values.regions === 'enabled' ? 'enabled' : REGIONS_16,
  };
  const rows: { cpuS: number; calls: number; usPerCall: number; wallS: number }[] = [];
  for (let run = 1; run <= REPEAT; run++) {
    const d = DaemonProcess.start({ nodeOptions: imageNodeOptions(), cpuProf: values['cpu-prof'] ? join(values['cpu-prof'], `run${run}`) : undefined });
    await d.init('once', config, sim.credentials);
    const c0: SimCounters = await sim.counters();
    const r = await d.poll();
    const c1: SimCounters = await sim.counters();
    await d.close();
    const calls = c1.total - c0.total;
    const byOp: Record<string, number> = {};
    for (const [op, t] of Object.entries(c1.byOperation)) {
      const p = c0.byOperation[op] ?? { ok: 0, throttled: 0, failed: 0 };
      const n = t.ok + t.throttled + t.failed - (p.ok + p.throttled + p.failed);
      if (n) byOp[op] = n;
    }
    const row = { cpuS: r.cpuS, calls, usPerCall: (r.cpuS * 1e6) / calls, wallS: r.wallS };
    rows.push(row);
    log(`run ${run}: ${r.targets} targets (${r.targetsDown} down), ${calls} calls ${JSON.stringify(byOp)}, wall ${r.wallS.toFixed(2)} s, CPU ${r.cpuS.toFixed(3)} s = ${row.usPerCall.toFixed(0)} us/call`);
  }
  const us = rows.map((r) => r.usPerCall).sort((a, b) => a - b);
  console.log(`CPU per AWS call, cold once sweep, ${ACCOUNTS} accounts x 16 regions (regions: ${values.regions}), ${REPEAT} runs: median ${us[Math.floor(us.length / 2)]!.toFixed(0)} us, range ${us[0]!.toFixed(0)}-${us.at(-1)!.toFixed(0)} us`);
} finally {
  await sim.stop();
}
