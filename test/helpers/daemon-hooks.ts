// Readers shared by the end-to-end harnesses: wait for a daemon's outbox to drain, and read the
// webhook receiver's requests as alert events.
import type { Daemon } from '../../src/daemon.js';
import type { AlertSubject, Condition, Guidance, Severity } from '../../src/model.js';
import type { Receiver } from './receiver.js';

export interface HookEvent {
  kind: string;
  condition: Condition;
  severity: Severity;
  subject: AlertSubject;
  guidance: Guidance;
}

/** Waits until the daemon's outbox holds nothing pending; throws after timeoutMs (never a silent pass). */
export async function outboxDrained(daemon: Daemon, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (daemon.alerts.outbox.pending() > 0) {
    if (Date.now() > deadline) throw new Error(`outbox still holds ${daemon.alerts.outbox.pending()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The webhook requests the receiver got, as (kind, condition, severity, subject, guidance). */
export function hookEvents(hook: Receiver): HookEvent[] {
  return hook.requests.map((r) => {
    const n = (r.json as { notification: Omit<HookEvent, 'kind'> }).notification;
    return { kind: String(r.headers['x-keystore-watch-event']), condition: n.condition, severity: n.severity, subject: n.subject, guidance: n.guidance };
  });
}
