// The overview (`/`): counts by connection state and severity, firing alerts first, then blind spots
// (targets that failed, regions not enabled, regions denied by an SCP), active silences. Pure: a view
// of the snapshot and the alert state.
import { CONNECTION_STATES, type Snapshot } from '../../model.js';
import { ALERT_NAMES } from '../../model.js';
import type { Viewer } from './auth.js';
import { href, html, Raw, time } from './html.js';
import { accountCell, alertActions, durationAndComment, ownerCell, severityBadge, silenceRows, stateBadge, subjectLink } from './parts.js';
import type { StatusAlert, StatusSelfAlert, StatusSilence } from './source.js';

export interface OverviewInput {
  base: string;
  viewer: Viewer;
  snapshot: Snapshot | null;
  alerts: StatusAlert[];
  selfAlerts: StatusSelfAlert[];
  silences: StatusSilence[] | null;
  now: number;
  /** A one-line result of the last action (after a redirect). */
  notice?: string | null;
}

export function overviewBody(o: OverviewInput): Raw {
  const { base, viewer, snapshot: snap, now } = o;
  const stores = snap?.stores ?? [];
  const byState = new Map<string, number>();
  for (const s of stores) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
  const states = [...new Set([...CONNECTION_STATES, ...byState.keys()])];
  const bySeverity = { critical: 0, warning: 0, info: 0 } as Record<string, number>;
  for (const a of o.alerts) bySeverity[a.severity] = (bySeverity[a.severity] ?? 0) + 1;
  const blind = (snap?.targets ?? []).filter((t) => t.status !== 'ok')
    .sort((a, b) => (a.status === 'failed' ? 0 : 1) - (b.status === 'failed' ? 0 : 1) || a.accountId.localeCompare(b.accountId) || a.region.localeCompare(b.region));
  const oncall = o.silences !== null;
  return html`
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
<h1>Overview</h1>
<section aria-labelledby="counts-h"><h2 id="counts-h" class="sr">Counts</h2>
<ul class="cards">
${states.map((st) => html`<li class="card"><a href="${href(base, '/fleet', { state: st })}"><span class="n">${byState.get(st) ?? 0}</span> ${stateBadge(st)}</a></li>`)}
${(['critical', 'warning', 'info'] as const).map((sev) => html`<li class="card"><span class="n">${bySeverity[sev]}</span> ${severityBadge(sev)} firing</li>`)}
</ul></section>
<p><label for="quick">Filter this page</label> <input id="quick" type="search" data-quick-filter placeholder="account, store, region, owner…" autocomplete="off"></p>
<section aria-labelledby="firing-h"><h2 id="firing-h">Firing alerts <span class="count">${o.alerts.length}</span></h2>
${o.alerts.length === 0 ? html`<p class="ok">Nothing is firing.</p>` : html`<div class="scroll"><table class="alerts"><caption class="sr">Firing alerts, most severe first</caption>
<thead><tr><th scope="col">Severity</th><th scope="col">Alert</th><th scope="col">Store</th><th scope="col">Account</th><th scope="col">OU / owner</th><th scope="col">Region</th><th scope="col">Since</th><th scope="col">Acknowledged by</th><th scope="col">Silenced until</th>${viewer.canWrite && oncall ? html`<th scope="col">Actions</th>` : ''}</tr></thead><tbody>
${o.alerts.map((a) => html`<tr data-filter-row class="sev-row-${a.severity}"><td>${severityBadge(a.severity)}</td><td>${ALERT_NAMES[a.condition] ?? a.condition}${a.subject.errorCode ? html`<br><code>${a.subject.errorCode}</code>` : ''}</td><td>${subjectLink(base, a.subject)}</td><td>${accountCell(a.subject)}</td><td>${ownerCell(a.subject)}</td><td>${a.subject.region}</td><td>${time(a.since, now)}</td><td>${a.acknowledgedBy ?? html`<span class="muted">—</span>`}</td><td>${a.silencedUntil ? time(a.silencedUntil, now) : html`<span class="muted">—</span>`}</td>${viewer.canWrite && oncall ? html`<td>${alertActions(base, viewer, a, '/', oncall)}</td>` : ''}</tr>`)}
</tbody></table></div>`}
${o.selfAlerts.length ? html`<h3>keystore-watch itself</h3><ul class="self">${o.selfAlerts.map((a) => html`<li>${severityBadge(a.severity)} ${a.summary} — since ${time(a.since, now)}</li>`)}</ul>` : ''}
</section>
<section aria-labelledby="blind-h"><h2 id="blind-h">Blind spots <span class="count">${blind.length}</span></h2>
${blind.length === 0 ? html`<p class="ok">Every account and region answered the last poll.</p>` : html`<div class="scroll"><table><caption class="sr">Account and region targets that did not answer</caption>
<thead><tr><th scope="col">Status</th><th scope="col">Account</th><th scope="col">OU / owner</th><th scope="col">Region</th><th scope="col">Why</th><th scope="col">Last answer</th><th scope="col">Failed polls</th></tr></thead><tbody>
${blind.map((t) => html`<tr data-filter-row><td>${stateBadge(t.status === 'failed' ? 'failing' : t.status === 'not_enabled' ? 'not enabled' : t.status)}</td><td>${accountCell(t)}</td><td>${ownerCell(t)}</td><td>${t.region}</td><td>${t.error ? html`<code>${t.error.code}</code> ${t.error.message}` : ''}</td><td>${time(t.lastSuccessAt, now)}</td><td>${t.consecutiveFailures}</td></tr>`)}
</tbody></table></div>`}
</section>
${oncall ? html`<section aria-labelledby="silences-h"><h2 id="silences-h">Silences <span class="count">${o.silences!.length}</span></h2>${silenceRows(base, viewer, o.silences!, now, '/')}</section>` : ''}
${viewer.canWrite && oncall ? filterSilenceForm(base, viewer) : ''}`;
}

/** A silence from a filter: any of account, region, OU, store type (Alertmanager matchers). */
function filterSilenceForm(base: string, viewer: Viewer): Raw {
  return html`<section aria-labelledby="newsil-h"><h2 id="newsil-h">New silence</h2>
<form method="post" action="${href(base, '/actions/silence')}" class="stack"><input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="back" value="/">
<label for="ns-m">Matchers (one per line, Alertmanager syntax, e.g. <code>account_id="222222222222"</code> or <code>ou_path=~"/Prod/.*"</code>)</label>
<textarea id="ns-m" name="matchers" rows="3" required></textarea>
${durationAndComment('ns')}
<button type="submit" data-action="silence-filter">Create silence</button></form></section>`;
}
