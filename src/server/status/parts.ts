// Pieces several pages share: facts about an account, state badges, the action forms.
import type { AccountFacts, AlertSubject, Snapshot } from '../../model.js';
import { badge, href, html, Raw, time } from './html.js';
import type { Viewer } from './auth.js';
import type { StatusAlert, StatusSilence } from './source.js';
import { storePath } from './links.js';
import { ALERT_NAMES } from '../../model.js';

/** The owner of an account: its `owner` tag (any case), else its `team` tag; '' when neither is set. */
export function ownerOf(f: AccountFacts): string {
  const tags = f.tags ?? {};
  for (const want of ['owner', 'team']) {
    for (const [k, v] of Object.entries(tags)) if (k.toLowerCase() === want) return v;
  }
  return '';
}

export const stateBadge = (state: string): Raw => badge(`s-${state}`, state);
export const severityBadge = (severity: string): Raw => badge(`sev-${severity}`, severity);

/** Alertmanager matcher value quoting. */
const quote = (v: string): string => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
export const matcher = (label: string, value: string): string => `${label}=${quote(value)}`;

/** The matchers that select one alert: its name and its subject (store, cluster or target). */
export function alertMatchers(a: StatusAlert): string[] {
  const s = a.subject;
  const m = [matcher('alertname', ALERT_NAMES[a.condition] ?? a.condition), matcher('account_id', s.accountId), matcher('region', s.region)];
  if (s.storeId) m.push(matcher('custom_key_store_id', s.storeId));
  else if (s.clusterId) m.push(matcher('cloudhsm_cluster_id', s.clusterId));
  return m;
}

export const subjectLink = (base: string, s: AlertSubject): Raw => s.storeId
  ? html`<a href="${href(base, storePath({ accountId: s.accountId, region: s.region, id: s.storeId }))}">${s.storeName ?? s.storeId}</a><br><code class="id">${s.storeId}</code>`
  : s.clusterId ? html`cluster <code class="id">${s.clusterId}</code>` : html`<span class="muted">account/region</span>`;

export const accountCell = (f: AccountFacts & { accountId: string; accountName: string }): Raw =>
  html`${f.accountName}<br><code class="id">${f.accountId}</code>`;

export const ownerCell = (f: AccountFacts): Raw => {
  const owner = ownerOf(f);
  return html`${f.ouPath ?? html`<span class="muted">—</span>`}${owner ? html`<br><span class="owner">owner: ${owner}</span>` : ''}`;
};

const DURATIONS: [string, string][] = [['1h', '1 hour'], ['2h', '2 hours'], ['4h', '4 hours'], ['8h', '8 hours'], ['24h', '1 day'], ['168h', '1 week']];

let formSeq = 0;

/** Acknowledge and silence forms for one alert (only for a viewer who may act). */
export function alertActions(base: string, viewer: Viewer, a: StatusAlert, back: string, oncall: boolean): Raw {
  if (!viewer.canWrite || !oncall) return html``;
  const id = `f${++formSeq % 1_000_000}`;
  return html`<div class="actions">
${a.acknowledgedBy ? '' : html`<form method="post" action="${href(base, '/actions/ack')}" class="inline"><input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="alertKey" value="${a.alertKey}"><input type="hidden" name="back" value="${back}"><button type="submit" data-action="ack">Acknowledge</button></form>`}
<details class="silence-form"><summary>Silence…</summary>
<form method="post" action="${href(base, '/actions/silence')}"><input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="back" value="${back}">
${alertMatchers(a).map((m) => html`<input type="hidden" name="matcher" value="${m}">`)}
<p class="matchers">${alertMatchers(a).map((m) => html`<code>${m}</code> `)}</p>
${durationAndComment(id)}
<button type="submit" data-action="silence">Create silence</button></form></details></div>`;
}

export function durationAndComment(id: string): Raw {
  return html`<label for="${id}-d">Duration</label> <select id="${id}-d" name="duration">${DURATIONS.map(([v, l]) => html`<option value="${v}"${v === '2h' ? new Raw(' selected') : ''}>${l}</option>`)}</select>
<label for="${id}-c">Comment</label> <input id="${id}-c" name="comment" required maxlength="1000" placeholder="why (e.g. HSM replacement)">`;
}

export function silenceRows(base: string, viewer: Viewer, silences: StatusSilence[], now: number, back: string): Raw {
  if (silences.length === 0) return html`<p class="muted">No active silences.</p>`;
  return html`<div class="scroll"><table><caption class="sr">Active silences</caption><thead><tr><th scope="col">Matchers</th><th scope="col">Until</th><th scope="col">By</th><th scope="col">Comment</th>${viewer.canWrite ? html`<th scope="col"><span class="sr">Actions</span></th>` : ''}</tr></thead><tbody>
${silences.map((s) => html`<tr data-filter-row><td>${s.matchers.map((m) => html`<code>${m}</code> `)}</td><td>${time(s.endsAt, now)}</td><td>${s.createdBy}</td><td>${s.comment}</td>${viewer.canWrite ? html`<td>${s.expirable === false ? html`<span class="muted">from the configuration</span>` : html`<form method="post" action="${href(base, '/actions/expire')}" class="inline"><input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="id" value="${s.id}"><input type="hidden" name="back" value="${back}"><button type="submit" data-action="expire">Expire</button></form>`}</td>` : ''}</tr>`)}
</tbody></table></div>`;
}

/** "Last poll … · leader" for the header. */
export function pollStatus(snap: Snapshot | null, role: string, now: number): Raw {
  return html`<span>Last poll: ${snap ? time(snap.finishedAt, now) : html`<span class="muted">none yet</span>`}</span> <span class="role role-${role}">${role === 'leader' ? 'this replica leads' : 'this replica follows'}</span>`;
}
