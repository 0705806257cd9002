// The outbox under real SIGKILLs: a child process delivers 300 notifications to a local receiver
// and is killed at random moments, restarted on the same state dir (re-enqueueing everything, as the
// alert engine replays after a crash) until it finishes. Nothing may be lost, the order must hold,
// and a notification may reach the receiver twice only through the documented window (killed
// after the receiver answered, before the removal was durable): at most once per kill, always
// immediately re-sent, always with the same idempotency key.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

const COUNT = 300;
const MAX_KILLS = Number(process.env.KSW_OUTBOX_KILLS ?? (process.env.KSW_LONG ? 100 : 20));
const child = fileURLToPath(new URL('../helpers/outbox-child.ts', import.meta.url));

let dir: string;
let receiver: Receiver;
afterAll(async () => {
  await receiver?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function run(dir: string, url: string, killAfterMs: number | null): Promise<{ done: boolean; resumed: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, dir, url, String(COUNT)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let resumed = 0;
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m && killAfterMs !== null && resumed === 0 && !out.includes('armed')) {
        resumed = Number(m[1]);
        out += 'armed';
        setTimeout(() => p.kill('SIGKILL'), killAfterMs);
      }
    });
    p.on('exit', (code, signal) => {
      resumed = Number(/ready (\d+)/.exec(out)?.[1] ?? 0);
      if (signal === 'SIGKILL') resolve({ done: false, resumed });
      else if (code === 0 && out.includes('done')) resolve({ done: true, resumed });
      else reject(new Error(`child exited ${code}/${signal}: ${err}`));
    });
  });
}

describe('outbox under SIGKILL', () => {
  it(`loses nothing and duplicates only inside the documented window across up to ${MAX_KILLS} kills`, async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ksw-outbox-crash-'));
    receiver = await startReceiver();
    // A flaky receiver makes the kills land in retries and backoffs too.
    receiver.setRespond((_q, n) => (n % 11 === 0 ? { status: 503 } : { status: 200 }));
    let kills = 0;
    let resumedInFlight = 0;
    for (;;) {
      const r = await run(dir, `${receiver.url}/hook`, kills < MAX_KILLS ? 150 + Math.floor(Math.random() * 250) : null);
      resumedInFlight += r.resumed;
      if (r.done) break;
      kills++;
    }
    const delivered = receiver.delivered().map((q) => q.headers['idempotency-key'] as string);
    const expected = Array.from({ length: COUNT }, (_, i) => `n-${String(i).padStart(4, '0')}`);
    const storeOf = (id: string) => Number(id.slice(2)) % 10;
    // Nothing lost, order per store held: per store, collapsing immediate re-sends gives exactly the enqueue order.
    let duplicates = 0;
    for (let store = 0; store < 10; store++) {
      const mine = delivered.filter((id) => storeOf(id) === store);
      const collapsed = mine.filter((id, i) => id !== mine[i - 1]);
      expect(collapsed, `store ${store}`).toEqual(expected.filter((id) => storeOf(id) === store));
      duplicates += mine.length - collapsed.length;
    }
    expect(new Set(delivered).size).toBe(COUNT);
    expect(delivered.length - COUNT).toBe(duplicates);
    expect(duplicates).toBeLessThanOrEqual(kills);
    // Every request carried the notification id both as key and in the body.
    for (const q of receiver.requests) expect((q.json as { id: string }).id).toBe(q.headers['idempotency-key']);
    console.log(`outbox crash test: ${kills} SIGKILLs survived, ${COUNT} notifications delivered, ${duplicates} re-sent after a kill (same idempotency key), ${resumedInFlight} in-flight entries resumed`);
  }, 600_000);
});
