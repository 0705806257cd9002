// The per-target AWS SDK calls on worker threads. The SDK v3 spends ~0.6 ms of CPU per call (SigV4
// signing, endpoint rules, schema (de)serialisation, the retry and user-agent middleware, node's HTTP
// client); a sweep of 64 calls in flight at 40 ms each asks for 1,600 calls/s, so on one event loop the
// sweep is CPU-bound at ~1.4x its network bound (issue 14, docs/performance.md). Here a lent client
// (AwsClients.withKms & co.) is a facade whose send() posts the command's name and input, with the
// borrower's credentials, to one of a few worker threads; the thread sends it through the real SDK client
// (its own AwsClients, pooled per region and lent per call exactly as on the main thread) and answers the
// output (structured clone: Dates survive) or the error's identifying fields. What stays on the main
// thread: discovery, AssumeRole and the credential cache, the deadlines, and everything after the walk.
//
// Failure semantics: a thread that dies (crash, out of memory) fails the calls it had in flight with
// `SdkThreadFailed` (those targets are marked down and keep their last known state, like any failed
// call) and is replaced on the next call. A call aborted on the main thread (target deadline, shutdown)
// is aborted in its thread too; a thread that does not answer that cancel within `cancelGraceMs` (its
// event loop is stuck) is terminated and replaced the same way. Threads that keep failing one after
// another are restarted with a backoff (0.5 s doubling to 30 s), calls meanwhile failing at once, so a
// thread that cannot start is not respawned for every call; each failure is reported (onThreadError:
// the daemon counts keystore_watch_sdk_thread_failures_total and logs it).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { Config } from '../config/schema.js';

/** The services whose per-target calls run on the threads. */
export type ThreadedService = 'kms' | 'cloudhsmv2' | 'cloudwatch' | 'cloudtrail';

export interface SdkCall {
  service: ThreadedService;
  /** The lending pool key (`walk|us-east-1`, `probe|…` for KMS; the region for the others). */
  key: string;
  /** The command class's name (DescribeCustomKeyStoresCommand): the thread builds it from its own SDK module. */
  command: string;
  input: unknown;
  credentials: AwsCredentialIdentity;
}

/** One attempt counted by the thread's AwsRequestObserver: [service, operation] or [service, operation, code]. */
export type AttemptCount = [string, string] | [string, string, string];

/** What crosses the thread boundary of an SDK error: the fields errorCode(), redact() and the callers read. */
export interface TransferableError {
  name: string;
  message: string;
  code?: unknown;
  Code?: unknown;
  $fault?: unknown;
  $metadata?: unknown;
  cause?: { code?: unknown };
}

export type ThreadRequest = { t: 'call'; id: number; call: SdkCall } | { t: 'cancel'; id: number };
/** The thread's first message, alone (not in a batch): the settings its clients are built with. */
export interface ThreadSetup { t: 'setup'; aws: Config['aws'] }
export type ThreadReply = { id: number; ok: true; out: unknown; counts: AttemptCount[] } | { id: number; ok: false; err: TransferableError; counts: AttemptCount[] };
/** The thread's first message: its modules are loaded. */
export const THREAD_READY = 'ready';

export function toTransferableError(err: unknown): TransferableError {
  const e = (err ?? {}) as Record<string, unknown> & { cause?: { code?: unknown } };
  const out: TransferableError = { name: typeof e.name === 'string' ? e.name : 'Error', message: typeof e.message === 'string' ? e.message : String(err) };
  if (e.code !== undefined) out.code = e.code;
  if (e.Code !== undefined) out.Code = e.Code;
  if (e.$fault !== undefined) out.$fault = e.$fault;
  if (e.$metadata !== undefined) out.$metadata = e.$metadata;
  if (e.cause && typeof e.cause === 'object' && e.cause.code !== undefined) out.cause = { code: e.cause.code };
  return out;
}

export function fromTransferableError(s: TransferableError): Error {
  return Object.assign(new Error(s.message), s);
}

/** The thread count `aws.sdkThreads` asks for on this machine. */
export function sdkThreadCount(setting: Config['aws']['sdkThreads'], cpus = availableParallelism()): number {
  if (setting !== 'auto') return setting;
  return Math.max(0, Math.min(2, cpus - 1));
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  thread: Thread;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Armed by a cancel: the thread must answer the call before it fires. */
  watchdog?: NodeJS.Timeout;
}

