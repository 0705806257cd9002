// Steady-state CPU of the daemon, A/B: two builds of keystore-watch (this worktree and another checkout,
// e.g. a throwaway worktree of an older commit) polled alternately against ONE simulator, so both see the
// same machine load. Reports each poll's CPU seconds (the daemon child's own process.cpuUsage: load on a
// shared machine inflates it far less than wall time) per 1,000 targets, and optionally a CPU profile of the
// steady-state polls only (samples sliced to the polls' window on the system's monotonic clock, which the
// V8 profiler's timestamps share).
//
//   npx tsx bench/steady-ab.ts [--other /work/wt-ref] [--vary code|sim] [--scenario sparse|dense] [--rounds 3] [--polls 4]
//                              [--accounts 1000, dense 500] [--cpu-prof DIR]
//   npx tsx bench/steady-ab.ts --other-flags="--max-semi-space-size=8"   # this build twice, the second with more node flags
//
// --vary code (default): this checkout's daemon against the other's, both polling this checkout's simulator.
// --vary sim: this checkout's daemon both times, polling this checkout's simulator and the other's (both
// running all along): does the measuring instrument change the daemon's CPU per target?
//
// A CPU profile taken on a loaded machine is a wall-clock profile of the main thread: a thread preempted
// inside a syscall (typically writev to loopback, which wakes the simulator) is sampled there although it
// uses no CPU. Read process CPU seconds for the verdict, the profile only for where the CPU goes.
//
// --other: a checkout whose bench child was compiled (`node node_modules/typescript/bin/tsc -p
// tsconfig.bench.json && cp package.json .tmp/bench-build/` there); its daemon child speaks the same IPC.
import { fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REGIONS_16, ROOT, SimProcess } from './lib/sim-process.js';
import { denseFleet, FAULTS, sparseFleet } from './lib/fleets.js';
import { buildOnce, imageNodeOptions } from './lib/build.js';
import { median } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    other: { type: 'string' }, rounds: { type: 'string', default: '3' }, polls: { type: 'string', default: '4' },
    accounts: { type: 'string' }, 'cpu-prof': { type: 'string' }, 'daemon-flags': { type: 'string' },
    vary: { type: 'string', default: 'code' }, 'other-flags': { type: 'string' }, scenario: { type: 'string', default: 'sparse' },
  },
});
const ROUNDS = Number(args.rounds);
const POLLS = Math.max(2, Number(args.polls));
const DENSE = args.scenario === 'dense';
if (!DENSE && args.scenario !== 'sparse') throw new Error('--scenario is sparse or dense');
const ACCOUNTS = Number(args.accounts ?? (DENSE ? 500 : 1000));
const FLAGS = [...imageNodeOptions(), ...(args['daemon-flags'] ? args['daemon-flags'].split(' ').filter(Boolean) : [])];
const log = (s: string) => process.stderr.write(`[steady-ab ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface Side { name: string; root: string; child: string; sim: 'this' | 'other'; flags: string[] }
const VARY_SIM = args.vary === 'sim';
const own = join(buildOnce(), 'bench', 'lib', 'daemon-child.js');
const sides: Side[] = [{ name: 'this', root: ROOT, child: own, sim: 'this', flags: FLAGS }];
if (args['other-flags']) {
  // The node flags are the variable: the same build, the image's flags and these after them (later flags win).
  sides.push({ name: 'other-flags', root: ROOT, child: own, sim: 'this', flags: [...FLAGS, ...args['other-flags'].split(' ').filter(Boolean)] });
} else if (args.other && VARY_SIM) {
  sides.push({ name: 'other-simulator', root: ROOT, child: own, sim: 'other', flags: FLAGS });
} else if (args.other) {
  const child = join(args.other, '.tmp', 'bench-build', 'bench', 'lib', 'daemon-child.js');
  if (!existsSync(child)) throw new Error(`${child} missing: compile the other checkout's bench build first (see the header)`);
  sides.push({ name: 'other', root: args.other, child, sim: 'this', flags: FLAGS });
}

const mono = () => Number(process.hrtime.bigint() / 1000n); // µs, CLOCK_MONOTONIC like the V8 profiler's timestamps

