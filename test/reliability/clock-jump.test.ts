// Wall-clock steps under a whole daemon process: `node bin/keystore-watch.mjs run` polling every 2 s
// against the in-process simulator, its clock faked by libfaketime (Debian `faketime`). The offset
// is read from a file on every time call (FAKETIME_TIMESTAMP_FILE + FAKETIME_NO_CACHE=1), so the test
// steps the clock of the running process by rewriting it: +0 -> +1 h (forward: a VM resumed, an
// operator's `date -s`) -> +0 (backward 1 h: NTP correcting the fast clock) -> -1 h (backward again). FAKETIME_DONT_FAKE_MONOTONIC=1
// leaves CLOCK_MONOTONIC alone, as a real step does (without it libfaketime shifts the monotonic clock
// too, and every Node timer stalls on a backward step: a property of the fake, not of a real step).
//
// Polls are counted from the daemon's JSON log lines over windows measured on this process's
// monotonic clock (this process is not faked). Each window must hold the schedule's pace, the log
// must not grow faster than in the window before any step, and stderr/stdout hold only JSON lines.
// Node's Date sees each step (the log lines' `time` moves by the step) while the monotonic clock does
// not (the scheduler measures the step as the difference between the two).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { simulator, tempDir } from '../helpers/sim.js';
import { mustRun } from '../helpers/tools.js';
import { badLogLines, metricValue, reportFigure, sleep, waitUntil } from './support.js';

/** The multi-threaded libfaketime (Node runs threads), wherever the distribution put it. */
function findLibFaketime(): string | null {
  const dirs = ['/usr/lib/faketime', '/usr/local/lib/faketime', '/usr/lib64/faketime'];
  try {
    for (const d of readdirSync('/usr/lib')) dirs.push(path.join('/usr/lib', d, 'faketime'));
  } catch { /* no /usr/lib */ }
  for (const d of dirs) {
    const f = path.join(d, 'libfaketimeMT.so.1');
    if (existsSync(f)) return f;
  }
  return null;
}

const LIB = findLibFaketime();
const WINDOW_MS = 10_000;
const SCHEDULE_S = 2;
const TARGETS = 4; // 2 accounts x 2 regions

let sim: RunningSimulator | undefined;
let child: ChildProcess | null = null;
afterAll(async () => {
  child?.kill('SIGKILL');
  await sim?.close();
});

interface Line { at: number; json: Record<string, unknown> | null; raw: string }

