// A store's page (`/stores/:account/:region/:id`): its state and facts, what is firing on it with the
// remediation (commands filled in, a copy button), its state history from the change history, its
// cluster and HSMs, certificates, CloudWatch figures, who changed it (CloudTrail), and a TEST drill.
import type { AlertSubject, Condition, Guidance, Snapshot, StoreRecord } from '../../model.js';
import { ALERT_NAMES } from '../../model.js';
import { guidanceFor } from '../../alert/remediation/guidance.js';
import type { Viewer } from './auth.js';
import { badge, href, html, Raw, time } from './html.js';
import { accountCell, alertActions, ownerCell, severityBadge, stateBadge } from './parts.js';
import type { StatusAlert, StatusEvent } from './source.js';
import { storePath } from './links.js';

export interface StorePageInput {
  base: string;
  viewer: Viewer;
  snapshot: Snapshot;
  store: StoreRecord;
  alerts: StatusAlert[];
  events: StatusEvent[];
  oncall: boolean;
  drill: boolean;
  now: number;
  notice?: string | null;
}

export function subjectOf(s: StoreRecord): AlertSubject {
  return {
    accountId: s.accountId, accountName: s.accountName, region: s.region, storeId: s.id, storeName: s.name, storeType: s.type,
    state: s.state, errorCode: s.errorCode, clusterId: s.clusterId, details: {}, ouPath: s.ouPath ?? null, tags: s.tags ?? {},
  };
}

/** The condition a store's current state stands for, when it is not CONNECTED and nothing fires yet. */
const CONDITION_OF_STATE: Record<string, Condition> = { FAILED: 'FAILED', DISCONNECTED: 'DISCONNECTED', DISCONNECTING: 'DISCONNECTED', CONNECTING: 'CONNECTING_TOO_LONG' };

/** The alerts about this store or its cluster. */
export function alertsOfStore(alerts: StatusAlert[], s: StoreRecord): StatusAlert[] {
  return alerts.filter((a) => a.subject.accountId === s.accountId && a.subject.region === s.region
    && (a.subject.storeId === s.id || (a.subject.storeId === null && s.clusterId !== null && a.subject.clusterId === s.clusterId)));
}

const days = (ms: number | null, now: number): string => (ms === null ? '' : `${Math.floor((ms - now) / 86_400_000)} days left`);

