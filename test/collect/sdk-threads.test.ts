// The per-target SDK calls on worker threads (aws.sdkThreads): the same answers as on the main thread
// through the real SDK clients and the simulator, the same request counts, and a thread that dies
// mid-poll fails only the calls it had in flight (targets down, last known stores kept) and is replaced.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DescribeCustomKeyStoresCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { AwsClients, errorCode, type AwsService } from '../../src/collect/aws-clients.js';
import { fromTransferableError, prestartedSdkThread, prestartSdkThread, releasePrestartedSdkThread, respawnDelayMs, sdkThreadCount, SdkThreads, toTransferableError, type SdkThreadFailure } from '../../src/collect/sdk-threads.js';
import { SnapshotPoller } from '../../src/pipeline/snapshot-poller.js';
import { parseConfig } from '../../src/config/load.js';
import { serializeError as logFields } from '../../src/util/redact.js';
import { startSimulator, baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import type { Snapshot } from '../../src/model.js';
import { tempDir } from '../helpers/sim.js';

let sim: RunningSimulator;
const MGMT = '100000000000';

beforeAll(async () => {
  sim = await startSimulator({
    port: 0,
    scenario: {
      accounts: [{ id: MGMT, name: 'management' }],
      faults: { rateLimitPerSecond: 0, latencyMs: 2, jitterMs: 4 },
      generate: { seed: 11, accounts: 12, regions: ['us-east-1', 'eu-west-1'], storesPerRegion: 2, cloudHsmFraction: 0.5 },
    },
  });
});
afterAll(async () => { await sim?.close(); });
// A prestarted thread a failing test left behind would be taken by the next test's threads.
afterEach(() => { releasePrestartedSdkThread(); });

function setup(sdkThreads: number, aws: Record<string, unknown> = {}) {
  const accounts = sim.fleet.listAccounts().filter((a) => a.id !== MGMT);
  const config = parseConfig({
    stateDir: tempDir(),
    aws: { endpoint: sim.url, concurrency: 16, sdkThreads, ...aws },
    accounts: accounts.map((a) => ({ id: a.id, roleArn: `arn:aws:iam::${a.id}:role/KeystoreWatch` })),
    regions: ['us-east-1', 'eu-west-1'],
  }, 'test', {});
  const counted = new Map<string, number>();
  const observer = {
    request: (service: AwsService, operation: string) => { counted.set(`${service}/${operation}`, (counted.get(`${service}/${operation}`) ?? 0) + 1); },
    failure: () => {},
  };
  const clients = new AwsClients({ aws: config.aws, credentials: { accessKeyId: baseAccessKeyId(MGMT), secretAccessKey: 'x' }, observer });
  return { config, clients, counted };
}

/** What a poll saw, without the times: stores, clusters and target outcomes. */
const seen = (s: Snapshot) => ({
  stores: s.stores.map((x) => ({ ...x, observedAt: 0, stateSince: 0 })).sort((a, b) => a.id.localeCompare(b.id)),
  clusters: s.clusters.map((c) => ({ id: c.id, state: c.state, hsms: c.hsms.length, certificateNotAfter: c.certificateNotAfter })).sort((a, b) => a.id.localeCompare(b.id)),
  failed: s.targets.filter((t) => !t.ok).length,
});

describe('aws.sdkThreads', () => {
  it('auto: one thread per CPU beyond the first, at most two', () => {
    expect([1, 2, 3, 8].map((cpus) => sdkThreadCount('auto', cpus))).toEqual([0, 1, 2, 2]);
    expect(sdkThreadCount(0, 8)).toBe(0);
    expect(sdkThreadCount(3, 1)).toBe(3);
  });

  it('an SDK error crosses the thread with what errorCode() and the logs read', () => {
    const sdk = Object.assign(new Error('User: arn:aws:sts::1:assumed-role/x is not authorized'), {
      name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400, requestId: 'req-1', attempts: 1 }, Code: 'AccessDenied',
    });
    const net = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const wrapped = Object.assign(new Error('socket hang up'), { cause: { code: 'ECONNRESET' } });
    for (const e of [sdk, net, wrapped]) {
      const back = fromTransferableError(structuredClone(toTransferableError(e)));
      expect(errorCode(back)).toBe(errorCode(e));
      expect(back.message).toBe(e.message);
      const { stack: _a, ...fromThread } = logFields(back) as Record<string, unknown>;
      const { stack: _b, ...local } = logFields(e) as Record<string, unknown>;
      expect(fromThread).toEqual(local);
    }
    expect(errorCode(sdk)).toBe('AccessDeniedException');
    expect(errorCode(net)).toBe('ConnectionRefused');
  });

  it('a poll on a thread sees exactly what a poll on the main thread sees, and counts the same requests', async () => {
    const results = [];
    for (const n of [0, 1]) {
      const { config, clients, counted } = setup(n);
      try {
        await Promise.all([clients.prepare(), clients.startSdkThreads()]);
        expect(clients.sdkThreads?.workers.length ?? 0).toBe(n);
        const before = sim.fleet.counters();
        const snap = await new SnapshotPoller({ config, clients }).poll(null);
        const after = sim.fleet.counters();
        // Every KMS and CloudHSM request the simulator answered was counted by the observer (on its thread).
        for (const [op, service] of [['DescribeCustomKeyStores', 'kms'], ['DescribeClusters', 'cloudhsmv2']] as const) {
          const total = (t: { ok: number; throttled: number; failed: number } | undefined) => (t ? t.ok + t.throttled + t.failed : 0);
          const served = total(after.byOperation[op]) - total(before.byOperation[op]);
          expect(served, op).toBeGreaterThan(0);
          expect(counted.get(`${service}/${op}`), op).toBe(served);
        }
        results.push(seen(snap));
      } finally {
        clients.close();
      }
    }
    expect(results[0]!.failed).toBe(0);
    expect(results[0]!.clusters.length).toBeGreaterThan(3);
    // Dates (CreationDate, certificate notAfter) survive the structured clone: equal snapshots.
    expect(results[1]).toEqual(results[0]);
  });

  it('a thread sends only the commands the collectors use (an allow-list the IAM scan sees), nothing else', async () => {
    const { clients } = setup(1);
    try {
      await clients.prepare();
      const target = { region: 'us-east-1', roleArn: null, externalId: null };
      await expect(clients.withKms(target, (kms) => kms.send(new ScheduleKeyDeletionCommand({ KeyId: 'k', PendingWindowInDays: 7 })))).rejects.toThrow(/ScheduleKeyDeletionCommand is not a command the SDK threads send/);
      const before = sim.fleet.counters().total;
      await expect(clients.withKms(target, (kms) => kms.send(new DescribeCustomKeyStoresCommand({})))).resolves.toMatchObject({ CustomKeyStores: expect.any(Array) });
      expect(sim.fleet.counters().total).toBe(before + 1);
    } finally {
      clients.close();
    }
  });

  it('threads start on startSdkThreads() or a poll, not on prepare() (an HA follower identifies itself without them), and stop on stopSdkThreads()', async () => {
    const { config, clients } = setup(1);
    try {
      await clients.prepare();
      await clients.identify();
      expect(clients.sdkThreads!.running).toBe(0);
      await clients.startSdkThreads();
      expect(clients.sdkThreads!.running).toBe(1);
      await clients.stopSdkThreads();
      expect(clients.sdkThreads!.running).toBe(0);
      const poll = await new SnapshotPoller({ config, clients }).poll(null);
      expect(poll.targets.every((t) => t.ok)).toBe(true);
      expect(clients.sdkThreads!.running).toBe(1);
    } finally {
      clients.close();
    }
  });

  it('a thread that dies mid-poll fails its targets (last known stores kept, stale) and is replaced for the next poll', async () => {
    const { config, clients } = setup(1, { maxAttempts: 1, targetTimeout: 60_000 });
    const warnings: string[] = [];
    try {
      await clients.prepare();
      const poller = new SnapshotPoller({ config, clients });
      const first = await poller.poll(null);
      expect(first.targets.every((t) => t.ok)).toBe(true);
      // Every KMS answer hangs: all the calls of poll 2 sit on the thread when it dies.
      sim.fleet.setFaults({ errors: [{ service: 'kms', error: 'hang' }] });
      const served = () => { const t = sim.fleet.counters().byOperation.DescribeCustomKeyStores; return t ? t.ok + t.throttled + t.failed : 0; };
      const base = served();
      const second = poller.poll(first);
      for (let i = 0; i < 500 && served() - base < 10; i++) await new Promise((r) => setTimeout(r, 20));
      expect(served() - base).toBeGreaterThanOrEqual(10);
      const [worker] = clients.sdkThreads!.workers;
      await worker!.terminate();
      // The hung calls would otherwise wait for the 60 s target deadline; the dead thread fails them now.
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 2, jitterMs: 4 });
      const snap = await second;
      const failed = snap.targets.filter((t) => !t.ok);
      expect(failed.length).toBeGreaterThan(0);
      for (const t of failed) expect(t.error?.code).toBe('SdkThreadFailed');
      // Nothing is lost: the failed targets keep their stores from poll 1, marked stale.
      expect(snap.stores.map((s) => s.id).sort()).toEqual(first.stores.map((s) => s.id).sort());
      const failedKeys = new Set(failed.map((t) => `${t.accountId}/${t.region}`));
      for (const s of snap.stores) expect(s.stale).toBe(failedKeys.has(`${s.accountId}/${s.region}`));
      // The next poll gets a new thread and sees everything again.
      const third = await poller.poll(snap);
      expect(third.targets.every((t) => t.ok)).toBe(true);
      expect(third.stores.every((s) => !s.stale)).toBe(true);
      expect(clients.sdkThreads!.workers.length).toBe(1);
      expect(clients.sdkThreads!.workers[0]).not.toBe(worker);
    } finally {
      sim.fleet.resetFaults();
      sim.fleet.setFaults({ rateLimitPerSecond: 0, latencyMs: 2, jitterMs: 4 });
      clients.close();
      expect(warnings).toEqual([]);
    }
  });

  it('a thread prestarted before the configuration is read (keystore-watch once) is the one that serves the calls, with the settings sent to it', async () => {
    prestartSdkThread({ cpus: 2 });
    const early = prestartedSdkThread();
    expect(early).not.toBeNull();
    // Taken at once, while it still loads the SDK: the setup waits in its port until it listens.
    const { clients } = setup(1);
    try {
      await clients.startSdkThreads();
      expect(clients.sdkThreads!.workers).toEqual([early]);
      expect(prestartedSdkThread()).toBeNull();
      // The simulator's endpoint came with the setup: without it the call would go to AWS, and fail.
      const before = sim.fleet.counters().total;
      const out = await clients.withKms({ region: 'eu-west-1', roleArn: null, externalId: null }, (kms) => kms.send(new DescribeCustomKeyStoresCommand({})));
      expect(out.CustomKeyStores).toEqual(expect.any(Array));
      expect(sim.fleet.counters().total).toBe(before + 1);
    } finally {
      clients.close();
    }
  });

  it('a prestarted thread is given back when no thread runs (aws.sdkThreads 0), and none starts on one CPU', async () => {
    prestartSdkThread({ cpus: 1 });
    expect(prestartedSdkThread()).toBeNull();
    prestartSdkThread({ cpus: 2 });
    const early = prestartedSdkThread()!;
    const exited = new Promise<number>((r) => early.once('exit', r));
    const { clients } = setup(0);
    try {
      expect(prestartedSdkThread()).toBeNull();
      await exited;
      expect(clients.sdkThreads).toBeNull();
    } finally {
      clients.close();
      releasePrestartedSdkThread();
    }
  });

  it('a restart backoff: the first failure is replaced at once, then 0.5 s doubling to 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 8, 9, 20].map(respawnDelayMs)).toEqual([0, 0, 500, 1000, 2000, 4000, 30_000, 30_000, 30_000]);
  });

  /** SdkThreads running a scripted thread (test/fixtures/sdk-threads/scripted-thread.mjs), with its failures recorded. */
  function scripted(cancelGraceMs = 300) {
    const failures: [SdkThreadFailure, string, number][] = [];
    let recovered = 0;
    const threads = new SdkThreads({
      threads: 1, aws: parseConfig({ stateDir: tempDir(), accounts: [{ id: MGMT }], regions: ['us-east-1'] }, 'test', {}).aws,
      cancelGraceMs, entry: new URL('../fixtures/sdk-threads/scripted-thread.mjs', import.meta.url),
      onThreadError: (message, reason, inRow) => { failures.push([reason, message, inRow]); },
      onRecovered: () => { recovered++; },
    });
    const call = (signal?: AbortSignal) => threads.call({ service: 'kms', key: 'walk|us-east-1', command: 'DescribeCustomKeyStoresCommand', input: {}, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }, signal);
    return { threads, failures, call, recovered: () => recovered };
  }
  const mode = (m: 'crash' | 'silent' | 'answer') => { process.env.KW_SCRIPTED_THREAD = m; };
  afterAll(() => { delete process.env.KW_SCRIPTED_THREAD; });

  it('a prestarted thread that died before it was taken is not taken: a new one serves the calls, and no failure is counted', async () => {
    mode('crash');
    prestartSdkThread({ cpus: 2, entry: new URL('../fixtures/sdk-threads/scripted-thread.mjs', import.meta.url) });
    const early = prestartedSdkThread()!;
    await new Promise((r) => early.once('exit', r));
    mode('answer');
    const { threads, failures, call } = scripted();
    try {
      expect(await call()).toEqual({});
      expect(threads.workers).toHaveLength(1);
      expect(threads.workers[0]).not.toBe(early);
      expect(prestartedSdkThread()).toBeNull();
      expect(failures).toEqual([]);
    } finally {
      await threads.close();
    }
  });

  it('stop() (a replica that stops leading) ends every thread without counting a failure; the next call starts one again', async () => {
    mode('silent');
    const { threads, failures, call } = scripted();
    try {
      await threads.start();
      expect(threads.running).toBe(1);
      const [first] = threads.workers;
      const exited = new Promise<number>((r) => first!.once('exit', r));
      const pending = call().then(() => null, (err: unknown) => err); // never answered by this thread
      await threads.stop();
      expect(await pending).toMatchObject({ name: 'SdkThreadStopped' });
      await exited; // terminated, its memory given back
      expect(threads.running).toBe(0);
      // Not a failure: no failure reported (no self-alert, no backoff).
      expect(failures).toEqual([]);
      mode('answer');
      await expect(call()).resolves.toEqual({});
      expect(threads.running).toBe(1);
      expect(threads.workers[0]).not.toBe(first);
      expect(failures).toEqual([]);
    } finally {
      await threads.close();
    }
  });

  it('a thread that does not answer a cancelled call is terminated as unresponsive; its calls fail and a new thread takes the next', async () => {
    mode('silent');
    const { threads, failures, call } = scripted();
    try {
      await threads.start();
      const [stuck] = threads.workers;
      const exited = new Promise<number>((r) => stuck!.once('exit', r));
      const ctl = new AbortController();
      const aborted = call(ctl.signal);
      const other = call(); // no deadline of its own: without the watchdog it would wait forever
      ctl.abort();
      await expect(aborted).rejects.toMatchObject({ name: 'SdkThreadFailed', message: expect.stringMatching(/did not answer a cancelled call within 300 ms/) });
      await expect(other).rejects.toMatchObject({ name: 'SdkThreadFailed' });
      await exited; // terminated, not left running
      expect(failures.map(([r, , n]) => [r, n])).toEqual([['unresponsive', 1]]);
      // The next call starts a new thread at once (the first failure has no backoff), which answers.
      mode('answer');
      await expect(call(new AbortController().signal)).resolves.toEqual({});
      expect(threads.workers).toHaveLength(1);
      expect(threads.workers[0]).not.toBe(stuck);
    } finally {
      await threads.close();
    }
  });

  it('a thread that cannot start is not respawned for every call: failures back off, calls meanwhile fail at once; the first answer resets', async () => {
    mode('crash');
    const { threads, failures, call, recovered } = scripted();
    try {
      const results: string[] = [];
      const t0 = performance.now();
      // Calls for 1.2 s, one every 10 ms: without a backoff, each would start (and lose) a thread.
      while (performance.now() - t0 < 1200) {
        results.push(await call().then(() => 'ok', (e: Error) => e.message));
        await new Promise((r) => setTimeout(r, 10));
      }
      // ~100 calls on a quiet machine; fewer when the test runs beside others, still many more than threads.
      expect(results.length).toBeGreaterThan(20);
      expect(results.every((m) => m.startsWith('AWS SDK thread failed'))).toBe(true);
      // Failures at ~0 s, then after 0 s, 0.5 s, 1 s of backoff: 3 or 4 threads in 1.2 s, never ~100.
      expect(failures.length).toBeGreaterThanOrEqual(2);
      expect(failures.length).toBeLessThanOrEqual(4);
      expect(failures.map(([, , n]) => n)).toEqual(failures.map((_, i) => i + 1));
      for (const [reason, message] of failures) {
        expect(reason).toBe('crashed');
        expect(message).toContain('cannot load the AWS SDK in this thread');
      }
      expect(results.filter((m) => m.includes('no AWS SDK thread is running')).length).toBeGreaterThan(15);
      expect(recovered()).toBe(0);
      // The module loads again (fixed image, memory freed): once the backoff lets a thread start, it
      // answers, the threads count as recovered, and the next failure starts counting from one.
      mode('answer');
      let answer: unknown = null;
      for (let i = 0; i < 400 && answer === null; i++) {
        answer = await call().catch(() => null);
        if (answer === null) await new Promise((r) => setTimeout(r, 25));
      }
      expect(answer).toEqual({});
      expect(recovered()).toBe(1);
      mode('silent');
      const before = failures.length;
      await threads.workers[0]!.terminate();
      await new Promise((r) => setTimeout(r, 50));
      expect(failures.slice(before).map(([r, , n]) => [r, n])).toEqual([['crashed', 1]]);
    } finally {
      await threads.close();
    }
  });
});
