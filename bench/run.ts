// npm run bench [-- --quick] [-- --only sweep,scale,metrics,leak,cli,commit,status] [-- --repeat N] [-- --cpu-prof DIR] [-- --reference]
//
// Fleet-scale benchmark (issue 7). The simulator runs in its own process (`keystore-watch simulate`
// with a generated fleet, injected latency and the 5/s rate limit); the code under measurement runs
// in a second child process (bench/lib/daemon-child.ts) so its CPU time and peak RSS are its own.
// This parent only orchestrates and scrapes. Prints a table; writes bench/results/latest.json
// (and bench/results/reference-<date>.json with --reference).
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { DaemonProcess, daemonNode } from './lib/daemon-process.js';
import { REGIONS_16, ROOT, SimProcess, servedBetween, simOverheadMs, type FleetShape, type SimCounters } from './lib/sim-process.js';
import { CONCURRENCY as DEFAULT_CONCURRENCY, FAULTS, FLEET_SIZES, MEAN_LATENCY_MS, denseFleet, sparseFleet } from './lib/fleets.js';
import { awsCliVersion, cliSweep } from './lib/aws-cli.js';
import { buildOnce, imageNodeOptions } from './lib/build.js';
import { median, quantile } from './lib/stats.js';
import { benchCommit, commitRows, type CommitFigures } from './commit.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'cpu-prof': { type: 'string' },
    reference: { type: 'boolean', default: false },
    /** Repeat the default-scenario sweeps (once, daemon polls 1 and 2) N times: the table shows the median and the range. */
    repeat: { type: 'string', default: '1' },
    concurrency: { type: 'string' },
    accounts: { type: 'string' },
    /** Node flags for the daemon-side child on top of the image's NODE_OPTIONS, e.g. --daemon-flags=--max-semi-space-size=32 */
    'daemon-flags': { type: 'string' },
  },
});
const QUICK = args.quick!;
const only = new Set((args.only ?? 'sweep,scale,metrics,leak,cli,commit').split(','));  // 'dense' alone runs only the dense scenario
// The daemon side runs with the container image's node options (Dockerfile ENV NODE_OPTIONS), plus any given here.
const DAEMON_FLAGS = [...imageNodeOptions(), ...(args['daemon-flags'] ? args['daemon-flags'].split(' ').filter(Boolean) : [])];
const CONCURRENCY = Number(args.concurrency ?? DEFAULT_CONCURRENCY);
const REPEAT = Math.max(1, Number(args.repeat));
const REGIONS = REGIONS_16;

// Sizes. Default scenario: 1,000 accounts x 16 regions, ~2,000 stores (40 % CloudHSM), concurrency 64.
// The fleets, their sizes and the faults are bench/lib/fleets.ts's (shared with bench/sdk-floor.ts).
const P = QUICK
  ? { ...FLEET_SIZES.quick, scale: [4, 16], bigStoreAccounts: 16, leak: { accounts: 4, regions: 4, polls: 30, checkpoints: [10, 30], from: 10 }, scrapes: 50, cli: { accounts: 1, regions: 4 } }
  : { ...FLEET_SIZES.full, scale: [64, 256, 1000, 4000], bigStoreAccounts: 1000, leak: { accounts: 4, regions: 4, polls: 1000, checkpoints: [10, 100, 250, 500, 750, 1000], from: 100 }, scrapes: 200, cli: { accounts: 4, regions: 16 } };

if (args.accounts) { P.defaultAccounts = Number(args.accounts); P.simAccounts = Math.max(P.simAccounts, P.defaultAccounts); }

const SHAPE: FleetShape = sparseFleet(P.simAccounts);
// Dense (issue 14): one store in every account-region, 40 % CloudHSM, accounts found through Organizations
// (ListAccounts, then ListParents / DescribeOrganizationalUnit for the OU paths), as a user meets it.
const DENSE: FleetShape = denseFleet(P.dense);

const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const r1 = (n: number) => Math.round(n * 10) / 10;
const r2 = (n: number) => Math.round(n * 100) / 100;
const r3 = (n: number) => Math.round(n * 1000) / 1000;

const AWS_CONFIG = (sim: SimProcess) => ({ endpoint: sim.url, concurrency: CONCURRENCY, maxAttempts: 5, requestTimeout: '10s', targetTimeout: '60s', pageSize: 1000 });

function daemonConfig(sim: SimProcess, accounts: number, regions = REGIONS) {
  return {
    aws: AWS_CONFIG(sim),
    accounts: sim.accountIds.slice(0, accounts).map((id) => ({ id, roleArn: `arn:aws:iam::${id}:role/KeystoreWatch` })),
    regions,
  };
}

