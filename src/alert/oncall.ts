// On-call actions: silences, acknowledgements and the audit trail of who did what, kept as state
// records (OnCallRecord, src/state/backend.ts) so they survive a restart (file backend) and a failover
// (PostgreSQL backend). This is the interface the HTTP routes (src/server/oncall-routes.ts) and the
// status page call; the alert pipeline reads compiled() / acks() at every poll (silences.ts applies them).
//
// Every action is written to the state backend BEFORE it takes effect in memory: a write the backend
// refuses (I/O error, another replica leads) fails the action, and the caller (HTTP 503) can retry; an
// answered action is never lost.
import { randomUUID } from 'node:crypto';
import type { OnCallChanges, OnCallRecord } from '../state/backend.js';
import { compileMatchers, MatcherInputError } from './silence-matchers.js';
import { silenceStatus, type Ack, type CompiledSilence, type CompiledWindow, type Silence } from './silences.js';

/** A bad request (HTTP 400/404/409 by `status`): the message says what to fix. */
export class OnCallError extends Error {
  constructor(readonly status: 400 | 404 | 409 | 503, message: string) { super(message); this.name = 'OnCallError'; }
}

export interface SilenceInput {
  /** Alertmanager matchers, e.g. ['account_id="222222222222"', 'severity=~"critical|warning"']. */
  matchers: string[];
  /** Epoch ms; default now. */
  startsAt?: number;
  endsAt: number;
  createdBy: string;
  comment: string;
}

/** One audit event (/api/v1/events, type `audit`): who did what, when. */
export interface AuditEvent {
  id: string;
  /** 'silence_created' | 'silence_expired' | 'alert_acknowledged' | 'config_reloaded' | ... */
  action: string;
  by: string;
  at: number;
  /** What it was about (silence id, alert id, ...) and the comment; plain strings. */
  detail: Record<string, string>;
}

export interface AlertRef {
  firing: boolean;
  firedAt: number | null;
}

/** The actions the HTTP API and the status page call. `by` is who asks (the API's createdBy/by field, the status page's login). */
export interface OnCallActions {
  silences(): SilenceView[];
  addSilence(input: SilenceInput): Promise<SilenceView>;
  expireSilence(id: string, by: string): Promise<SilenceView>;
  ack(alertId: string, by: string, comment: string, until?: number | null): Promise<Ack>;
  /** Records an audit event (e.g. a config reload: `audit({ action: 'config_reloaded', by: 'SIGHUP', detail: {...} })`). */
  audit(event: { action: string; by: string; detail?: Record<string, string> }): Promise<AuditEvent>;
}

export interface SilenceView extends Silence {
  status: 'active' | 'pending' | 'expired';
  /** 'api' for silences made through the API/CLI; 'config' for the expectDisconnected shorthand. */
  source: 'api' | 'config';
}

export interface OnCallOptions {
  /** Writes the change to the state backend (fenced); rejects when it was not written. */
  persist: (changes: OnCallChanges) => Promise<void>;
  now: () => number;
  /** The alert an acknowledgement is for (by alertKey), or null when no such alert is in the state. */
  lookupAlert: (alertKey: string) => AlertRef | null;
  /** alerting.expectDisconnected: listed as permanent config silences. */
  expectDisconnected?: readonly string[];
  windows?: readonly CompiledWindow[];
  /** Audit events kept (oldest first out). */
  auditLimit?: number;
  newId?: () => string;
  /** Called after every recorded action (the daemon refreshes the silenced gauge). */
  onChange?: () => void;
}

export const DEFAULT_AUDIT_LIMIT = 1000;
const MAX_TEXT = 1024;
const MAX_BY = 200;
const MAX_SILENCES = 10_000;

