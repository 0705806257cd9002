// How close a poll's peak memory came to the container's memory limit, and the self-alert when it came too
// close. The kernel's OOM killer does not warn: a daemon whose poll outgrows the limit (a fleet that grew,
// a bigger organisation) is killed mid-poll, restarts, is killed again, and pages nobody about key stores
// meanwhile. The peak of a 20,000-store poll is ~370 MB (docs/performance.md), above a 256 MiB limit and
// 70 % of the Helm chart's 512 MiB; this tells on-call before the kernel decides.
//
// The peak is the kernel's own high-water mark of the process (VmHWM in /proc/self/status), reset before
// each poll by writing 5 to /proc/self/clear_refs (proc(5): "reset the peak resident set size"), so each
// poll reports its own peak, not the process's. The limit is the smallest of the cgroup limits above the
// process: memory.max (cgroup v2) or memory.limit_in_bytes (v1) of its own cgroup (/proc/self/cgroup) and
// each ancestor, then the root of /sys/fs/cgroup as a container sees it (its own cgroup, mounted there). No
// limit, no /proc (not Linux), or a reset the kernel refuses: no verdict, never a guess.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SelfAlertInput } from './alert/self-alerts.js';

export const MEMORY_ALERT = 'memory-headroom';

/**
 * A poll's peak at or above this share of the limit raises the self-alert; below RESOLVE_SHARE resolves it
 * (the gap keeps a fleet that hovers at the threshold from paging every other poll). A warning, never
 * critical: a critical self-alert turns /readyz to 503, and a daemon near its limit still polls and pages.
 */
export const RAISE_SHARE = 0.85;
export const RESOLVE_SHARE = 0.75;

/** VmHWM of a /proc/<pid>/status text, in bytes; null when absent. Pure. */
export function parseVmHwm(status: string): number | null {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * A cgroup memory limit file's value in bytes; null for no limit: "max" (v2), or v1's "unlimited" value
 * (a page-rounded LONG_MAX, ~9.2e18) and anything else at or above 2^60. Pure.
 */
export function parseCgroupLimit(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n > 0 && n < 2 ** 60 ? n : null;
}

/**
 * The memory limit files that bind this process, relative to the cgroup mount (/sys/fs/cgroup), from the
 * text of /proc/self/cgroup: its own cgroup's and each ancestor's, v2 (`0::/path`) and v1 (`N:memory:/path`),
 * then the mount's root (inside a container with its own cgroup namespace, or Docker's v1 bind mount, the
 * root IS the container's cgroup). Pure.
 */
export function limitFileCandidates(procCgroup: string | null): string[] {
  const out: string[] = [];
  const add = (path: string, file: (dir: string) => string) => {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.' && p !== '..');
    for (let i = parts.length; i >= 0; i--) out.push(file(parts.slice(0, i).join('/')));
  };
  for (const line of (procCgroup ?? '').split('\n')) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') add(m[3]!, (dir) => join(dir, 'memory.max'));
    else if (m[2]!.split(',').includes('memory')) add(m[3]!, (dir) => join('memory', dir, 'memory.limit_in_bytes'));
  }
  for (const root of ['memory.max', join('memory', 'memory.limit_in_bytes')]) if (!out.includes(root)) out.push(root);
  return out;
}

/** Where the process's memory facts are read (tests point it at files of their own). */
export interface MemoryProbe {
  /** Resets the peak; false when the kernel refused (the next peak is the process's, not the poll's). */
  resetPeak(): boolean;
  /** The peak resident set since the last reset, bytes; null when unknown. */
  peak(): number | null;
  /** The container's memory limit, bytes; null when there is none or it cannot be read. */
  limit(): number | null;
}

/** The real probe: /proc/self (`proc`) and the cgroup filesystem (`cgroupRoot`, default /sys/fs/cgroup). */
export function systemMemoryProbe(opts: { proc?: string; cgroupRoot?: string } = {}): MemoryProbe {
  const proc = opts.proc ?? '/proc/self';
  const root = opts.cgroupRoot ?? '/sys/fs/cgroup';
  const read = (path: string): string | null => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  };
  return {
    resetPeak() {
      try {
        writeFileSync(join(proc, 'clear_refs'), '5');
        return true;
      } catch {
        return false;
      }
    },
    peak() {
      const status = read(join(proc, 'status'));
      return status === null ? null : parseVmHwm(status);
    },
    limit() {
      // The smallest limit that binds the process: its own cgroup's or an ancestor's (a pod-level limit).
      let smallest: number | null = null;
      for (const file of limitFileCandidates(read(join(proc, 'cgroup')))) {
        const text = read(join(root, file));
        const limit = text === null ? null : parseCgroupLimit(text);
        if (limit !== null && (smallest === null || limit < smallest)) smallest = limit;
      }
      return smallest;
    },
  };
}

/** What one poll's memory says: the alert to raise, a resolution, or nothing to change. Pure. */
export function memoryHeadroomVerdict(
  m: { peakBytes: number | null; limitBytes: number | null; peakIsPoll: boolean; stores: number; firing: boolean },
): { raise: SelfAlertInput } | { resolve: string } | null {
  if (m.peakBytes === null || m.limitBytes === null) return null;
  const share = m.peakBytes / m.limitBytes;
  const mb = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  if (share >= RAISE_SHARE) {
    return {
      raise: {
        id: MEMORY_ALERT,
        severity: 'warning',
        summary: `keystore-watch's poll peaked at ${Math.round(share * 100)} % of its container's memory limit (${mb(m.peakBytes)} of ${mb(m.limitBytes)})`,
        detail: `${m.peakIsPoll ? 'The last poll' : 'This process (the kernel would not reset the peak per poll)'} used ${mb(m.peakBytes)} at its peak, against a memory limit of ${mb(m.limitBytes)}. A poll that outgrows the limit is killed by the kernel without a word: keystore-watch restarts, is killed again at the same point, and pages about no key store meanwhile. The peak grows with the number of stores (${m.stores} now) and comes after each sweep, while the next snapshot is built, diffed, committed and rendered. This resolves when a poll peaks below ${Math.round(RESOLVE_SHARE * 100)} % of the limit.`,
        steps: [
          `Raise the container's memory limit to at least ${Math.ceil((m.peakBytes * 1.5) / 2 ** 20)} MiB (1.5 x the peak): Helm resources.limits.memory, the ECS task's memory, or docker run --memory.`,
          'If the limit cannot grow: NODE_OPTIONS=--max-old-space-size=512 lowered the peak at 20,000 stores by ~45 MB for ~3 % more CPU per poll (docs/performance.md); aws.sdkThreads: 0 saves the SDK thread (~40-50 MB) and makes large polls about twice as long.',
          'Check the logs for "poll finished" lines: a store count that jumped is a fleet that grew (or an account list that changed).',
        ],
        details: { 'Peak (MiB)': String(Math.round(m.peakBytes / 2 ** 20)), 'Limit (MiB)': String(Math.round(m.limitBytes / 2 ** 20)), Stores: String(m.stores) },
      },
    };
  }
  if (m.firing && share < RESOLVE_SHARE) return { resolve: `The last poll peaked at ${Math.round(share * 100)} % of the memory limit (${mb(m.peakBytes)} of ${mb(m.limitBytes)}).` };
  return null;
}
