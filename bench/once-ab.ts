// A/B of the whole `keystore-watch once` process, timed from outside (spawn to exit) as a user times it:
// this checkout's compiled build against another checkout's (a git worktree of an earlier commit), in
// alternation, against one simulator of the bench's sparse or dense fleet (bench/lib/fleets.ts: the same
// shapes, faults and concurrency as `npm run bench`). Whole-process start-up costs (module loading, the SDK
// thread's start) show here and not in the in-process sweep that run.ts also reports.
//
//   npm run build:bench && (cd ../other && npm run build:bench)   # or let one `npm run bench` build each
//   npx tsx bench/once-ab.ts --other ../other --scenario dense --rounds 4
//   npx tsx bench/once-ab.ts --other ../other --scenario startup --rounds 10   # one target, no latency: start-up alone
//
// Each side runs `node <checkout>/.tmp/bench-build/src/cli/main.js once --format json` with the image's
// NODE_OPTIONS. The ratio is to the latency bound: calls x the simulator's mean drawn latency / concurrency.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { CONCURRENCY, FAULTS, FLEET_SIZES, MEAN_LATENCY_MS, denseFleet, sparseFleet } from './lib/fleets.js';
import { BUILD_DIR, buildOnce, imageNodeOptions } from './lib/build.js';
import { ROOT, REGIONS_16, SimProcess } from './lib/sim-process.js';

const { values: args } = parseArgs({ options: { other: { type: 'string' }, scenario: { type: 'string', default: 'dense' }, rounds: { type: 'string', default: '4' } } });
if (!args.other) throw new Error('--other <checkout> is required (a checkout with .tmp/bench-build built)');
const other = join(resolve(args.other), '.tmp', 'bench-build');
if (!existsSync(join(other, 'src', 'cli', 'main.js'))) throw new Error(`${other}/src/cli/main.js is missing: build that checkout first (npx tsc -p tsconfig.bench.json there)`);
const dense = args.scenario === 'dense';
// One account-region without latency: the process's start-up and exit are nearly all of its time.
const startup = args.scenario === 'startup';
const rounds = Number(args.rounds);

buildOnce();
const sizes = FLEET_SIZES.full;
const sim = startup
  ? await SimProcess.start({ ...sparseFleet(1), regions: REGIONS_16.slice(0, 1), storesPerRegion: 1 }, { latencyMs: 0, jitterMs: 0, rateLimitPerSecond: 5 })
  : await SimProcess.start(dense ? denseFleet(sizes.dense) : sparseFleet(sizes.simAccounts), FAULTS, { organizations: dense });
const aws = { endpoint: sim.url, concurrency: CONCURRENCY, maxAttempts: 5, requestTimeout: '10s', targetTimeout: '60s', pageSize: 1000 };
const config = dense
  ? { aws, accounts: [], organizations: { enabled: true, roleName: 'KeystoreWatch' }, regions: REGIONS_16.slice(0, sizes.dense.regions) }
  : { aws, accounts: sim.accountIds.slice(0, startup ? 1 : sizes.defaultAccounts).map((id) => ({ id, roleArn: `arn:aws:iam::${id}:role/KeystoreWatch` })), regions: startup ? REGIONS_16.slice(0, 1) : REGIONS_16 };

async function once(build: string): Promise<{ wallS: number; calls: number; ratio: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ksw-once-ab-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, JSON.stringify({ ...config, stateDir: dir }));
  const c0 = (await sim.counters()).total;
  const t0 = performance.now();
  await promisify(execFile)(process.execPath, [join(build, 'src', 'cli', 'main.js'), 'once', '--config', file, '--format', 'json'], {
    cwd: ROOT, maxBuffer: 256 << 20,
    env: { ...process.env, NODE_OPTIONS: imageNodeOptions().join(' '), AWS_ACCESS_KEY_ID: sim.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: sim.credentials.secretAccessKey, AWS_SESSION_TOKEN: '', AWS_REGION: 'us-east-1' },
  }).catch((err: { code?: number }) => { if (err.code !== 1) throw err; }); // 1: the fleet has FAILED stores
  const wallS = (performance.now() - t0) / 1000;
  const calls = (await sim.counters()).total - c0;
  return { wallS, calls, ratio: startup ? NaN : wallS / ((calls * MEAN_LATENCY_MS) / CONCURRENCY / 1000) };
}

const fmt = (r: { wallS: number; calls: number; ratio: number }) => `${r.wallS.toFixed(2)} s, ${r.calls} calls, x${r.ratio.toFixed(3)}`;
const results: Record<'this' | 'other', number[]> = { this: [], other: [] };
try {
  for (let i = 1; i <= rounds; i++) {
    // Alternated, the other first in odd rounds: a drift of the machine falls on both sides.
    const order: ('this' | 'other')[] = i % 2 ? ['other', 'this'] : ['this', 'other'];
    for (const side of order) {
      const r = await once(side === 'this' ? BUILD_DIR : other);
      results[side].push(startup ? r.wallS : r.ratio);
      console.log(`[once-ab] round ${i} ${side.padEnd(5)} ${args.scenario}: ${fmt(r)}`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const unit = startup ? ' s' : '';
  const pre = startup ? '' : 'x';
  for (const side of ['other', 'this'] as const) console.log(`[once-ab] ${side.padEnd(5)}: ${results[side].map((x) => pre + x.toFixed(3) + unit).join(', ')} (median ${pre}${med(results[side]).toFixed(3)}${unit})`);
} finally {
  sim.child.kill();
}