export class OnCall implements OnCallActions {
  private silenceMap = new Map<string, Silence>();
  private compiledCache: CompiledSilence[] | null = null;
  private ackMap = new Map<string, Ack>();
  private auditList: AuditEvent[] = [];
  /** Serialises actions: each one's check and write happen against the state the previous one left. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private opts: OnCallOptions, records: readonly OnCallRecord[] = []) {
    this.replace(records);
  }

  /** Replaces everything from stored records (start-up, a new leader term, a follower's refresh). */
  replace(records: readonly OnCallRecord[]): void {
    this.silenceMap.clear();
    this.ackMap.clear();
    this.auditList = [];
    for (const r of records) {
      try {
        if (r.kind === 'silence') this.silenceMap.set(r.id, parseSilence(r.value));
        else if (r.kind === 'ack') this.ackMap.set(r.id, parseAck(r.value));
        else if (r.kind === 'audit') this.auditList.push(parseAudit(r.value));
      } catch {
        // A record this version cannot read is skipped, not a crash loop (it stays stored).
      }
    }
    this.auditList.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
    this.compiledCache = null;
  }

  setWindows(windows: readonly CompiledWindow[], expectDisconnected: readonly string[]): void {
    this.opts = { ...this.opts, windows, expectDisconnected };
  }

  setLookup(lookupAlert: OnCallOptions['lookupAlert']): void {
    this.opts = { ...this.opts, lookupAlert };
  }

  /** What the pipeline applies at each poll. */
  compiled(): { silences: CompiledSilence[]; windows: readonly CompiledWindow[] } {
    if (!this.compiledCache) {
      this.compiledCache = [];
      for (const s of this.silenceMap.values()) {
        try { this.compiledCache.push({ ...s, matches: compileMatchers(s.matchers) }); } catch { /* validated at creation */ }
      }
    }
    return { silences: this.compiledCache, windows: this.opts.windows ?? [] };
  }

  acks(): ReadonlyMap<string, Ack> {
    return this.ackMap;
  }

  ackOf(alertKey: string): Ack | null {
    return this.ackMap.get(alertKey) ?? null;
  }

  silences(): SilenceView[] {
    const now = this.opts.now();
    const api = [...this.silenceMap.values()].map((s): SilenceView => ({ ...s, status: silenceStatus(s, now), source: 'api' }));
    const config = (this.opts.expectDisconnected ?? []).map((id): SilenceView => ({
      id: `config:expectDisconnected:${id}`, matchers: ['alertname="KmsCustomKeyStoreDisconnected"', `custom_key_store_id=${JSON.stringify(id)}`],
      startsAt: 0, endsAt: 8.64e15, createdBy: 'configuration', comment: 'alerting.expectDisconnected', createdAt: 0, status: 'active', source: 'config',
    }));
    const rank = { active: 0, pending: 1, expired: 2 } as const;
    return [...api.sort((a, b) => rank[a.status] - rank[b.status] || b.createdAt - a.createdAt), ...config];
  }

  events(limit: number): AuditEvent[] {
    return this.auditList.slice(-Math.max(0, limit)).reverse();
  }

  addSilence(input: SilenceInput): Promise<SilenceView> {
    return this.serial(async () => {
      const now = this.opts.now();
      const s = validateSilenceInput(input, now, this.newId());
      if (this.silenceMap.size >= MAX_SILENCES) throw new OnCallError(409, `too many silences stored (${MAX_SILENCES}); expire some first`);
      const ev = this.event('silence_created', s.createdBy, now, { silence: s.id, matchers: s.matchers.join(', '), endsAt: new Date(s.endsAt).toISOString(), comment: s.comment });
      await this.write({ put: [{ kind: 'silence', id: s.id, at: now, value: s }, auditRecord(ev)] });
      this.silenceMap.set(s.id, s);
      this.compiledCache = null;
      this.pushAudit(ev);
      return { ...s, status: silenceStatus(s, now), source: 'api' as const };
    });
  }