function guidanceBlock(g: Guidance, key: string): Raw {
  const id = `cmd-${key.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  return html`<article class="guidance"><h3>${g.title}</h3><p>${g.summary}</p><p class="muted">${g.cause}</p>
<ol>${g.steps.map((s) => html`<li>${s}</li>`)}</ol>
${g.commands.length ? html`<div class="commands"><div class="cmd-head"><span>Commands</span><button type="button" class="copy" data-copy="${id}">Copy commands</button></div><pre id="${id}"><code>${g.commands.join('\n')}</code></pre></div>` : ''}
${g.docs.length ? html`<ul class="docs">${g.docs.map((d) => html`<li><a href="${d.url}" rel="noreferrer">${d.title}</a></li>`)}</ul>` : ''}</article>`;
}

function describeEvent(e: StatusEvent): Raw {
  switch (e.type) {
    case 'state_changed': return html`${e.from ? stateBadge(e.from) : ''} → ${e.to ? stateBadge(e.to) : ''}${e.toErrorCode ? html` <code>${e.toErrorCode}</code>` : ''}`;
    case 'store_added': return html`first seen${e.to ? html` ${stateBadge(e.to)}` : ''}`;
    case 'store_removed': return html`no longer listed (deleted?)`;
    case 'error_code_changed': return html`error code ${e.from ?? '—'} → ${e.to ?? '—'}`;
    case 'config_changed': return html`configuration changed: ${(e.fields ?? []).join(', ')}`;
    default: return html`${e.type}`;
  }
}

export function storeBody(o: StorePageInput): Raw {
  const { base, viewer, snapshot: snap, store: s, now } = o;
  const cluster = s.clusterId ? snap.clusters.find((c) => c.accountId === s.accountId && c.region === s.region && c.id === s.clusterId) ?? null : null;
  const health = snap.storeHealth?.find((h) => h.accountId === s.accountId && h.region === s.region && h.storeId === s.id) ?? null;
  const clusterHealth = cluster ? snap.clusterHealth?.find((h) => h.accountId === s.accountId && h.region === s.region && h.clusterId === cluster.id) ?? null : null;
  const probe = snap.probes.find((p) => p.accountId === s.accountId && p.region === s.region && p.storeId === s.id) ?? null;
  const actors = (snap.changeActors ?? []).filter((a) => a.accountId === s.accountId && a.region === s.region && a.storeId === s.id).sort((a, b) => b.seenAt - a.seenAt);
  const alerts = alertsOfStore(o.alerts, s);
  const back = storePath(s);
  const guidance: { key: string; g: Guidance }[] = alerts.map((a) => ({ key: a.alertKey, g: guidanceFor(a.condition, a.subject) }));
  const implied = CONDITION_OF_STATE[s.state];
  if (guidance.length === 0 && implied) guidance.push({ key: `state-${s.state}`, g: guidanceFor(implied, subjectOf(s)) });
  const tags = Object.entries(s.tags ?? {});
  return html`${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
<nav class="crumbs" aria-label="Breadcrumb"><a href="${href(base, '/fleet', { account: s.accountId })}">${s.accountName}</a> / <a href="${href(base, '/fleet', { account: s.accountId, region: s.region })}">${s.region}</a></nav>
<h1 class="store-name">${s.name}</h1>
<dl class="facts">
<div><dt>State</dt><dd>${stateBadge(s.state)}${s.errorCode ? html` <code>${s.errorCode}</code>` : ''}${s.stale ? html` <span class="muted">(last known: the account did not answer)</span>` : ''} since ${time(s.stateSince, now)}</dd></div>
<div><dt>Id</dt><dd><code>${s.id}</code></dd></div>
<div><dt>Type</dt><dd>${s.type}</dd></div>
<div><dt>Account</dt><dd>${accountCell(s)}</dd></div>
<div><dt>OU / owner</dt><dd>${ownerCell(s)}${tags.length ? html`<br>${tags.map(([k, v]) => html`<span class="tag">${k}=${v}</span> `)}` : ''}</dd></div>
<div><dt>Region</dt><dd>${s.region}</dd></div>
<div><dt>Created</dt><dd>${time(s.createdAt, now)}</dd></div>
${s.xks ? html`<div><dt>XKS proxy</dt><dd>${s.xks.connectivity ?? ''} <code>${s.xks.uriEndpoint ?? ''}${s.xks.uriPath ?? ''}</code>${s.xks.vpcEndpointServiceName ? html`<br><code>${s.xks.vpcEndpointServiceName}</code>` : ''}</dd></div>` : ''}
${probe ? html`<div><dt>Probe</dt><dd>${badge(probe.ok ? 's-CONNECTED' : 's-FAILED', probe.outcome ?? (probe.ok ? 'ok' : 'failing'))} ${time(probe.at, now)}${probe.error ? html` <code>${probe.error.code}</code>` : ''}</dd></div>` : ''}
</dl>
<section aria-labelledby="al-h"><h2 id="al-h">Firing <span class="count">${alerts.length}</span></h2>
${alerts.length === 0 ? html`<p class="ok">Nothing is firing for this store.</p>` : html`<ul class="store-alerts">${alerts.map((a) => html`<li>${severityBadge(a.severity)} <strong>${ALERT_NAMES[a.condition] ?? a.condition}</strong> since ${time(a.since, now)}${a.acknowledgedBy ? html` · acknowledged by ${a.acknowledgedBy}` : ''}${a.silencedUntil ? html` · silenced until ${time(a.silencedUntil, now)}` : ''}${alertActions(base, viewer, a, back, o.oncall)}</li>`)}</ul>`}
</section>
${guidance.length ? html`<section aria-labelledby="fix-h"><h2 id="fix-h">What to do</h2>${guidance.map((x) => guidanceBlock(x.g, x.key))}</section>` : ''}
<section aria-labelledby="hist-h"><h2 id="hist-h">History</h2>
${o.events.length === 0 ? html`<p class="muted">No changes recorded for this store (the change history keeps the newest entries only).</p>` : html`<ol class="timeline">${o.events.map((e) => html`<li><span class="when">${time(Date.parse(e.at), now)}</span> <span class="what">${describeEvent(e)}</span>${e.actor?.principal ? html` <span class="actor">by <code>${e.actor.principal}</code>${e.actor.eventName ? ` (${e.actor.eventName})` : ''}</span>` : e.actor?.message ? html` <span class="muted">${e.actor.message}</span>` : ''}</li>`)}</ol>`}
</section>
${cluster ? html`<section aria-labelledby="cl-h"><h2 id="cl-h">Cluster <code>${cluster.id}</code></h2>
<p>${stateBadge(cluster.state)} since ${time(cluster.stateSince, now)}${cluster.stateMessage ? html` — ${cluster.stateMessage}` : ''}${cluster.stale ? ' (last known)' : ''}</p>
<p>HSM type ${cluster.hsmType ?? '—'} · VPC <code>${cluster.vpcId ?? '—'}</code>${cluster.subnetAzs ? html` · subnets in ${cluster.subnetAzs.join(', ')}` : ''}${clusterHealth ? html` · CloudWatch HsmUnhealthy ${clusterHealth.hsmUnhealthy}` : ''}</p>
<div class="scroll"><table><caption class="sr">HSMs of the cluster</caption><thead><tr><th scope="col">HSM</th><th scope="col">Availability Zone</th><th scope="col">State</th><th scope="col">ENI IP</th></tr></thead><tbody>
${cluster.hsms.length === 0 ? html`<tr><td colspan="4">No HSMs.</td></tr>` : cluster.hsms.map((h) => html`<tr><td><code>${h.id}</code></td><td>${h.availabilityZone ?? '—'}</td><td>${stateBadge(h.state)}</td><td>${h.eniIp ?? '—'}</td></tr>`)}
</tbody></table></div></section>` : s.clusterId ? html`<section><h2>Cluster <code>${s.clusterId}</code></h2><p class="muted">Not described by the last poll.</p></section>` : ''}
<section aria-labelledby="cert-h"><h2 id="cert-h">Certificates</h2><ul>
${s.trustAnchorNotAfter !== null ? html`<li>Trust anchor expires ${time(s.trustAnchorNotAfter, now)} (${days(s.trustAnchorNotAfter, now)})</li>` : ''}
${cluster?.certificateNotAfter ? html`<li>Cluster certificate expires ${time(cluster.certificateNotAfter, now)} (${days(cluster.certificateNotAfter, now)})</li>` : ''}
${health?.certificateDaysToExpire !== null && health?.certificateDaysToExpire !== undefined ? html`<li>XKS proxy TLS certificate: ${health.certificateDaysToExpire} days to expiry (CloudWatch)</li>` : ''}
${s.trustAnchorNotAfter === null && !cluster?.certificateNotAfter && !(health?.certificateDaysToExpire ?? null) ? html`<li class="muted">No certificate expiry known.</li>` : ''}
</ul></section>
${health ? html`<section aria-labelledby="cw-h"><h2 id="cw-h">CloudWatch health${health.stale ? ' (last known)' : ''}</h2><dl class="facts">
${health.credentialAgeDays !== null ? html`<div><dt>Proxy credential age</dt><dd>${health.credentialAgeDays} days</dd></div>` : ''}
${health.keyManagers ? html`<div><dt>External key managers</dt><dd>${Object.entries(health.keyManagers).map(([k, v]) => `${k} ${v}`).join(', ')}</dd></div>` : ''}
${health.errors ? html`<div><dt>Proxy errors (last period)</dt><dd>retryable ${health.errors.retryable}, non-retryable ${health.errors.nonRetryable}</dd></div>` : ''}
${health.requests !== null ? html`<div><dt>Requests (last period)</dt><dd>${health.requests}</dd></div>` : ''}
${health.latencyMs !== null ? html`<div><dt>Proxy latency</dt><dd>${Math.round(health.latencyMs)} ms (KMS times out at 250 ms)</dd></div>` : ''}
${health.throttled !== null ? html`<div><dt>Throttled requests</dt><dd>${health.throttled}</dd></div>` : ''}
</dl></section>` : ''}
<section aria-labelledby="who-h"><h2 id="who-h">Who changed it (CloudTrail)</h2>
${actors.length === 0 ? html`<p class="muted">No recent change attributed.</p>` : html`<ul>${actors.map((a) => html`<li>${a.change} seen ${time(a.seenAt, now)}: ${a.actor ? html`<code>${a.actor.principal}</code> (${a.actor.kind}, ${a.actor.eventName} at ${time(a.actor.eventTime, now)}${a.actor.source ? html` from ${a.actor.source}` : ''})` : html`<span class="muted">${a.status === 'not_found' ? 'no CloudTrail event found' : a.status === 'pending' ? 'lookup pending' : a.error?.message ?? a.status}</span>`}</li>`)}</ul>`}
</section>
${viewer.canWrite && o.drill ? html`<section aria-labelledby="drill-h" class="drill"><h2 id="drill-h">Fire drill <span class="badge b-test">TEST</span></h2>
<p>Sends a clearly labelled <strong>TEST</strong> notification through every channel, as if this store had failed with the code below. The store is not touched.</p>
<form method="post" action="${href(base, '/actions/drill')}"><input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="back" value="${back}">
<input type="hidden" name="accountId" value="${s.accountId}"><input type="hidden" name="region" value="${s.region}"><input type="hidden" name="storeId" value="${s.id}">
<label for="drill-code">Error code</label> <select id="drill-code" name="code">${(s.type === 'EXTERNAL_KEY_STORE' ? ['XKS_PROXY_NOT_REACHABLE', 'XKS_PROXY_TIMED_OUT', 'XKS_PROXY_INVALID_RESPONSE', 'INVALID_CREDENTIALS'] : ['INVALID_CREDENTIALS', 'CLUSTER_NOT_FOUND', 'INSUFFICIENT_CLOUDHSM_HSMS', 'USER_LOCKED_OUT', 'NETWORK_ERRORS']).map((c) => html`<option>${c}</option>`)}</select>
<button type="submit" data-action="drill">Send TEST notification</button></form></section>` : ''}`;
}