interface Thread {
  worker: Worker;
  /** Requests posted together at the end of this turn of the event loop (one message, one wake-up of the thread). */
  outbox: ThreadRequest[];
  /** Settles when the thread has loaded its modules (or died trying). */
  ready: Promise<void>;
  inFlight: number;
  dead: boolean;
  /** Settles `ready` (also when the thread dies before it is ready). */
  onReady: () => void;
}

export interface SdkThreadsOptions {
  threads: number;
  aws: Config['aws'];
  /** Replays the threads' attempt counts (keystore_watch_aws_requests_total, _failures_total). */
  onCounts?: (counts: AttemptCount[]) => void;
  /** A thread died (`crashed`) or was terminated for not answering (`unresponsive`); its calls in flight failed. */
  onThreadError?: (message: string, reason: SdkThreadFailure, failuresInRow: number) => void;
  /** A thread answered a call after one or more failures: the threads work again. */
  onRecovered?: () => void;
  /** How long a thread may take to answer a cancelled call before it counts as stuck (default 10 s). */
  cancelGraceMs?: number;
  /** The thread's entry module (default sdk-thread-main beside this module; tests run misbehaving ones). */
  entry?: URL;
}

export type SdkThreadFailure = 'crashed' | 'unresponsive';

/** Consecutive failures before the next thread may start: none for the first, then 0.5 s doubling to 30 s. */
export function respawnDelayMs(failuresInRow: number): number {
  return failuresInRow <= 1 ? 0 : Math.min(30_000, 500 * 2 ** (failuresInRow - 2));
}

/** Where the thread's entry module is: beside this one, .js when compiled, .ts under tsx / vitest. */
function threadEntry(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './sdk-thread-main.ts' : './sdk-thread-main.js', import.meta.url);
}