  expireSilence(id: string, by: string): Promise<SilenceView> {
    return this.serial(async () => {
      const now = this.opts.now();
      const who = checkBy(by, 'by');
      const s = this.silenceMap.get(id);
      if (!s) throw new OnCallError(404, id.startsWith('config:') ? `silence ${id} comes from the configuration (alerting.expectDisconnected); edit the configuration to remove it` : `no silence with id ${id}`);
      if (s.endsAt <= now) return { ...s, status: 'expired' as const, source: 'api' as const };
      const expired: Silence = { ...s, endsAt: now, expiredBy: who, expiredAt: now };
      const ev = this.event('silence_expired', who, now, { silence: id, matchers: s.matchers.join(', ') });
      await this.write({ put: [{ kind: 'silence', id, at: now, value: expired }, auditRecord(ev)] });
      this.silenceMap.set(id, expired);
      this.compiledCache = null;
      this.pushAudit(ev);
      return { ...expired, status: 'expired' as const, source: 'api' as const };
    });
  }

  ack(alertId: string, by: string, comment: string, until?: number | null): Promise<Ack> {
    return this.serial(async () => {
      const now = this.opts.now();
      const who = checkBy(by, 'by');
      const text = checkText(comment ?? '', 'comment');
      if (until !== undefined && until !== null && (!Number.isFinite(until) || until <= now)) throw new OnCallError(400, 'until must be a time in the future');
      const alert = this.opts.lookupAlert(alertId);
      if (!alert) throw new OnCallError(404, `no alert with id ${alertId} (GET /api/v1/alerts lists the firing ones by alertKey)`);
      if (!alert.firing || alert.firedAt === null) throw new OnCallError(409, `alert ${alertId} is not firing; only a firing alert can be acknowledged`);
      const ack: Ack = { alertKey: alertId, firedAt: alert.firedAt, by: who, comment: text, at: now, until: until ?? null };
      const ev = this.event('alert_acknowledged', who, now, { alert: alertId, comment: text, ...(ack.until !== null ? { until: new Date(ack.until).toISOString() } : {}) });
      // Acks of incidents that are over are dropped with the same write.
      const stale = [...this.ackMap.values()].filter((a) => a.alertKey !== alertId && !this.stillFiring(a));
      await this.write({ put: [{ kind: 'ack', id: alertId, at: now, value: ack }, auditRecord(ev)], delete: stale.map((a) => ({ kind: 'ack' as const, id: a.alertKey })) });
      for (const a of stale) this.ackMap.delete(a.alertKey);
      this.ackMap.set(alertId, ack);
      this.pushAudit(ev);
      return ack;
    });
  }

  audit(event: { action: string; by: string; detail?: Record<string, string> }): Promise<AuditEvent> {
    return this.serial(async () => {
      const ev = this.event(event.action, event.by, this.opts.now(), event.detail ?? {});
      await this.write({ put: [auditRecord(ev)] });
      this.pushAudit(ev);
      return ev;
    });
  }

  // ---------------------------------------------------------------------------------------------

  private stillFiring(a: Ack): boolean {
    const ref = this.opts.lookupAlert(a.alertKey);
    return !!ref && ref.firing && ref.firedAt === a.firedAt;
  }

  private newId(): string {
    return (this.opts.newId ?? randomUUID)();
  }

  private event(action: string, by: string, at: number, detail: Record<string, string>): AuditEvent {
    return { id: this.newId(), action, by, at, detail };
  }

  private pushAudit(ev: AuditEvent): void {
    this.opts.onChange?.();
    this.auditList.push(ev);
    const limit = this.opts.auditLimit ?? DEFAULT_AUDIT_LIMIT;
    if (this.auditList.length > limit) this.auditList.splice(0, this.auditList.length - limit);
  }