/** Every account from Organizations (the management account's own credentials list them), no account listed. */
function organizationConfig(sim: SimProcess, regions: string[]) {
  return { aws: AWS_CONFIG(sim), accounts: [], organizations: { enabled: true, roleName: 'KeystoreWatch' }, regions };
}

/** The simulator's mean added latency per call, as it draws it (faults.ts delayMs: latencyMs + rng() x jitterMs). */
const meanLatency = new WeakMap<SimProcess, number>();
async function simMeanLatencyMs(sim: SimProcess): Promise<number> {
  let m = meanLatency.get(sim);
  if (m === undefined) {
    const f = await sim.faults();
    m = f.latencyMs + f.jitterMs / 2;
    meanLatency.set(sim, m);
  }
  return m;
}

interface Bound {
  calls: number; byOperation: Record<string, number>; throttled: number; meanLatencyMs: number;
  latencyBoundS: number; rateBoundS: number; pagingBoundS: number; boundS: number;
  /** Organizations calls x mean latency / ORGANIZATIONS_CONCURRENCY (2): how long discovery takes at best as designed (not part of the bound). */
  organizationsFloorS: number;
  /**
   * Mean ms the simulator held each answer beyond the latency it drew for it (its own reading, handling,
   * timer lateness and writing, on the same two CPUs): the part of the distance to the bound that is the
   * simulator's, not the code under measurement's.
   */
  simExtraMs: number;
}

const ORGANIZATIONS_OPS = new Set(['ListAccounts', 'ListParents', 'DescribeOrganizationalUnit', 'ListTagsForResource', 'ListRoots', 'ListOrganizationalUnitsForParent', 'ListAccountsForParent']);

function diffCounters(before: SimCounters, after: SimCounters): SimCounters {
  const sub = (a: Record<string, { ok: number; throttled: number; failed: number }>, b: Record<string, { ok: number; throttled: number; failed: number }>) => {
    const out: typeof a = {};
    for (const [k, v] of Object.entries(a)) {
      const p = b[k] ?? { ok: 0, throttled: 0, failed: 0 };
      const d = { ok: v.ok - p.ok, throttled: v.throttled - p.throttled, failed: v.failed - p.failed };
      if (d.ok || d.throttled || d.failed) out[k] = d;
    }
    return out;
  };
  return { total: after.total - before.total, byOperation: sub(after.byOperation, before.byOperation), byTarget: sub(after.byTarget, before.byTarget), served: servedBetween(before, after) };
}

/**
 * The lower bound of a sweep from what the simulator counted: calls x mean latency / concurrency (every
 * slot busy for the whole sweep); the 5/s per account-region bound; and the ListAccounts chain (each page
 * needs the previous page's NextToken, and the last page's accounts still need AssumeRole and
 * DescribeCustomKeyStores). The largest of the three.
 */
function lowerBound(c: SimCounters, concurrency: number, meanMs: number, rateLimit: number): Bound {
  const byOperation: Record<string, number> = {};
  let throttled = 0;
  let orgCalls = 0;
  for (const [op, t] of Object.entries(c.byOperation)) {
    byOperation[op] = t.ok + t.throttled + t.failed;
    throttled += t.throttled;
    if (ORGANIZATIONS_OPS.has(op)) orgCalls += byOperation[op]!;
  }
  const latencyBoundS = (c.total * meanMs) / concurrency / 1000;
  // A rate-limited account-region-operation with n calls needs floor((n-1)/limit) seconds plus one latency.
  let rateBoundS = 0;
  for (const [key, t] of Object.entries(c.byTarget)) {
    if (!key.endsWith('/DescribeCustomKeyStores') || rateLimit <= 0) continue;
    const n = t.ok + t.throttled + t.failed;
    rateBoundS = Math.max(rateBoundS, Math.floor((n - 1) / rateLimit) + meanMs / 1000);
  }
  const pages = byOperation.ListAccounts ?? 0;
  const pagingBoundS = pages > 0 ? ((pages + 2) * meanMs) / 1000 : 0;
  return {
    calls: c.total, byOperation, throttled, meanLatencyMs: meanMs, latencyBoundS: r3(latencyBoundS), rateBoundS: r3(rateBoundS), pagingBoundS: r3(pagingBoundS),
    boundS: r3(Math.max(latencyBoundS, rateBoundS, pagingBoundS)), organizationsFloorS: r3((orgCalls * meanMs) / 2 / 1000),
    simExtraMs: r2(simOverheadMs(c.served)),
  };
}

