// Adapters from the daemon's views to what the status page reads: the alert pipeline's firing list
// (with its silence and acknowledgement marks, src/pipeline/alert-pipeline.ts firing()) and the
// on-call actions (src/alert/oncall.ts).
import type { OnCallActions } from '../../alert/oncall.js';
import type { StatusAlert, StatusOnCall } from './source.js';

type FiringView = Omit<StatusAlert, 'since' | 'acknowledgedBy' | 'silencedUntil'> & {
  since: string;
  silenced?: { until: string } | null;
  acknowledged?: { by: string } | null;
};

export function statusAlerts(firing: readonly FiringView[]): StatusAlert[] {
  return firing.map((a) => ({
    alertKey: a.alertKey, condition: a.condition, severity: a.severity, subject: a.subject, since: Date.parse(a.since),
    acknowledgedBy: a.acknowledged?.by ?? null,
    silencedUntil: a.silenced ? Date.parse(a.silenced.until) : null,
  }));
}

export function statusOnCall(actions: OnCallActions): StatusOnCall {
  return {
    silences: () => actions.silences().filter((s) => s.status !== 'expired').map((s) => ({
      id: s.id, matchers: s.matchers, startsAt: s.startsAt, endsAt: s.endsAt, createdBy: s.createdBy, comment: s.comment, expirable: s.source === 'api',
    })),
    addSilence: async (input) => ({ id: (await actions.addSilence(input)).id }),
    expireSilence: async (id, by) => { await actions.expireSilence(id, by); },
    acknowledge: async (alertKey, input) => { await actions.ack(alertKey, input.by, input.comment); },
  };
}
