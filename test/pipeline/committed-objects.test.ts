// The state backend keeps references to what it is given (src/state/backend.ts REFERENCES: the file
// backend's memory is the committed objects, not a parsed copy), so no caller may change an object
// after committing it. This runs the alert pipeline (commits, deliveries with retries, a resolve) with
// every object it hands to the backend deep-frozen on the way: a change to any of them throws (ES
// modules are strict), and the poll, the delivery or the log says so.
import { Writable } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AlertPipeline } from '../../src/pipeline/alert-pipeline.js';
import { parseConfigText } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import { FileStateBackend } from '../../src/state/file-backend.js';
import type { StateBackend } from '../../src/state/backend.js';
import type { Snapshot } from '../../src/model.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { snapshot, store } from '../helpers/snapshots.js';

let rx: Receiver;
let dir: string;
beforeEach(async () => {
  // The first two sends fail (retried from the outbox's own entries), then every send lands.
  rx = await startReceiver({ respond: (_req, n) => (n <= 2 ? { status: 503 } : { status: 200 }) });
  dir = await mkdtemp(path.join(tmpdir(), 'ksw-committed-'));
});
afterEach(async () => {
  await rx.close();
  await rm(dir, { recursive: true, force: true });
});

function deepFreeze(v: unknown, seen = new Set<object>()): void {
  if (typeof v !== 'object' || v === null || seen.has(v)) return;
  seen.add(v);
  for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k], seen);
  Object.freeze(v);
}

/** The backend with every argument of every write deep-frozen before it goes in. */
function freezing(inner: StateBackend, frozen: unknown[]): StateBackend {
  return new Proxy(inner, {
    get(target, key) {
      const v = Reflect.get(target, key, target) as unknown;
      if (typeof v !== 'function') return v;
      if (key === 'commit' || key === 'applyOutbox' || key === 'applyOnCall') {
        return (...args: unknown[]) => {
          for (const a of args.slice(1)) { deepFreeze(a); frozen.push(a); }
          return (v as (...x: unknown[]) => unknown).apply(target, args);
        };
      }
      return (v as (...x: unknown[]) => unknown).bind(target);
    },
  });
}

const polls = (states: ('CONNECTED' | 'FAILED')[]): Snapshot[] => states.map((state, i) => snapshot({
  pollId: i + 1, startedAt: 1_700_000_000_000 + i * 60_000, finishedAt: 1_700_000_001_000 + i * 60_000,
  stores: [store({ state, errorCode: state === 'FAILED' ? 'NETWORK_ERRORS' : null, stateSince: 1_700_000_000_000 + i })],
}));

describe('what the alert pipeline commits is never changed afterwards', () => {
  it('runs firing, retried deliveries and the resolve with every committed object frozen', async () => {
    const logged: string[] = [];
    const logger = createLogger({ level: 'warn', destination: new Writable({ write(chunk, _enc, cb) { logged.push(String(chunk)); cb(); } }) });
    // checkpointBytes 0: every write is also folded into the documents, from the backend's memory (the frozen objects).
    const backend = await FileStateBackend.open({ dir, fsync: false, checkpointBytes: 0 });
    const loaded = await backend.load();
    const frozen: unknown[] = [];
    const config = parseConfigText(stringify({ regions: ['us-east-1'], accounts: [{ id: '111111111111' }], alerting: { channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] } }), 'test', {});
    const pipeline = await AlertPipeline.open({
      config, backend: { backend: freezing(backend, frozen), fence: () => ({ epoch: 1 }), loaded }, logger, metrics: new SelfMetrics({ processMetrics: false }), now: Date.now,
      outbox: { backoff: { baseMs: 20, maxMs: 50, factor: 2 } },
    });
    pipeline.startDelivery();
    let prev: Snapshot | null = null;
    for (const s of polls(['CONNECTED', 'FAILED', 'FAILED', 'FAILED', 'CONNECTED', 'CONNECTED'])) {
      await pipeline.process(prev, s);
      prev = s;
    }
    // The firing and the resolve, each delivered after the failed attempts.
    await rx.until(() => rx.delivered().length >= 2, 20_000, 'the firing and the resolve delivered');
    await pipeline.stop(5000);
    expect(rx.requests.length).toBeGreaterThanOrEqual(4);
    expect(frozen.length).toBeGreaterThan(6); // the commits and the outbox writes went through the freezer
    expect(logged.filter((l) => /"level":(50|60)/.test(l) || /read.only|not extensible|Cannot (add|assign|delete)/i.test(l))).toEqual([]);

    // What the backend kept (the frozen objects) is what a restart reads back.
    const again = await FileStateBackend.open({ dir, fsync: false });
    const s = await again.load();
    expect(s.pollId).toBe(6);
    expect(s.outbox.entries).toEqual([]);
    expect(s.outbox.deliveries.map((d) => d.outcome)).toEqual(['delivered', 'delivered']);
    await again.close();
    await backend.close();
  });
});