async function boundOf(sim: SimProcess, before: SimCounters): Promise<Bound> {
  return lowerBound(diffCounters(before, await sim.counters()), CONCURRENCY, await simMeanLatencyMs(sim), FAULTS.rateLimitPerSecond);
}

async function measuredPoll(sim: SimProcess, d: DaemonProcess, label: string) {
  const c0 = await sim.counters();
  const s0 = await sim.cpuSeconds();
  const r = await d.poll();
  const s1 = await sim.cpuSeconds();
  const b = await boundOf(sim, c0);
  // A build whose enrichment calls all fail (a broken bundle, a thread that cannot build the command)
  // makes fewer calls and would be measured as faster: refuse to report it.
  if (r.enrichment.attempted > 0 && r.enrichment.failed === r.enrichment.attempted) {
    throw new Error(`${label}: every CloudHSM/CloudWatch enrichment failed (${JSON.stringify(r.enrichment.codes)}): the code under measurement is broken`);
  }
  const out = {
    wallS: r3(r.wallS), ...b, ratio: r3(r.wallS / b.boundS),
    // The sweep (the snapshot's collect window) and what the poll spent after it: snapshot build, alerts, commit, exposition.
    sweepS: r.collectS === null ? null : r3(r.collectS), afterSweepS: r.collectS === null ? null : r3(r.wallS - r.collectS), targets: r.targets, targetsDown: r.targetsDown, downCodes: r.downCodes, stores: r.stores, clusters: r.clusters,
    targetsPerS: Math.round(r.targets / r.wallS), cpuS: r3(r.cpuS), cpuSPer1kTargets: r3((r.cpuS / r.targets) * 1000), simCpuS: s0 !== null && s1 !== null ? r2(s1 - s0) : null,
    rssMB: r1(r.rssMB), peakRssMB: r1(r.maxRssMB), peakMemMB: r.peakMemMB, targetMs: r.targetMs, stateWrites: r.stateWrites,
  };
  log(`${label}: ${out.targets} targets, ${out.stores} stores, ${out.wallS}s (sweep ${out.sweepS}s + after it ${out.afterSweepS}s; bound ${out.boundS}s, x${out.ratio}; Organizations floor ${out.organizationsFloorS}s; simulator +${out.simExtraMs} ms per answer beyond the drawn latency), ${out.calls} calls ${JSON.stringify(out.byOperation)}, cpu ${out.cpuS}s, sim cpu ${out.simCpuS}s, target ms ${JSON.stringify(out.targetMs)}, peak RSS ${out.peakRssMB} MB (sampled peaks ${JSON.stringify(out.peakMemMB)})${out.targetsDown ? `, DOWN ${JSON.stringify(out.downCodes)}` : ''}${r.enrichment.failed ? `, ENRICHMENT FAILED ${JSON.stringify(r.enrichment.codes)}` : ''}`);
  return out;
}
type Measured = Awaited<ReturnType<typeof measuredPoll>>;

/**
 * Sequential scrapes over one keep-alive connection, from this (separate) process. `gzip` asks for a
 * compressed body as Prometheus does (Accept-Encoding: gzip); the time is to the last byte received.
 */
async function scrape(url: string, n: number, gzip = false) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    bytes = await new Promise<number>((resolve, reject) => {
      request(`${url}/metrics`, { agent, headers: gzip ? { 'accept-encoding': 'gzip' } : {} }, (res) => {
        let len = 0;
        res.on('data', (c: Buffer) => { len += c.length; });
        res.on('end', () => (res.statusCode === 200 ? resolve(len) : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      }).on('error', reject).end();
    });
    times.push(performance.now() - t0);
  }
  agent.destroy();
  return { scrapes: n, medianMs: r2(median(times)), p99Ms: r2(quantile(times, 0.99)), maxMs: r2(Math.max(...times)), bodyBytes: bytes };
}

/** Uncompressed and gzip scrapes of one daemon, logged. */
async function scrapeBoth(url: string, stores: number) {
  const metrics = { ...(await scrape(url, P.scrapes)), gzip: await scrape(url, P.scrapes, true) };
  log(`/metrics at ${stores} stores: median ${metrics.medianMs} ms, p99 ${metrics.p99Ms} ms, ${metrics.bodyBytes} bytes; gzip median ${metrics.gzip.medianMs} ms, p99 ${metrics.gzip.p99Ms} ms, ${metrics.gzip.bodyBytes} bytes`);
  return metrics;
}