/** One daemon child: init, POLLS polls; the CPU seconds of each poll; the window of polls 2..N. */
async function run(side: Side, sim: SimProcess, profDir: string | undefined) {
  const execArgv = ['--expose-gc', ...side.flags, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
  const child = fork(side.child, [], { cwd: side.root, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const pending = new Map<number, (m: { ok: boolean; result?: unknown; error?: string }) => void>();
  child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => { pending.get(m.id)?.(m); pending.delete(m.id); });
  const send = <T>(msg: Record<string, unknown>) => new Promise<T>((resolve, reject) => {
    const id = ++seq;
    pending.set(id, (m) => (m.ok ? resolve(m.result as T) : reject(new Error(m.error))));
    child.send({ ...msg, id });
  });
  const config = {
    aws: { endpoint: sim.url, concurrency: 64, maxAttempts: 5, requestTimeout: '10s', targetTimeout: '60s', pageSize: 1000 },
    accounts: sim.accountIds.slice(0, ACCOUNTS).map((id) => ({ id, roleArn: `arn:aws:iam::${id}:role/KeystoreWatch` })),
    regions: REGIONS_16,
  };
  await send({ cmd: 'init', mode: 'daemon', config, credentials: sim.credentials });
  const polls: { cpuS: number; wallS: number; collectS: number | null; targets: number; peakRssMB: number }[] = [];
  let from = 0;
  let to = 0;
  for (let i = 1; i <= POLLS; i++) {
    if (i === 2) from = mono();
    const r = await send<{ cpuS: number; wallS: number; collectS?: number | null; targets: number; maxRssMB: number }>({ cmd: 'poll' });
    polls.push({ cpuS: r.cpuS, wallS: r.wallS, collectS: r.collectS ?? null, targets: r.targets, peakRssMB: r.maxRssMB });
  }
  to = mono();
  const exited = new Promise((r) => child.once('exit', r));
  await send({ cmd: 'close' });
  child.disconnect();
  await exited;
  return { polls, window: { from, to } };
}

/** Keeps only the samples between from and to (µs, monotonic) of the newest profile in dir. */
function sliceProfile(dir: string, window: { from: number; to: number }, out: string): void {
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1)!;
  const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };
  const samples: number[] = [];
  const deltas: number[] = [];
  let t = p.startTime;
  let last = window.from;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < window.from || t > window.to) continue;
    samples.push(p.samples[i]!);
    deltas.push(t - last);
    last = t;
  }
  writeFileSync(out, JSON.stringify({ ...p, startTime: window.from, endTime: window.to, samples, timeDeltas: deltas }));
}

// The bench's sparse (default) or dense scenario and faults (bench/lib/fleets.ts); the accounts listed
// explicitly in both (steady polls: Organizations discovery is the cold polls' concern).
const SHAPE = DENSE ? denseFleet({ accounts: Math.max(ACCOUNTS, 16), regions: REGIONS_16.length }) : sparseFleet(Math.max(ACCOUNTS, 16));
const sims: Record<'this' | 'other', SimProcess | null> = { this: await SimProcess.start(SHAPE, FAULTS), other: null };
if (VARY_SIM) sims.other = await SimProcess.start(SHAPE, FAULTS, { root: args.other });
const figures: Record<string, number[]> = Object.fromEntries(sides.map((s) => [s.name, []]));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const side of round % 2 ? sides : [...sides].reverse()) {
      const profDir = args['cpu-prof'] ? join(args['cpu-prof'], `${side.name}-${round}`) : undefined;
      if (profDir) mkdirSync(profDir, { recursive: true });
      const sim = sims[side.sim]!;
      const c0 = await sim.cpuSeconds();
      const r = await run(side, sim, profDir);
      const simCpu = (await sim.cpuSeconds() ?? 0) - (c0 ?? 0);
      if (profDir) sliceProfile(profDir, r.window, join(args['cpu-prof']!, `${side.name}-${round}-steady.cpuprofile`));
      const per1k = r.polls.slice(1).map((p) => Math.round((p.cpuS / p.targets) * 1e6) / 1e3);
      figures[side.name]!.push(...per1k);
      log(`${side.name} round ${round}: poll CPU s ${r.polls.map((p) => p.cpuS.toFixed(2)).join(' / ')}; wall s ${r.polls.map((p) => p.wallS.toFixed(1)).join(' / ')} (collect ${r.polls.map((p) => p.collectS?.toFixed(1) ?? '?').join(' / ')}); steady CPU s per 1k targets ${per1k.join(', ')}; peak RSS ${Math.max(...r.polls.map((p) => p.peakRssMB)).toFixed(1)} MB; simulator ${simCpu.toFixed(1)} CPU s over the run`);
    }
  }
} finally {
  for (const s of Object.values(sims)) await s?.stop();
}
for (const [name, xs] of Object.entries(figures)) log(`${name}: steady-state CPU s per 1,000 targets median ${median(xs)} (${Math.min(...xs)}-${Math.max(...xs)}, ${xs.length} polls)`);