/** Starts a thread running `entry`; it waits for its ThreadSetup before it builds any client. */
function startWorker(entry: URL): Worker {
  // Under tsx or vitest the entry is TypeScript: the thread registers tsx's loader before importing it.
  // No other parent flags: its V8 flags (--max-old-space-size) are not worker options;
  // resourceLimits bound the thread's heap instead (it holds clients and calls in flight, no snapshots).
  // Profiling flags do pass through (`node --cpu-prof`: one profile per thread).
  const execArgv = process.execArgv.filter((a) => a.startsWith('--cpu-prof'));
  const options = { execArgv, resourceLimits: { maxOldGenerationSizeMb: 96 } };
  return entry.pathname.endsWith('.ts')
    ? new Worker(`import(${JSON.stringify(tsxApi())}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, { ...options, eval: true })
    : new Worker(fileURLToPath(entry), options);
}

/** A thread started before the configuration was read, not yet taken by an SdkThreads. */
interface Prestarted { worker: Worker; entry: string; gone: boolean; onGone: () => void; expiry: NodeJS.Timeout }
let prestarted: Prestarted | null = null;

/** How long a prestarted thread waits to be taken before it is terminated. */
const PRESTART_EXPIRY_MS = 60_000;

/**
 * Starts one SDK thread before the configuration is read, so that it loads the AWS SDK (~0.7 s of CPU)
 * on the second CPU while the main thread loads its own modules. `keystore-watch once` did the two one
 * after the other: its first threaded call waited for both (issue 14, docs/performance.md). The first
 * SdkThreads to start a thread with the same entry takes it and sends it its settings. Nothing else
 * happens in it before that (no client, no AWS call, no credentials). It is given back when AwsClients
 * runs no threads (`aws.sdkThreads: 0`), or when nothing takes it within a minute. Only where
 * `aws.sdkThreads: auto` runs a thread: more than one CPU.
 */
export function prestartSdkThread(opts: { cpus?: number; entry?: URL } = {}): void {
  if (prestarted || sdkThreadCount('auto', opts.cpus) === 0) return;
  const entry = opts.entry ?? threadEntry();
  const worker = startWorker(entry);
  // Never what keeps the process alive: a `once` that fails on its configuration exits at once.
  worker.unref();
  const p: Prestarted = {
    worker, entry: entry.href, gone: false,
    onGone: () => { p.gone = true; },
    expiry: setTimeout(releasePrestartedSdkThread, PRESTART_EXPIRY_MS).unref(),
  };
  // A thread that fails before it is taken is not taken (its 'exit' would have gone unheard).
  worker.once('error', p.onGone).once('exit', p.onGone);
  prestarted = p;
}

/** The prestarted thread nothing took yet (tests, diagnostics). */
export function prestartedSdkThread(): Worker | null {
  return prestarted?.worker ?? null;
}

/** Terminates the prestarted thread, if one waits: no thread will take it. */
export function releasePrestartedSdkThread(): void {
  const p = prestarted;
  prestarted = null;
  if (!p) return;
  clearTimeout(p.expiry);
  void p.worker.terminate().catch(() => 0);
}

/** The prestarted thread, if it runs `entry` and is still alive; it is no longer prestarted either way. */
function takePrestarted(entry: URL): Worker | null {
  const p = prestarted;
  if (!p || p.entry !== entry.href) return null;
  prestarted = null;
  clearTimeout(p.expiry);
  p.worker.off('error', p.onGone).off('exit', p.onGone);
  if (!p.gone) return p.worker;
  void p.worker.terminate().catch(() => 0);
  return null;
}

/** tsx's ESM register API (its `require` condition resolves to a CommonJS build that cannot load it in an eval'd thread). */
function tsxApi(): string {
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  return pathToFileURL(cjs.replace(/\.cjs$/, '.mjs')).href;
}

export class SdkThreads {
  private readonly threads: Thread[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Threads that failed since a thread last answered a call; sets the respawn backoff. */
  private failuresInRow = 0;
  /** performance.now() before which no new thread starts (respawnDelayMs). */
  private respawnAt = 0;

  constructor(private readonly opts: SdkThreadsOptions) {}

  /** The threads running now (diagnostics; tests terminate one to check what its calls in flight do). */
  get workers(): readonly Worker[] {
    return this.live().map((t) => t.worker);
  }

  /**
   * Starts every thread and waits until each has loaded the SDK (its first message), so the first poll's
   * deadlines do not pay for module loading. A thread that fails to start is reported and replaced later.
   */
  async start(): Promise<void> {
    while (!this.closed && this.live().length < Math.max(1, this.opts.threads)) this.threads.push(this.spawn());
    await Promise.all(this.threads.map((t) => t.ready));
  }

  /** Sends one call on the least busy thread; aborting `signal` aborts it there too. */
  call(call: SdkCall, signal?: AbortSignal): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('AWS SDK threads are closed'));
    const thread = this.pick();
    if (!thread) {
      const wait = Math.max(0, this.respawnAt - performance.now());
      return Promise.reject(threadFailed(`no AWS SDK thread is running: ${this.failuresInRow} failed in a row; the next starts in ${(wait / 1000).toFixed(1)} s`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, thread, signal, onAbort: undefined };
      if (signal) {
        p.onAbort = () => {
          this.post(thread, { t: 'cancel', id });
          // The SDK drops an aborted request at once: a thread that stays silent is stuck (a loop, a
          // native call that never returns). Its other calls would only time out one by one.
          const grace = this.opts.cancelGraceMs ?? 10_000;
          p.watchdog = setTimeout(() => {
            if (this.pending.get(id) === p) this.fail(thread, `did not answer a cancelled call within ${grace} ms; terminated`, 'unresponsive');
          }, grace).unref();
        };
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.pending.set(id, p);
      if (thread.inFlight++ === 0) thread.worker.ref();
      this.post(thread, { t: 'call', id, call });
      if (signal?.aborted) p.onAbort!();
    });
  }

  /** Threads running now (not dead; one starting counts). */
  get running(): number {
    return this.live().length;
  }

  /**
   * Stops every thread without closing: an HA replica that stops leading gives their memory back (a second
   * V8 isolate each, ~40 MB) and start() or the next call starts them again. Not a failure: no backoff, no
   * self-alert. Calls still in flight on them (none, normally: the term's poll was aborted first) fail.
   */
  async stop(): Promise<void> {
    const all = this.threads.splice(0);
    for (const t of all) {
      t.dead = true;
      t.onReady();
    }
    for (const [id, p] of this.pending) {
      if (!all.includes(p.thread)) continue;
      this.pending.delete(id);
      this.disarm(p);
      p.reject(Object.assign(new Error('AWS SDK thread stopped (this replica stopped leading)'), { name: 'SdkThreadStopped' }));
    }
    await Promise.all(all.map((t) => t.worker.terminate().catch(() => 0)));
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = this.threads.splice(0);
    await Promise.all(all.map((t) => t.worker.terminate().catch(() => 0)));
  }

  /**
   * Queues a request for the thread; the queue goes as one message once this turn of the event loop is
   * done. A poll issues its calls in bursts (each answer lets a target send its next call): one
   * postMessage per burst instead of one per call halves the messaging cost per call (profiled).
   */
  private post(thread: Thread, r: ThreadRequest): void {
    if (thread.outbox.push(r) > 1) return;
    setImmediate(() => {
      const batch = thread.outbox;
      thread.outbox = [];
      if (!thread.dead) thread.worker.postMessage(batch);
    });
  }

  private live(): Thread[] {
    for (let i = this.threads.length - 1; i >= 0; i--) if (this.threads[i]!.dead) this.threads.splice(i, 1);
    return this.threads;
  }

  /** The least busy thread, starting one if fewer run than asked for (unless the backoff holds it); null when none runs. */
  private pick(): Thread | null {
    if (this.live().length < Math.max(1, this.opts.threads) && performance.now() >= this.respawnAt) {
      const t = this.spawn();
      this.threads.push(t);
      return t;
    }
    if (this.threads.length === 0) return null;
    let best = this.threads[0]!;
    for (const t of this.threads) if (t.inFlight < best.inFlight) best = t;
    return best;
  }

  private spawn(): Thread {
    const entry = this.opts.entry ?? threadEntry();
    // A thread started before the configuration was read (prestartSdkThread) has loaded the SDK meanwhile.
    const worker = takePrestarted(entry) ?? startWorker(entry);
    // Its first message: the settings (the thread builds its clients from them, then says it is ready).
    worker.postMessage({ t: 'setup', aws: this.opts.aws } satisfies ThreadSetup);
    let onReady = () => {};
    const ready = new Promise<void>((r) => { onReady = r; });
    const thread: Thread = { worker, outbox: [], inFlight: 0, dead: false, ready, onReady };
    worker.unref();
    worker.on('message', (m: ThreadReply[] | typeof THREAD_READY) => {
      if (m === THREAD_READY) onReady();
      else for (const r of m) this.settle(r);
    });
    worker.on('error', (err) => this.fail(thread, err.message, 'crashed'));
    worker.on('exit', (code) => this.fail(thread, `exited with code ${code}`, 'crashed'));
    return thread;
  }

  /** The thread is gone (or is made to go): its calls in flight fail, the next call starts another after the backoff. */
  private fail(thread: Thread, why: string, reason: SdkThreadFailure): void {
    thread.onReady();
    if (thread.dead) return;
    thread.dead = true;
    if (reason === 'unresponsive') void thread.worker.terminate().catch(() => 0);
    for (const [id, p] of this.pending) {
      if (p.thread !== thread) continue;
      this.pending.delete(id);
      this.disarm(p);
      p.reject(threadFailed(why));
    }
    if (this.closed) return;
    this.failuresInRow++;
    this.respawnAt = performance.now() + respawnDelayMs(this.failuresInRow);
    this.opts.onThreadError?.(why, reason, this.failuresInRow);
  }

  private disarm(p: Pending): void {
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    if (p.watchdog) clearTimeout(p.watchdog);
  }

  private settle(m: ThreadReply): void {
    if (m.counts.length) this.opts.onCounts?.(m.counts);
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.disarm(p);
    // An answer (even an error) shows the threads work: the respawn backoff starts over.
    if (this.failuresInRow > 0) {
      this.failuresInRow = 0;
      this.opts.onRecovered?.();
    }
    if (--p.thread.inFlight === 0) p.thread.worker.unref();
    if (m.ok) p.resolve(m.out);
    else p.reject(fromTransferableError(m.err));
  }
}

function threadFailed(why: string): Error {
  return Object.assign(new Error(`AWS SDK thread failed: ${why}`), { name: 'SdkThreadFailed' });
}