function writeTimes(m: Measured) {
  const by = (name: string) => m.stateWrites.filter((w) => w.name === name);
  const sum = (ws: { ms: number }[]) => ws.reduce((a, w) => a + w.ms, 0);
  const snap = by('snapshot');
  return { perPollMs: r1(sum(m.stateWrites)), snapshotMs: r1(sum(snap)), snapshotBytes: snap.at(-1)?.bytes ?? 0, alertsMs: r1(sum(by('alerts'))), otherMs: r1(sum(m.stateWrites.filter((w) => w.name !== 'snapshot' && w.name !== 'alerts'))) };
}

type ProcessMeasured = Bound & { wallS: number; exitCode: number; ratio: number; stores: number; targets: number };

/** `keystore-watch once` as a user runs it, timed from outside: spawn to exit, with the calls it made. */
async function measuredOnceProcess(sim: SimProcess, config: Record<string, unknown>, label: string): Promise<ProcessMeasured> {
  const c0 = await sim.counters();
  const p = await onceProcess(sim, config);
  const b = await boundOf(sim, c0);
  const out = { ...b, wallS: p.wallS, exitCode: p.exitCode, ratio: r3(p.wallS / b.boundS), stores: p.stores, targets: p.targets };
  log(`${label}: ${out.targets} targets, ${out.stores} stores, ${out.wallS}s start to exit (bound ${out.boundS}s, x${out.ratio}; Organizations floor ${out.organizationsFloorS}s; simulator +${out.simExtraMs} ms per answer beyond the drawn latency), exit ${out.exitCode}, ${out.calls} calls ${JSON.stringify(out.byOperation)}`);
  return out;
}

interface SweepRun { once: Measured; onceProcess: ProcessMeasured; daemonCold: Measured; daemonWarm: Measured[]; daemonPeakRssMB: number }

/**
 * One scenario, as a user meets it: `once` in a fresh process measured inside (the sweep) and from outside
 * (the whole `keystore-watch once` process), then a daemon's poll 1 (cold: every role assumed, the
 * organization read) and polls 2 and 3 (steady state). --repeat N runs it N times, each in fresh processes.
 */
async function sweepScenario(name: string, sim: SimProcess, config: Record<string, unknown>, scrapeMetrics: boolean) {
  const runs: SweepRun[] = [];
  for (let run = 1; run <= REPEAT; run++) {
    const tag = `${name}${REPEAT > 1 ? ` [run ${run}/${REPEAT}]` : ''}`;
    const prof = (kind: string) => (args['cpu-prof'] ? join(args['cpu-prof'], `${name}-${kind}`) : undefined);
    // The `once` path: a fresh AwsClients + Poller, as `keystore-watch once` builds them.
    const once = DaemonProcess.start({ cpuProf: prof('once'), nodeOptions: DAEMON_FLAGS });
    await once.init('once', config, sim.credentials);
    const onceSweep = await measuredPoll(sim, once, `${tag}: once in-process (cold)`);
    await once.close();
    const onceProc = await measuredOnceProcess(sim, config, `${tag}: once whole process (cold)`);
    const d = DaemonProcess.start({ cpuProf: prof('daemon'), nodeOptions: DAEMON_FLAGS });
    const init = await d.init('daemon', config, sim.credentials);
    const cold = await measuredPoll(sim, d, `${tag}: daemon poll 1 (cold)`);
    const warm = [await measuredPoll(sim, d, `${tag}: daemon poll 2 (warm)`), await measuredPoll(sim, d, `${tag}: daemon poll 3 (warm)`)];
    if (run === 1 && scrapeMetrics) {
      const metrics = await scrapeBoth(init.url!, warm[0]!.stores);
      results.metricsSmall = { stores: warm[0]!.stores, targets: warm[0]!.targets, ...metrics };
      results.stateSmall = { stores: warm[0]!.stores, cold: writeTimes(cold), warm: writeTimes(warm[0]!) };
    }
    const end = await d.close();
    runs.push({ once: onceSweep, onceProcess: onceProc, daemonCold: cold, daemonWarm: warm, daemonPeakRssMB: r1(end.maxRssMB) });
  }
  return { runs };
}

