// Hot reload (issue 16 item 7): SIGHUP and POST /-/reload re-read and validate the configuration
// and apply what changed without a restart.
//
// planReload() is the pure part: given the running and the newly loaded configuration, which keys
// changed, which parts of the daemon must be rebuilt for them, and which changes need a restart (and
// are therefore NOT applied: the running value is kept in `applied` and the change is logged).
// Reloader is the small shell around it: load -> plan -> apply, one reload at a time, telling the
// caller (metrics, audit event, log lines) what happened. An invalid file keeps the running config and
// every problem is logged with the file and the key (ConfigError's lines).
//
// What each part rebuilds (src/daemon.ts reconfigure):
//   poller    accounts, organizations, regions, excludeRegions, probe, cloudwatch, cloudtrail: the
//             collector is rebuilt with the new config; the next poll walks the new targets. Its
//             in-memory caches start again (Organizations is read again at the next poll, enabled
//             regions too, every store is probed once); the snapshot, alert state, history and outbox
//             are untouched.
//   schedule  schedule: the scheduler and watchdog restart on the new expression.
//   pipeline  alerting (thresholds, channels, routes, maintenance windows, caps), probe and cloudwatch
//             thresholds, http.externalUrl: the alert pipeline and its outbox are reopened on the same
//             state (persisted alert state, history and queued notifications are kept; entries of a
//             removed channel are dropped and counted, exactly as at a restart).
//   restart   listen, stateDir, state.*, http.tls, the HTTP server limits, http.authToken, aws.*,
//             logLevel: bound or built once at start-up; logged as "needs a restart", not applied.
import type { Config } from './schema.js';

export type ReloadPart = 'poller' | 'schedule' | 'pipeline';

export interface ReloadPlan {
  /** Dotted keys whose value changed and that are applied (values never listed: they may be secrets). */
  applied: string[];
  /** Dotted keys whose value changed but need a restart: the running value stays. */
  restartRequired: string[];
  /** The parts of the daemon to rebuild. */
  parts: ReloadPart[];
  /** The configuration to run: the new one, with every restart-only key kept at its running value. */
  config: Config;
}

/** Keys bound or built once at start-up (listen socket, TLS context, state store, AWS clients, logger). */
const RESTART_KEYS = [
  'listen', 'stateDir', 'state', 'logLevel', 'aws',
  'http.tls', 'http.authToken', 'http.maxConnections', 'http.headersTimeout', 'http.requestTimeout', 'http.keepAliveTimeout',
] as const;

/** Which part each applied key rebuilds (first match on the key or its parent). */
const PARTS: [prefix: string, parts: ReloadPart[]][] = [
  ['schedule', ['schedule']],
  ['accounts', ['poller']],
  ['organizations', ['poller']],
  ['regions', ['poller']],
  ['excludeRegions', ['poller']],
  ['cloudtrail', ['poller']],
  // Probe and CloudWatch settings feed both the collector (what to read) and the alert thresholds.
  ['probe', ['poller', 'pipeline']],
  ['cloudwatch', ['poller', 'pipeline']],
  ['alerting', ['pipeline']],
  ['http.externalUrl', ['pipeline']],
];

/** JSON with sorted keys: equal configurations compare equal whatever their key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : x));
}

const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);

function set<T>(o: T, path: string, value: unknown): T {
  const [head, ...rest] = path.split('.');
  const obj = o as Record<string, unknown>;
  return { ...obj, [head!]: rest.length ? set(obj[head!], rest.join('.'), value) : value } as T;
}

/** The changed keys: top-level keys, one level deeper for the sections (alerting.channels, http.tls, ...). */
export function changedKeys(a: Config, b: Config): string[] {
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const x = (a as Record<string, unknown>)[k];
    const y = (b as Record<string, unknown>)[k];
    if (canonical(x) === canonical(y)) continue;
    const sectional = x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x) && !Array.isArray(y);
    if (!sectional) { out.push(k); continue; }
    const sub = [...new Set([...Object.keys(x as object), ...Object.keys(y as object)])].sort();
    for (const s of sub) if (canonical(get(x, s)) !== canonical(get(y, s))) out.push(`${k}.${s}`);
  }
  return out;
}

const under = (key: string, prefix: string): boolean => key === prefix || key.startsWith(`${prefix}.`);

export function planReload(running: Config, next: Config): ReloadPlan {
  const applied: string[] = [];
  const restartRequired: string[] = [];
  const parts = new Set<ReloadPart>();
  let config = next;
  for (const key of changedKeys(running, next)) {
    const restart = RESTART_KEYS.find((p) => under(key, p));
    if (restart) {
      restartRequired.push(key);
      config = set(config, key, get(running, key));
      continue;
    }
    applied.push(key);
    for (const [prefix, ps] of PARTS) if (under(key, prefix)) for (const p of ps) parts.add(p);
  }
  // aws.homeRegion is derived from the regions when not set: keep the running clients' region.
  if (restartRequired.some((k) => under(k, 'aws')) || canonical(config.aws) !== canonical(running.aws)) config = { ...config, aws: running.aws };
  return { applied, restartRequired, parts: [...parts].sort(), config };
}

export interface ReloadOutcome {
  ok: boolean;
  /** Who asked: "SIGHUP", or the API caller's identity. */
  by: string;
  at: number;
  /** The file that was read. */
  source: string;
  applied: string[];
  restartRequired: string[];
  /** Why it failed: one line per problem (file and key), from ConfigError. */
  problems: string[];
}

export interface ReloaderOptions {
  /** Re-reads and validates the file (loadConfig): throws ConfigError naming the file and each key. */
  load(): Config;
  running(): Config;
  /** Applies a plan (Daemon.reconfigure); throws if it could not (the running config stays). */
  apply(plan: ReloadPlan): Promise<void>;
  source: string;
  now?: () => number;
  /** Every outcome, after it is settled (metrics, audit event, log lines). */
  onOutcome?(o: ReloadOutcome): void;
}

/** One reload at a time: a SIGHUP during a reload waits for it, then reloads again (the file may have changed since). */
export class Reloader {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ReloaderOptions) {}

  reload(by: string): Promise<ReloadOutcome> {
    const run = this.chain.then(() => this.once(by));
    this.chain = run.catch(() => {});
    return run;
  }

  private async once(by: string): Promise<ReloadOutcome> {
    const now = this.opts.now ?? Date.now;
    const base = { by, source: this.opts.source };
    let next: Config;
    try {
      next = this.opts.load();
    } catch (err) {
      const e = err as { problems?: string[]; source?: string; message?: string };
      const problems = Array.isArray(e.problems) ? e.problems.map((p) => `${e.source ?? this.opts.source}: ${p}`) : [`${this.opts.source}: ${e.message ?? String(err)}`];
      return this.settle({ ...base, ok: false, at: now(), applied: [], restartRequired: [], problems });
    }
    const plan = planReload(this.opts.running(), next);
    try {
      await this.opts.apply(plan);
    } catch (err) {
      return this.settle({ ...base, ok: false, at: now(), applied: [], restartRequired: plan.restartRequired, problems: [`could not apply: ${(err as Error)?.message ?? String(err)}`] });
    }
    return this.settle({ ...base, ok: true, at: now(), applied: plan.applied, restartRequired: plan.restartRequired, problems: [] });
  }

  private settle(o: ReloadOutcome): ReloadOutcome {
    this.opts.onOutcome?.(o);
    return o;
  }
}