describe.skipIf(!LIB && !mustRun('faketime'))('daemon under wall-clock steps (libfaketime)', () => {
  it('keeps polling at the schedule\'s pace through a 1-hour forward and two 1-hour backward steps, without a log flood', async () => {
    expect(LIB, 'libfaketimeMT.so.1 not found (Debian package faketime)').not.toBeNull();
    sim = await simulator('reliability-fleet.yaml');
    const dir = tempDir('kw-clock-');
    const offsetFile = path.join(dir, 'faketime.rc');
    writeFileSync(offsetFile, '+0\n');
    const configFile = path.join(dir, 'keystore-watch.yaml');
    writeFileSync(configFile, stringify({
      schedule: `*/${SCHEDULE_S} * * * * *`,
      listen: '127.0.0.1:0',
      stateDir: tempDir('kw-clock-state-'),
      logLevel: 'info',
      aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '2s', targetTimeout: '4s' },
      accounts: [{ id: '111111111111', name: 'management' }, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }],
      regions: ['us-east-1', 'eu-west-1'],
    }));
    const env = {
      ...process.env, NODE_NO_WARNINGS: '1',
      AWS_ACCESS_KEY_ID: baseAccessKeyId('111111111111'), AWS_SECRET_ACCESS_KEY: 'clock-test-secret', AWS_EC2_METADATA_DISABLED: 'true', AWS_PROFILE: '', AWS_SESSION_TOKEN: '',
      LD_PRELOAD: LIB!, FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1',
    };
    delete (env as Record<string, string | undefined>).FAKETIME;

    const out: Line[] = [];
    const err: Line[] = [];
    const collect = (into: Line[]) => {
      let buf = '';
      return (d: Buffer) => {
        buf += d.toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (raw === '') continue;
          let json: Record<string, unknown> | null = null;
          try { json = JSON.parse(raw) as Record<string, unknown>; } catch { /* kept raw */ }
          into.push({ at: performance.now(), json, raw });
        }
      };
    };
    child = spawn(process.execPath, [BIN, 'run', '--config', configFile], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', collect(out));
    child.stderr!.on('data', collect(err));

    const polls = (from: number, to: number) => out.filter((l) => l.at >= from && l.at < to && l.json?.msg === 'poll finished').length;
    const skips = (from: number, to: number) => out.filter((l) => l.at >= from && l.at < to && l.json?.msg === 'previous poll still running; skipping this tick').length;
    const linesIn = (from: number, to: number) => out.filter((l) => l.at >= from && l.at < to).length + err.filter((l) => l.at >= from && l.at < to).length;
    const lastTime = () => Number([...out].reverse().find((l) => typeof l.json?.time === 'number')?.json?.time);

    await waitUntil(() => out.some((l) => l.json?.msg === 'poll finished'), 'the first poll', 60_000);
    const url = String(out.find((l) => typeof l.json?.url === 'string')?.json?.url);

    const windows: { name: string; offsetS: number; polls: number; skips: number; lines: number; clockSkewS: number }[] = [];
    const runWindow = async (name: string, offsetS: number) => {
      if (name !== 'baseline') writeFileSync(offsetFile, `${offsetS >= 0 ? '+' : ''}${offsetS}\n`);
      const from = performance.now();
      await sleep(WINDOW_MS);
      const to = performance.now();
      // The daemon's Date against ours: the step is visible to Node's Date.
      const clockSkewS = Math.round((lastTime() - Date.now()) / 1000);
      windows.push({ name, offsetS, polls: polls(from, to), skips: skips(from, to), lines: linesIn(from, to), clockSkewS });
    };
    await runWindow('baseline', 0);
    await runWindow('forward 1 h', 3600);
    await runWindow('back 1 h (true time again)', 0);
    await runWindow('back 1 h more', -3600);

    const metrics = await fetch(`${url}/metrics`).then((r) => r.text());
    const steps = out.filter((l) => l.json?.msg === 'wall clock stepped; schedule re-anchored on the new time').map((l) => Number(l.json!.stepSeconds));
    const nodeCronLines = [...out, ...err].filter((l) => l.raw.includes('NODE-CRON')).length;
    reportFigure('clock-jump', {
      schedule: `every ${SCHEDULE_S} s`, windowSeconds: WINDOW_MS / 1000, windows, stepsLogged: steps, nodeCronLines,
      stderrLines: err.length, nonJsonLines: badLogLines([...out, ...err].map((l) => l.raw).join('\n')).length,
      overdue: metricValue(metrics, 'keystore_watch_poll_overdue_total'),
    });

    const expected = WINDOW_MS / 1000 / SCHEDULE_S; // 5 ticks per window
    for (const w of windows) {
      // The pace: ticks (polls started) per window; one catch-up after a forward step, and a little
      // slack for window edges and a loaded machine. The old scheduler: 0 in the backward window.
      expect(w.polls + w.skips, `${w.name}: ${JSON.stringify(w)}`).toBeGreaterThanOrEqual(expected - 2);
      expect(w.polls + w.skips, `${w.name}: ${JSON.stringify(w)}`).toBeLessThanOrEqual(expected + 2);
      // No flood: log lines stay proportional to the polls (a poll line, at most one line per target
      // were targets down, the step's own line), never one per slot passed over (the old scheduler:
      // 1800 for an hour forward).
      expect(w.lines, `${w.name}: ${JSON.stringify(w)}`).toBeLessThanOrEqual((w.polls + w.skips) * (1 + TARGETS) + 3);
    }
    // Node's Date saw each step.
    expect(windows.map((w) => Math.abs(w.clockSkewS - w.offsetS) <= 30)).toEqual([true, true, true, true]);
    // Only JSON on stdout and stderr; nothing from node-cron's console logger.
    expect(badLogLines([...out, ...err].map((l) => l.raw).join('\n'))).toEqual([]);
    expect(nodeCronLines).toBe(0);
    // Each step noticed once, the right way; the watchdog stayed quiet (polls kept starting on time).
    expect(steps.map((s) => Math.sign(s))).toEqual([1, -1, -1]);
    for (const s of steps) expect(Math.abs(Math.abs(s) - 3600)).toBeLessThan(5);
    expect(metricValue(metrics, 'keystore_watch_clock_steps_total{direction="forward"}')).toBe(1);
    expect(metricValue(metrics, 'keystore_watch_clock_steps_total{direction="backward"}')).toBe(2);
    expect(metricValue(metrics, 'keystore_watch_poll_overdue')).toBe(0);
    expect(metricValue(metrics, 'keystore_watch_poll_overdue_total')).toBe(0);

    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    child = null;
  }, 180_000);
});