function machine() {
  const model = /model name\s*:\s*(.*)/.exec(safeRead('/proc/cpuinfo'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return { nproc: cpus().length, cpuModel: model.trim(), memoryGiB: r1(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}` };
}
function safeRead(p: string) { try { return readFileSync(p, 'utf8'); } catch { return ''; } }

const results: Record<string, unknown> = {
  startedAt: new Date().toISOString(), quick: QUICK, machine: machine(),
  daemonNodeFlags: DAEMON_FLAGS, scenario: { fleet: SHAPE, faults: FAULTS, meanLatencyMs: MEAN_LATENCY_MS, concurrency: CONCURRENCY, defaultAccounts: P.defaultAccounts, regions: REGIONS.length },
};

const t00 = performance.now();
const sims: SimProcess[] = [];
try {
  let simA: SimProcess | null = null;
  if (only.has('sweep') || only.has('scale') || only.has('cli')) {
    log(`starting simulator: ${SHAPE.accounts} accounts x ${REGIONS.length} regions, latency ${FAULTS.latencyMs}+${FAULTS.jitterMs} ms jitter, ${FAULTS.rateLimitPerSecond}/s`);
    simA = await SimProcess.start(SHAPE, FAULTS);
    sims.push(simA);
    log(`simulator ${simA.url}: ${JSON.stringify(await simA.stats())}`);
  }

  if (only.has('sweep') && simA) {
    results.sweeps = { sparse: await sweepScenario('sparse', simA, daemonConfig(simA, P.defaultAccounts), true) };
  }

  if (only.has('sweep') || only.has('dense')) {
    log(`starting simulator for the dense fleet: ${DENSE.accounts} accounts x ${DENSE.regions.length} regions, one store each, Organizations discovery`);
    const simD = await SimProcess.start(DENSE, FAULTS, { organizations: true });
    sims.push(simD);
    log(`simulator ${simD.url}: ${JSON.stringify(await simD.stats())}`);
    (results.sweeps as Record<string, unknown> | undefined ?? (results.sweeps = {}) as Record<string, unknown>).dense = await sweepScenario('dense', simD, organizationConfig(simD, DENSE.regions), false);
    await simD.stop();
  }

  if (only.has('scale') && simA) {
    const rows = [];
    for (const accounts of P.scale) {
      const d = DaemonProcess.start({ nodeOptions: DAEMON_FLAGS });
      await d.init('daemon', daemonConfig(simA, accounts), simA.credentials);
      const cold = await measuredPoll(simA, d, `scale ${accounts * REGIONS.length} poll 1`);
      const warm = await measuredPoll(simA, d, `scale ${accounts * REGIONS.length} poll 2`);
      const end = await d.close();
      rows.push({ accounts, targets: warm.targets, stores: warm.stores, cold, warm, peakRssMB: r1(end.maxRssMB) });
    }
    results.scale = rows;
  }

  if (only.has('metrics')) {
    // ~20,000 stores: the same 1,000 x 16 fleet shape with 1.25 stores per account-region; no latency (only the scrape is measured).
    const shape: FleetShape = { ...SHAPE, seed: 11, accounts: P.bigStoreAccounts, storesPerRegion: 1.25 };
    log(`starting simulator for the large-store fleet: ${shape.accounts} accounts, ${shape.storesPerRegion} stores per region`);
    const simB = await SimProcess.start(shape, { latencyMs: 0, jitterMs: 0, rateLimitPerSecond: 0 });
    sims.push(simB);
    const d = DaemonProcess.start({ nodeOptions: DAEMON_FLAGS });
    const init = await d.init('daemon', daemonConfig(simB, shape.accounts), simB.credentials);
    const p1 = await measuredPoll(simB, d, 'large-store poll 1');
    const p2 = await measuredPoll(simB, d, 'large-store poll 2');
    const metrics = await scrapeBoth(init.url!, p2.stores);
    const end = await d.close();
    results.metricsLarge = { stores: p2.stores, targets: p2.targets, ...metrics, peakRssMB: r1(end.maxRssMB), peakMemMB: [p1.peakMemMB, p2.peakMemMB], pollWallS: [p1.wallS, p2.wallS], pollCpuS: [p1.cpuS, p2.cpuS] };
    results.stateLarge = { stores: p2.stores, cold: writeTimes(p1), warm: writeTimes(p2) };
    await simB.stop();
  }

  if (only.has('leak')) {
    const L = P.leak;
    const shape: FleetShape = { ...SHAPE, seed: 13, accounts: L.accounts, regions: REGIONS.slice(0, L.regions), storesPerRegion: 1 };
    log(`leak check: ${L.accounts} accounts x ${L.regions} regions, no latency, ${L.polls} polls`);
    const simC = await SimProcess.start(shape, { latencyMs: 0, jitterMs: 0, rateLimitPerSecond: 0 });
    sims.push(simC);
    const d = DaemonProcess.start({ nodeOptions: DAEMON_FLAGS });
    await d.init('daemon', daemonConfig(simC, L.accounts, shape.regions), simC.credentials);
    const t0 = performance.now();
    const at = await d.polls(L.polls, L.checkpoints);
    const wallS = (performance.now() - t0) / 1000;
    const end = await d.close();
    // Growth is measured from poll L.from (100), past the JIT warm-up plateau, to the last poll.
    const first = at[L.from]!;
    const last = at[L.polls]!;
    results.leak = {
      targets: L.accounts * L.regions, polls: L.polls, wallS: r1(wallS),
      checkpoints: Object.fromEntries(Object.entries(at).map(([k, u]) => [k, { rssMB: r1(u.rssMB), heapUsedMB: r1(u.heapUsedMB), heapTotalMB: r1(u.heapTotalMB), externalMB: r1(u.externalMB), codeMB: r1(u.codeMB) }])),
      from: L.from, rssGrowthPct: r1(((last.rssMB - first.rssMB) / first.rssMB) * 100), heapGrowthPct: r1(((last.heapUsedMB - first.heapUsedMB) / first.heapUsedMB) * 100), peakRssMB: r1(end.maxRssMB),
    };
    log(`leak: ${JSON.stringify(results.leak)}`);
    await simC.stop();
  }

  if (only.has('cli') && simA) {
    const cli = awsCliVersion();
    const accounts = simA.accountIds.slice(0, P.cli.accounts);
    const regions = REGIONS.slice(0, P.cli.regions);
    const targets = accounts.length * regions.length;
    // keystore-watch on the same targets: the sweep inside the process, and `keystore-watch once` end to end (process start included).
    const d = DaemonProcess.start({ nodeOptions: DAEMON_FLAGS });
    await d.init('once', daemonConfig(simA, accounts.length, regions), simA.credentials);
    const kw = await measuredPoll(simA, d, `once on the ${targets} CLI targets`);
    await d.close();
    const e2e = await onceProcess(simA, daemonConfig(simA, accounts.length, regions));
    log(`keystore-watch once (process, compiled): ${e2e.wallS}s, exit ${e2e.exitCode}`);
    if (cli) {
      log(`AWS CLI (${cli.version}) over the same ${targets} targets, sequentially...`);
      const c0 = await simA.counters();
      const aws = await cliSweep(simA.url, simA.credentials, accounts, regions);
      const calls = diffCounters(c0, await simA.counters());
      log(`AWS CLI: ${aws.wallS.toFixed(1)}s for ${aws.invocations} invocations, ${aws.stores} stores`);
      results.cli = { targets, awsCli: { ...cli, ...aws, wallS: r2(aws.wallS), calls: calls.total }, keystoreWatch: { sweepWallS: kw.wallS, calls: kw.calls, stores: kw.stores, onceProcessWallS: e2e.wallS }, ratioSweep: r1(aws.wallS / kw.wallS), ratioProcess: r1(aws.wallS / e2e.wallS) };
    } else {
      log('aws CLI not found (apt-get install awscli); side-by-side skipped');
      results.cli = { targets, awsCli: null, keystoreWatch: { sweepWallS: kw.wallS, calls: kw.calls, stores: kw.stores, onceProcessWallS: e2e.wallS } };
    }
  }
} finally {
  for (const s of sims) await s.stop().catch(() => {});
}

async function onceProcess(sim: SimProcess, config: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'ksw-bench-once-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, JSON.stringify({ ...config, stateDir: dir }));
  const t0 = performance.now();
  let exitCode = 0;
  let stdout = '';
  try {
    stdout = (await promisify(execFile)(daemonNode(), [join(buildOnce(), 'src', 'cli', 'main.js'), 'once', '--config', file, '--format', 'json'], {
      cwd: ROOT, maxBuffer: 256 << 20, env: { ...process.env, NODE_OPTIONS: DAEMON_FLAGS.join(' '), AWS_ACCESS_KEY_ID: sim.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: sim.credentials.secretAccessKey, AWS_SESSION_TOKEN: '', AWS_REGION: 'us-east-1' },
    })).stdout;
  } catch (err) {
    exitCode = (err as { code?: number }).code ?? -1; // 1 = a store is not CONNECTED (expected: the fleet has FAILED stores)
    stdout = (err as { stdout?: string }).stdout ?? '';
  }
  const wallS = r2((performance.now() - t0) / 1000);
  let stores = 0;
  let targets = 0;
  try {
    const out = JSON.parse(stdout) as { stores: unknown[]; targets: unknown[] };
    stores = out.stores.length;
    targets = out.targets.length;
  } catch { /* counted as 0: the exit code says why */ }
  return { wallS, exitCode, stores, targets };
}

// ---------- commit time per poll, both state backends (bench/commit.ts) ----------
if (only.has('commit')) {
  try {
    results.commit = await benchCommit({ sizes: QUICK ? [2000] : [2000, 20_000], runs: QUICK ? 3 : 9, log });
  } catch (err) {
    // No PostgreSQL binaries here: say so in the report rather than failing the other sections.
    results.commit = { error: (err as Error).message };
    log(`commit: ${(err as Error).message}`);
  }
}

// ---------- the status page's fleet view at 20,000 stores in Chromium (bench/status-page.ts) ----------
// Only when asked for (`--only status`): it needs the system Chromium.
if (only.has('status')) {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/status-page.ts'), '--stores', QUICK ? '2000' : '20000'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    process.stdout.write(stdout);
    results.status = { output: stdout };
  } catch (err) {
    results.status = { error: (err as Error).message };
    log(`status: ${(err as Error).message}`);
  }
}

results.totalWallS = r1((performance.now() - t00) / 1000);

// ---------- report ----------
const table: string[][] = [['measure', 'value', 'target', 'verdict']];
// The targets are for the default scenario: --quick sizes get no verdict.
const row = (m: string, v: string, target = '', ok: boolean | null = null) => table.push([m, v, target, ok === null || QUICK ? '' : ok ? 'ok' : 'MISS']);
const SW = results.sweeps as Record<string, { runs: SweepRun[] }> | undefined;
for (const [name, S] of Object.entries(SW ?? {})) {
  const spread = (xs: number[], unit = '') => (xs.length > 1 ? ` (${xs.length} runs: ${Math.min(...xs)}-${Math.max(...xs)}${unit})` : '');
  type M = Bound & { wallS: number; ratio: number; targets: number; stores: number };
  const ratioRow = <T extends M>(label: string, all: T[], limit: number): T => {
    const m = all.find((x) => x.ratio === median(all.map((y) => y.ratio)))!;
    row(`${name}: ${label}${all.length > 1 ? ', median run' : ''}`, `${m.wallS} s / ${m.boundS} s = x${m.ratio}${spread(all.map((x) => x.ratio))}${m.organizationsFloorS > 0 ? `; Organizations calls alone ${m.organizationsFloorS} s at 2 in flight` : ''}`, `<= x${limit}`, m.ratio <= limit);
    return m;
  };
  const once = ratioRow('once in-process (cold) / bound', S.runs.map((r) => r.once), 1.25);
  row(`  calls by operation`, Object.entries(once.byOperation).map(([k, v]) => `${k} ${v}`).join(', ') + (once.throttled ? `, throttled ${once.throttled}` : '') + `; mean latency ${once.meanLatencyMs} ms (from the simulator)`);
  ratioRow('once whole process, spawn to exit / bound', S.runs.map((r) => r.onceProcess), 1.25);
  const cold = ratioRow('daemon poll 1 (cold) / bound', S.runs.map((r) => r.daemonCold), 1.25);
  row(`  targets; stores`, `${cold.targets}; ${cold.stores}`);
  for (const i of [0, 1]) ratioRow(`daemon poll ${i + 2} (steady) / bound`, S.runs.map((r) => r.daemonWarm[i]!), 1.15);
  const warm = S.runs.map((r) => r.daemonWarm[0]!);
  row(`  targets/s; CPU s per 1k targets (poll 2)`, `${warm[0]!.targetsPerS}; ${warm[0]!.cpuSPer1kTargets}${spread(warm.map((x) => x.cpuSPer1kTargets))} (simulator used ${warm[0]!.simCpuS} CPU s)`);
  const rss = S.runs.map((r) => r.daemonPeakRssMB);
  row(`${name}: daemon peak RSS (${cold.stores} stores)`, `${Math.max(...rss)} MB${rss.length > 1 ? ` (highest of ${rss.length} runs: ${rss.join(', ')})` : ''}`);
}
const scale = results.scale as { targets: number; stores: number; cold: Measured; warm: Measured; peakRssMB: number }[] | undefined;
if (scale) {
  for (const s of scale) {
    row(`scale ${s.targets} targets (${s.stores} stores)`, `cold ${s.cold.wallS} s (x${s.cold.ratio}), warm ${s.warm.wallS} s (x${s.warm.ratio}); ${s.warm.targetsPerS} targets/s; CPU ${s.warm.cpuSPer1kTargets} s/1k; peak RSS ${s.peakRssMB} MB`);
  }
}
for (const [key, st] of [['metricsSmall', 'stateSmall'], ['metricsLarge', 'stateLarge']] as const) {
  type Scrape = { medianMs: number; p99Ms: number; bodyBytes: number; scrapes: number };
  const m = results[key] as (Scrape & { stores: number; gzip: Scrape }) | undefined;
  if (m) {
    row(`/metrics at ${m.stores} stores, gzip as Prometheus asks (${m.gzip.scrapes} scrapes)`, `median ${m.gzip.medianMs} ms, p99 ${m.gzip.p99Ms} ms, ${(m.gzip.bodyBytes / 1e6).toFixed(2)} MB`, '<= 20 ms median at 20k', m.stores >= 15_000 ? m.gzip.medianMs <= 20 : null);
    row(`/metrics at ${m.stores} stores, uncompressed (${m.scrapes} scrapes)`, `median ${m.medianMs} ms, p99 ${m.p99Ms} ms, ${(m.bodyBytes / 1e6).toFixed(2)} MB`, '<= 20 ms median at 20k', m.stores >= 15_000 ? m.medianMs <= 20 : null);
  }
  const w = results[st] as { stores: number; warm: ReturnType<typeof writeTimes> } | undefined;
  if (w) row(`state writes per poll at ${w.stores} stores`, `${w.warm.perPollMs} ms (snapshot ${w.warm.snapshotMs} ms / ${(w.warm.snapshotBytes / 1e6).toFixed(2)} MB, alerts ${w.warm.alertsMs} ms)`);
}
const leak = results.leak as { polls: number; from: number; targets: number; checkpoints: Record<string, { rssMB: number; heapUsedMB: number }>; rssGrowthPct: number; wallS: number } | undefined;
if (leak) {
  const at = (k: number | string) => leak.checkpoints[String(k)]!;
  row(`RSS growth poll ${leak.from} -> ${leak.polls} (${leak.targets} targets, no latency, ${leak.wallS} s)`, `${at(leak.from).rssMB} -> ${at(leak.polls).rssMB} MB (${leak.rssGrowthPct >= 0 ? '+' : ''}${leak.rssGrowthPct} %); RSS at polls ${Object.keys(leak.checkpoints).join('/')}: ${Object.values(leak.checkpoints).map((c) => c.rssMB).join(' / ')} MB; heap after GC ${at(leak.from).heapUsedMB} -> ${at(leak.polls).heapUsedMB} MB`, '<= 5 %', leak.rssGrowthPct <= 5);
}
const big = results.metricsLarge as { stores: number; peakRssMB: number } | undefined;
if (big) row(`daemon peak RSS at ${big.stores} stores (polls 1-2 and scrapes)`, `${big.peakRssMB} MB`, '<= 256 MB', big.stores >= 15_000 ? big.peakRssMB <= 256 : null);
const cli = results.cli as { targets: number; awsCli: { wallS: number; invocations: number; version: string } | null; keystoreWatch: { sweepWallS: number; onceProcessWallS: number }; ratioSweep?: number; ratioProcess?: number } | undefined;
if (cli) {
  row(`AWS CLI loop, ${cli.targets} targets`, cli.awsCli ? `${cli.awsCli.wallS} s (${cli.awsCli.invocations} invocations)` : 'skipped (no aws)');
  row(`keystore-watch, same ${cli.targets} targets`, `sweep ${cli.keystoreWatch.sweepWallS} s; \`once\` process ${cli.keystoreWatch.onceProcessWallS} s` + (cli.awsCli ? `  -> CLI is x${cli.ratioSweep} / x${cli.ratioProcess} slower` : ''));
}
const commit = results.commit as CommitFigures[] | { error: string } | undefined;
if (commit) {
  if (Array.isArray(commit)) for (const [m, v] of commitRows(commit)) row(m, v);
  else row('commit per poll (state backends)', `not measured: ${commit.error}`);
}
results.table = table;
const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
const text = table.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
const M = results.machine as ReturnType<typeof machine>;
process.stdout.write(`\nkeystore-watch bench${QUICK ? ' (quick)' : ''}: ${M.nproc} x ${M.cpuModel}, ${M.memoryGiB} GiB, node ${M.node}; latency ${FAULTS.latencyMs}-${FAULTS.latencyMs + FAULTS.jitterMs} ms (mean ${MEAN_LATENCY_MS}), ${FAULTS.rateLimitPerSecond}/s per account-region, concurrency ${CONCURRENCY}\n\n${text}\n\ntotal ${results.totalWallS} s\n`);
const outDir = join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
if (args.reference) writeFileSync(join(outDir, `reference-${new Date().toISOString().slice(0, 10)}.json`), JSON.stringify(results, null, 2) + '\n');
log(`wrote bench/results/latest.json${args.reference ? ' and the reference copy' : ''}`);
