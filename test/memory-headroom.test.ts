// A poll's peak memory against the container's limit (src/memory-headroom.ts): the parsers and the verdict
// pure, the probe on real files (a cgroup tree of the test's own, and this process's /proc), and the
// self-alert end to end through a real daemon polling the simulator.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { limitFileCandidates, MEMORY_ALERT, memoryHeadroomVerdict, parseCgroupLimit, parseVmHwm, systemMemoryProbe, type MemoryProbe } from '../src/memory-headroom.js';
import type { RunningSimulator } from '../src/simulator/server.js';
import { BASE_CREDENTIALS, simConfig, simulator, tempDir } from './helpers/sim.js';
import { captureLogger } from './reliability/support.js';
import { selfAlertValue } from './helpers/cloudhsm.js';

const MiB = 2 ** 20;
/** A cgroup v1 memory hierarchy this process may create cgroups in (root on a v1 or hybrid host): the real-kernel test. */
const V1_MEMORY = '/sys/fs/cgroup/memory';
const V1_MEMORY_WRITABLE = (() => {
  try {
    accessSync(join(V1_MEMORY, 'cgroup.procs'), constants.W_OK);
    return process.platform === 'linux' && process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

describe('parsers (pure)', () => {
  it('VmHWM of /proc/<pid>/status, in bytes', () => {
    expect(parseVmHwm('Name:\tnode\nVmPeak:\t 1234 kB\nVmHWM:\t  371200 kB\nVmRSS:\t  200000 kB\n')).toBe(371200 * 1024);
    expect(parseVmHwm('Name:\tnode\nVmRSS:\t 1 kB\n')).toBeNull();
  });

  it('a cgroup limit in bytes; "max", v1 unlimited and garbage are no limit', () => {
    expect(parseCgroupLimit('536870912\n')).toBe(512 * MiB);
    expect(parseCgroupLimit('max\n')).toBeNull();
    expect(parseCgroupLimit('9223372036854771712\n')).toBeNull();
    expect(parseCgroupLimit('0\n')).toBeNull();
    expect(parseCgroupLimit('-1')).toBeNull();
    expect(parseCgroupLimit('')).toBeNull();
  });
});

describe('limitFileCandidates (pure)', () => {
  it('its own cgroup and each ancestor, v2 and v1, then the mount\'s root', () => {
    expect(limitFileCandidates('0::/system.slice/keystore-watch.service\n')).toEqual([
      'system.slice/keystore-watch.service/memory.max', 'system.slice/memory.max', 'memory.max', 'memory/memory.limit_in_bytes',
    ]);
    expect(limitFileCandidates('9:name=systemd:/\n4:memory:/docker/abc\n3:cpuset:/\n0::/\n')).toEqual([
      'memory/docker/abc/memory.limit_in_bytes', 'memory/docker/memory.limit_in_bytes', 'memory/memory.limit_in_bytes', 'memory.max',
    ]);
    expect(limitFileCandidates('5:cpu,memory:/a\n')).toEqual(['memory/a/memory.limit_in_bytes', 'memory/memory.limit_in_bytes', 'memory.max']);
  });

  it('no /proc/self/cgroup: the root only; a path cannot climb out of the mount', () => {
    expect(limitFileCandidates(null)).toEqual(['memory.max', 'memory/memory.limit_in_bytes']);
    expect(limitFileCandidates('0::/../../etc\n')).toEqual(['etc/memory.max', 'memory.max', 'memory/memory.limit_in_bytes']);
  });
});

describe('memoryHeadroomVerdict (pure)', () => {
  const at = (peakMiB: number, firing = false, limitMiB: number | null = 512) =>
    memoryHeadroomVerdict({ peakBytes: peakMiB * MiB, limitBytes: limitMiB === null ? null : limitMiB * MiB, peakIsPoll: true, stores: 20066, firing });

  it('raises a warning from 85 % of the limit, with the figures and a limit to ask for', () => {
    expect(at(430)).toBeNull(); // 84 %
    const v = at(436) as { raise: { id: string; severity: string; summary: string; steps: string[]; details: Record<string, string> } };
    expect(v.raise).toMatchObject({ id: MEMORY_ALERT, severity: 'warning', details: { 'Peak (MiB)': '436', 'Limit (MiB)': '512', Stores: '20066' } });
    expect(v.raise.summary).toContain('85 %');
    expect(v.raise.summary).toContain('436 MiB of 512 MiB');
    expect(v.raise.steps[0]).toContain('at least 654 MiB');
    // Never critical, even past the limit's edge: a critical self-alert would turn /readyz to 503.
    expect((at(510) as { raise: { severity: string } }).raise.severity).toBe('warning');
  });

  it('resolves only below 75 % once firing, and says nothing without a limit or a peak', () => {
    expect(at(400, true)).toBeNull(); // 78 %: still firing, nothing to change
    expect(at(380, true)).toEqual({ resolve: expect.stringContaining('74 %') });
    expect(at(380, false)).toBeNull();
    expect(at(500, false, null)).toBeNull();
    expect(memoryHeadroomVerdict({ peakBytes: null, limitBytes: 512 * MiB, peakIsPoll: true, stores: 1, firing: true })).toBeNull();
  });

  it('says when the peak is the process\'s rather than the poll\'s', () => {
    const v = memoryHeadroomVerdict({ peakBytes: 500 * MiB, limitBytes: 512 * MiB, peakIsPoll: false, stores: 1, firing: false }) as { raise: { detail: string } };
    expect(v.raise.detail).toContain('the kernel would not reset the peak per poll');
  });
});

describe('systemMemoryProbe (real files)', () => {
  it('reads cgroup v2 memory.max, then v1 memory.limit_in_bytes, and no limit when neither exists', () => {
    const v2 = tempDir('kw-cgroup-v2-');
    writeFileSync(join(v2, 'memory.max'), '268435456\n');
    expect(systemMemoryProbe({ cgroupRoot: v2 }).limit()).toBe(256 * MiB);
    writeFileSync(join(v2, 'memory.max'), 'max\n');
    expect(systemMemoryProbe({ cgroupRoot: v2 }).limit()).toBeNull();
    const v1 = tempDir('kw-cgroup-v1-');
    mkdirSync(join(v1, 'memory'));
    writeFileSync(join(v1, 'memory', 'memory.limit_in_bytes'), '536870912\n');
    expect(systemMemoryProbe({ cgroupRoot: v1 }).limit()).toBe(512 * MiB);
    expect(systemMemoryProbe({ cgroupRoot: tempDir('kw-cgroup-none-') }).limit()).toBeNull();
  });

  it.runIf(process.platform === 'linux')('resets and reads a process\'s peak resident set (/proc/self), in a child that can free memory', () => {
    // A child node with --expose-gc: touch 128 MiB outside the V8 heap, free it, then reset. The peak must
    // have counted the block, and must drop back once reset (the kernel's VmHWM, not a sampler).
    const script = `
      import { systemMemoryProbe } from ${JSON.stringify(new URL('../src/memory-headroom.ts', import.meta.url).href)};
      const probe = systemMemoryProbe();
      const before = probe.peak();
      let block = Buffer.alloc(128 * 2 ** 20, 1);
      const raised = probe.peak();
      block = null;
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 50));
      const resetOk = probe.resetPeak();
      const after = probe.peak();
      process.stdout.write(JSON.stringify({ before, raised, resetOk, after }));`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const r = JSON.parse(out) as { before: number; raised: number; resetOk: boolean; after: number };
    expect(r.resetOk).toBe(true);
    expect(r.raised - r.before).toBeGreaterThan(120 * MiB);
    expect(r.raised - r.after).toBeGreaterThan(100 * MiB);
  });

  it('takes the smallest limit above the process: its own cgroup\'s or an ancestor\'s (a pod-level limit)', () => {
    const root = tempDir('kw-cgroup-tree-');
    const proc = tempDir('kw-proc-');
    writeFileSync(join(proc, 'cgroup'), '0::/kubepods/pod1/c1\n');
    mkdirSync(join(root, 'kubepods', 'pod1', 'c1'), { recursive: true });
    writeFileSync(join(root, 'kubepods', 'pod1', 'c1', 'memory.max'), '536870912\n');
    writeFileSync(join(root, 'kubepods', 'memory.max'), 'max\n');
    expect(systemMemoryProbe({ proc, cgroupRoot: root }).limit()).toBe(512 * MiB);
    writeFileSync(join(root, 'kubepods', 'pod1', 'memory.max'), '314572800\n');
    expect(systemMemoryProbe({ proc, cgroupRoot: root }).limit()).toBe(300 * MiB);
  });

  it.runIf(V1_MEMORY_WRITABLE)('reads the limit of a real cgroup v1 memory cgroup the process runs in (root, this kernel)', () => {
    const dir = join(V1_MEMORY, `kw-test-${process.pid}`);
    mkdirSync(dir);
    try {
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(300 * MiB));
      const script = `
        import { systemMemoryProbe } from ${JSON.stringify(new URL('../src/memory-headroom.ts', import.meta.url).href)};
        process.stdout.write(JSON.stringify({ limit: systemMemoryProbe().limit() }));`;
      // The shell moves itself into the cgroup, then becomes node: the probe runs inside it.
      const out = execFileSync('sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec "$0" --import tsx --input-type=module -e "$1"`, process.execPath, script], { encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual({ limit: 300 * MiB });
    } finally {
      rmdirSync(dir);
    }
  });

  it('a reset the kernel refuses is reported, not thrown', () => {
    expect(systemMemoryProbe({ proc: join(tempDir('kw-proc-'), 'missing') }).resetPeak()).toBe(false);
    expect(systemMemoryProbe({ proc: join(tempDir('kw-proc-'), 'missing') }).peak()).toBeNull();
  });
});

describe('daemon: a poll near the memory limit', () => {
  let sim: RunningSimulator;
  beforeAll(async () => { sim = await simulator('poller-fleet.yaml'); });
  afterAll(async () => { await sim?.close(); });

  it.runIf(process.platform === 'linux')('raises the memory-headroom self-alert (a warning: /readyz stays 200) and resolves it once a poll peaks below 75 %', async () => {
    // This process's real peak (reset by each poll), against a limit the test sets as a share of that very
    // peak when the daemon reads it: 90 % (fires), then 50 % (resolves). Nowhere near first.
    let share: number | null = null;
    let resets = 0;
    const real = systemMemoryProbe();
    const probe: MemoryProbe = {
      resetPeak: () => { resets++; return real.resetPeak(); },
      peak: () => real.peak(),
      limit: () => (share === null ? 10 * 2 ** 40 : Math.round(real.peak()! / share)),
    };
    const daemon = new Daemon({ config: simConfig(sim), logger: silentLogger(), credentials: BASE_CREDENTIALS, schedule: false, memory: probe });
    await daemon.start();
    try {
      const selfAlert = async () => {
        const text = await (await fetch(`${daemon.url}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith(`keystore_watch_self_alert{id="${MEMORY_ALERT}",severity="warning"}`));
        return line === undefined ? undefined : Number(line.split(' ').at(-1));
      };
      expect(await daemon.pollNow()).toBe(true);
      expect(selfAlertValue(await (await fetch(`${daemon.url}/metrics`)).text(), MEMORY_ALERT)).toBeUndefined();
      share = 0.9;
      expect(await daemon.pollNow()).toBe(true);
      expect(await selfAlert()).toBe(1);
      expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
      share = 0.5;
      expect(await daemon.pollNow()).toBe(true);
      expect(await selfAlert()).toBe(0);
      expect(resets).toBe(3);
    } finally {
      await daemon.stop(1000);
    }
  });

  it('a probe that throws never fails the poll: the poll counts, a warning is logged', async () => {
    const log = captureLogger('warn');
    const probe: MemoryProbe = { resetPeak: () => true, peak: () => 500 * MiB, limit: () => { throw new Error('cgroup read exploded'); } };
    const daemon = new Daemon({ config: simConfig(sim), logger: log.logger, credentials: BASE_CREDENTIALS, schedule: false, memory: probe });
    await daemon.start();
    try {
      expect(await daemon.pollNow()).toBe(true);
      expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
      expect(log.text()).toContain('could not compare the poll');
      expect(log.text()).toContain('cgroup read exploded');
    } finally {
      await daemon.stop(1000);
    }
  });
});