  private async write(changes: OnCallChanges): Promise<void> {
    try {
      await this.opts.persist({ ...changes, auditLimit: this.opts.auditLimit ?? DEFAULT_AUDIT_LIMIT });
    } catch (err) {
      if (err instanceof OnCallError) throw err;
      throw new OnCallError(503, `not recorded, nothing changed: ${(err as Error).message}`);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.catch(() => undefined).then(fn);
    this.chain = next;
    return next;
  }
}

const auditRecord = (ev: AuditEvent): OnCallRecord => ({ kind: 'audit', id: ev.id, at: ev.at, value: ev });

// ---- validation (pure) ----------------------------------------------------------------------------

// C0/C1 control characters other than tab and newline: no terminal escapes or carriage returns in
// what a chat message, a log line or a terminal shows.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function checkText(v: unknown, field: string, max = MAX_TEXT): string {
  if (typeof v !== 'string') throw new OnCallError(400, `${field} must be a string`);
  if (v.length > max) throw new OnCallError(400, `${field} is longer than ${max} characters`);
  if (CONTROL.test(v)) throw new OnCallError(400, `${field} contains control or bidirectional-override characters`);
  return v;
}

function checkBy(v: unknown, field: string): string {
  const s = checkText(v, field, MAX_BY).trim();
  if (s === '' ) throw new OnCallError(400, `${field} is required (who does this, e.g. an email address)`);
  if (/[\n\t]/.test(s)) throw new OnCallError(400, `${field} must be one line`);
  return s;
}

/** Validates a silence as the API receives it (times already epoch ms). */
export function validateSilenceInput(input: SilenceInput, now: number, id: string): Silence {
  if (!input || typeof input !== 'object') throw new OnCallError(400, 'expected a JSON object { matchers, startsAt?, endsAt, createdBy, comment }');
  if (!Array.isArray(input.matchers) || input.matchers.length === 0) throw new OnCallError(400, 'matchers must be a non-empty list, e.g. ["account_id=\\"222222222222\\""]');
  if (input.matchers.length > 64) throw new OnCallError(400, 'at most 64 matchers');
  const matchers = input.matchers.map((m, i) => checkText(m, `matchers[${i}]`, 1024).trim());
  let matches: (l: Record<string, string>) => boolean;
  try {
    matches = compileMatchers(matchers);
  } catch (err) {
    throw new OnCallError(400, err instanceof MatcherInputError ? err.message : `bad matcher: ${(err as Error).message}`);
  }
  // Alertmanager refuses a silence whose matchers all match the empty label set (it would mute everything).
  if (matches({})) throw new OnCallError(400, 'the matchers would match every alert (each matches an empty label); add one that names something, e.g. account_id="222222222222"');
  const startsAt = input.startsAt ?? now;
  const endsAt = input.endsAt;
  if (!Number.isFinite(startsAt) || !Number.isFinite(endsAt)) throw new OnCallError(400, 'startsAt and endsAt must be RFC 3339 times');
  if (endsAt <= startsAt) throw new OnCallError(400, 'endsAt must be after startsAt');
  if (endsAt <= now) throw new OnCallError(400, 'endsAt is in the past: the silence would never be active');
  return {
    id, matchers, startsAt: Math.max(startsAt, 0), endsAt,
    createdBy: checkBy(input.createdBy, 'createdBy'),
    comment: checkText(input.comment ?? '', 'comment'),
    createdAt: now, expiredBy: null, expiredAt: null,
  };
}

function parseSilence(v: unknown): Silence {
  const s = v as Silence;
  if (!s || typeof s.id !== 'string' || !Array.isArray(s.matchers) || !Number.isFinite(s.startsAt) || !Number.isFinite(s.endsAt)) throw new Error('not a silence');
  return s;
}

function parseAck(v: unknown): Ack {
  const a = v as Ack;
  if (!a || typeof a.alertKey !== 'string' || !Number.isFinite(a.firedAt) || typeof a.by !== 'string') throw new Error('not an ack');
  return a;
}

function parseAudit(v: unknown): AuditEvent {
  const e = v as AuditEvent;
  if (!e || typeof e.id !== 'string' || typeof e.action !== 'string' || !Number.isFinite(e.at)) throw new Error('not an audit event');
  return e;
}
