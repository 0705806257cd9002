// The simulator in its own process, started through the public CLI (`keystore-watch simulate`) with a
// generated scenario, so its CPU never shares an event loop with the code under measurement.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateFleet } from '../../src/simulator/generate.js';
import { generateSchema } from '../../src/simulator/scenario.js';
import { baseAccessKeyId } from '../../src/simulator/fleet.js';
import type { CountersSnapshot } from '../../src/simulator/faults.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const REGIONS_16 = [
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'ca-central-1', 'sa-east-1', 'eu-west-1', 'eu-west-2',
  'eu-west-3', 'eu-central-1', 'eu-north-1', 'ap-northeast-1', 'ap-northeast-2', 'ap-southeast-1', 'ap-southeast-2', 'ap-south-1',
];

export interface FleetShape {
  seed: number;
  accounts: number;
  regions: string[];
  storesPerRegion: number;
  cloudHsmFraction: number;
  failedFraction: number;
  hsmsPerCluster: number;
}

export interface SimFaults { latencyMs: number; jitterMs: number; rateLimitPerSecond: number }

/** What the bench reads of the simulator's counters (GET /_sim/counters), typed by the simulator itself. */
export type SimCounters = Pick<CountersSnapshot, 'total' | 'byOperation' | 'byTarget' | 'served'>;

/** The answers written between two counter readings, with their drawn and held milliseconds. */
export function servedBetween(before: SimCounters, after: SimCounters): SimCounters['served'] {
  // A minimum is not a sum: the least extra of the answers in between cannot be told from two readings.
  return { answers: after.served.answers - before.served.answers, drawnMs: after.served.drawnMs - before.served.drawnMs, heldMs: after.served.heldMs - before.served.heldMs, minExtraMs: null };
}

/** Mean ms the simulator held an answer beyond the latency it drew for it (NaN without answers). */
export function simOverheadMs(served: SimCounters['served']): number {
  return served.answers > 0 ? (served.heldMs - served.drawnMs) / served.answers : NaN;
}

export class SimProcess {
  private constructor(readonly url: string, readonly child: ChildProcess, readonly accountIds: string[], readonly shape: FleetShape) {}

  /**
   * Starts `keystore-watch simulate` with a generated fleet; resolves once it prints its URL. With
   * `organizations`, the first generated account is the management account of an organization holding
   * them all (generated accounts sit in /<Env>/<Team> OUs). `root`: another checkout's simulator
   * (bench/steady-ab.ts --vary sim), run from that checkout's sources.
   */
  static async start(shape: FleetShape, faults: SimFaults, opts: { organizations?: boolean; root?: string } = {}): Promise<SimProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'ksw-bench-sim-'));
    const file = join(dir, 'scenario.yaml');
    // JSON is YAML; the scenario schema validates it like any operator-written file.
    writeFileSync(file, JSON.stringify({
      generate: { ...shape, disconnectedFraction: 0, suspendedFraction: 0 },
      faults: { ...faults, seed: shape.seed },
      organizations: { enabled: opts.organizations === true },
    }, null, 2));
    // KW_BENCH_SIM_FLAGS: node flags for the simulator (e.g. --cpu-prof --cpu-prof-dir=/tmp/sim-prof).
    const simFlags = (process.env.KW_BENCH_SIM_FLAGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...simFlags, '--import', 'tsx', 'src/cli/main.ts', 'simulate', '--scenario', file, '--listen', '127.0.0.1:0'], {
      cwd: opts.root ?? ROOT, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`simulator exited with ${code} before listening`)));
      lines.once('line', (line) => {
        const m = /listening on (\S+)/.exec(line);
        if (m) resolve(m[1]!);
        else reject(new Error(`unexpected simulator output: ${line}`));
      });
    });
    lines.on('line', () => {}); // keep draining stdout
    // The same seed yields the same ids as the simulator's own generation (the scenario has no listed accounts).
    const ids = generateFleet(generateSchema.parse({ ...shape })).map((a) => a.id);
    return new SimProcess(url, child, ids, shape);
  }

  get managementAccountId(): string {
    return this.accountIds[0]!;
  }

  get credentials() {
    return { accessKeyId: baseAccessKeyId(this.managementAccountId), secretAccessKey: 'bench-secret' };
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  counters(): Promise<SimCounters> {
    return this.call('GET', '/_sim/counters');
  }

  /** The fault configuration the simulator runs with now (the latency it draws: latencyMs + uniform [0, jitterMs)). */
  faults(): Promise<SimFaults & { rateLimits: Record<string, number> }> {
    return this.call('GET', '/_sim/faults');
  }

  async resetCounters(): Promise<void> {
    await this.call('POST', '/_sim/counters/reset');
  }

  async setFaults(patch: Partial<SimFaults>): Promise<void> {
    await this.call('PATCH', '/_sim/faults', patch);
  }

  stats(): Promise<{ accounts: number; stores: number; clusters: number; targets: number }> {
    return this.call('GET', '/_sim/stats');
  }

  /** CPU seconds the simulator process has used so far (from /proc; Linux only, else null). */
  async cpuSeconds(): Promise<number | null> {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
