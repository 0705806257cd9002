// The fleet (`/fleet`): every store, filtered by account, OU, owner, region, type and state, searched by
// id or name, sorted, grouped and paginated on the server (PAGE_SIZE rows a page), so 20,000 stores
// cost the browser one page of rows. The filters are a GET form: the URL is the view (shareable, kept
// across the auto-refresh).
import type { Snapshot, StoreRecord } from '../../model.js';
import type { Viewer } from './auth.js';
import { href, html, Raw, time } from './html.js';
import { accountCell, ownerCell, ownerOf, stateBadge } from './parts.js';
import { storePath } from './links.js';

export const PAGE_SIZE = 100;
/** A filter with more values than this is a text box, not a select (2,000 accounts would be 2,000 options on every page). */
const MAX_OPTIONS = 60;

export const FILTERS = ['account', 'ou', 'owner', 'region', 'type', 'state'] as const;
export type FilterKey = (typeof FILTERS)[number];
const SORTS = ['name', 'account', 'region', 'state', 'since', 'type'] as const;
type SortKey = (typeof SORTS)[number];

export interface FleetQuery {
  filters: Partial<Record<FilterKey, string>>;
  q: string;
  sort: SortKey;
  desc: boolean;
  group: FilterKey | '';
  page: number;
}

const valueOf = (s: StoreRecord, k: FilterKey): string =>
  k === 'account' ? s.accountId : k === 'ou' ? s.ouPath ?? '' : k === 'owner' ? ownerOf(s) : k === 'region' ? s.region : k === 'type' ? s.type : s.state;

export function parseFleetQuery(params: URLSearchParams): FleetQuery {
  const filters: FleetQuery['filters'] = {};
  for (const k of FILTERS) {
    const v = params.get(k);
    if (v) filters[k] = v.slice(0, 256);
  }
  const sort = (SORTS as readonly string[]).includes(params.get('sort') ?? '') ? params.get('sort') as SortKey : 'state';
  const group = (FILTERS as readonly string[]).includes(params.get('group') ?? '') ? params.get('group') as FilterKey : '';
  const page = Math.max(1, Math.min(1_000_000, Number.parseInt(params.get('page') ?? '1', 10) || 1));
  return { filters, q: (params.get('q') ?? '').trim().slice(0, 256), sort, desc: params.get('dir') === 'desc', group, page };
}

/** Unhealthy first when sorting by state. */
const STATE_ORDER: Record<string, number> = { FAILED: 0, DISCONNECTED: 1, DISCONNECTING: 2, CONNECTING: 3, CONNECTED: 5 };
const stateRank = (s: string) => STATE_ORDER[s] ?? 4;

function compare(sort: SortKey): (a: StoreRecord, b: StoreRecord) => number {
  const byName = (a: StoreRecord, b: StoreRecord) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  switch (sort) {
    case 'name': return byName;
    case 'account': return (a, b) => a.accountName.localeCompare(b.accountName) || a.accountId.localeCompare(b.accountId) || byName(a, b);
    case 'region': return (a, b) => a.region.localeCompare(b.region) || byName(a, b);
    case 'type': return (a, b) => a.type.localeCompare(b.type) || byName(a, b);
    case 'since': return (a, b) => a.stateSince - b.stateSince || byName(a, b);
    default: return (a, b) => stateRank(a.state) - stateRank(b.state) || a.stateSince - b.stateSince || byName(a, b);
  }
}

export interface FleetResult {
  total: number;
  matched: number;
  rows: StoreRecord[];
  page: number;
  pages: number;
  /** Values of each filter over the stores matching the other filters, with counts. */
  facets: Record<FilterKey, [string, number][]>;
}

/** Pure: filters, searches, sorts and cuts one page. */
export function queryFleet(stores: readonly StoreRecord[], q: FleetQuery): FleetResult {
  const needle = q.q.toLowerCase();
  const active = FILTERS.filter((k) => q.filters[k] !== undefined);
  const facetCounts = Object.fromEntries(FILTERS.map((k) => [k, new Map<string, number>()])) as Record<FilterKey, Map<string, number>>;
  const matched: StoreRecord[] = [];
  for (const s of stores) {
    if (needle && !s.id.toLowerCase().includes(needle) && !s.name.toLowerCase().includes(needle)) continue;
    let misses = 0;
    let missed: FilterKey | null = null;
    for (const k of active) if (valueOf(s, k) !== q.filters[k] && !(k === 'account' && s.accountName === q.filters[k])) { misses++; missed = k; }
    // A facet counts the stores the other filters keep (so each select shows what choosing it would give).
    if (misses === 0) {
      matched.push(s);
      for (const k of FILTERS) { const v = valueOf(s, k); facetCounts[k].set(v, (facetCounts[k].get(v) ?? 0) + 1); }
    } else if (misses === 1) {
      const v = valueOf(s, missed!);
      facetCounts[missed!].set(v, (facetCounts[missed!].get(v) ?? 0) + 1);
    }
  }
  const cmp = compare(q.sort);
  const grouped = q.group ? (a: StoreRecord, b: StoreRecord) => valueOf(a, q.group as FilterKey).localeCompare(valueOf(b, q.group as FilterKey)) || cmp(a, b) : cmp;
  matched.sort(q.desc ? (a, b) => grouped(b, a) : grouped);
  const pages = Math.max(1, Math.ceil(matched.length / PAGE_SIZE));
  const page = Math.min(q.page, pages);
  const facets = Object.fromEntries(FILTERS.map((k) => [k, [...facetCounts[k]].sort((a, b) => a[0].localeCompare(b[0]))])) as FleetResult['facets'];
  return { total: stores.length, matched: matched.length, rows: matched.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE), page, pages, facets };
}

const LABELS: Record<FilterKey, string> = { account: 'Account', ou: 'OU', owner: 'Owner', region: 'Region', type: 'Type', state: 'State' };

export function fleetBody(base: string, _viewer: Viewer, snap: Snapshot | null, q: FleetQuery, now: number): Raw {
  const r = queryFleet(snap?.stores ?? [], q);
  const accountNames = new Map((snap?.stores ?? []).map((s) => [s.accountId, s.accountName]));
  const keep = (over: Record<string, string | number | null>): Record<string, string | number | null> => ({
    ...q.filters, q: q.q || null, sort: q.sort === 'state' ? null : q.sort, dir: q.desc ? 'desc' : null, group: q.group || null, page: null, ...over,
  });
  const sortLink = (k: SortKey, label: string) => {
    const current = q.sort === k;
    const dir = current && !q.desc ? 'desc' : null;
    return html`<th scope="col"${current ? new Raw(` aria-sort="${q.desc ? 'descending' : 'ascending'}"`) : ''}><a href="${href(base, '/fleet', keep({ sort: k, dir }))}">${label}${current ? (q.desc ? ' ▼' : ' ▲') : ''}</a></th>`;
  };
  let lastGroup: string | null = null;
  const rows: Raw[] = [];
  for (const s of r.rows) {
    if (q.group) {
      const g = valueOf(s, q.group);
      if (g !== lastGroup) { rows.push(html`<tr class="group"><th scope="rowgroup" colspan="7">${LABELS[q.group]}: ${g || '(none)'}</th></tr>`); lastGroup = g; }
    }
    rows.push(html`<tr><td><a href="${href(base, storePath(s))}">${s.name}</a><br><code class="id">${s.id}</code></td><td>${stateBadge(s.state)}${s.errorCode ? html`<br><code>${s.errorCode}</code>` : ''}${s.stale ? html` <span class="muted">(stale)</span>` : ''}</td><td>${accountCell(s)}</td><td>${ownerCell(s)}</td><td>${s.region}</td><td>${s.type}</td><td>${time(s.stateSince, now)}</td></tr>`);
  }
  return html`<h1>Fleet</h1>
<form method="get" action="${href(base, '/fleet')}" class="filters" role="search" aria-label="Filter stores">
<div><label for="f-q">Search id or name</label><input id="f-q" type="search" name="q" value="${q.q}"></div>
${FILTERS.map((k) => r.facets[k].length > MAX_OPTIONS
  // Thousands of accounts: a text box (id or name) rather than a select of thousands of options.
  ? html`<div><label for="f-${k}">${LABELS[k]}</label><input id="f-${k}" name="${k}" value="${q.filters[k] ?? ''}" placeholder="${k === 'account' ? 'account id or name' : `exact ${LABELS[k].toLowerCase()}`}"></div>`
  : html`<div><label for="f-${k}">${LABELS[k]}</label><select id="f-${k}" name="${k}" data-autosubmit><option value="">All</option>${r.facets[k].map(([v, n]) => html`<option value="${v}"${q.filters[k] === v ? new Raw(' selected') : ''}>${k === 'account' ? `${accountNames.get(v) ?? v} (${v})` : v || '(none)'} — ${n}</option>`)}${q.filters[k] !== undefined && !r.facets[k].some(([v]) => v === q.filters[k]) ? html`<option value="${q.filters[k]}" selected>${q.filters[k]} — 0</option>` : ''}</select></div>`)}
<div><label for="f-group">Group by</label><select id="f-group" name="group" data-autosubmit><option value="">None</option>${FILTERS.map((k) => html`<option value="${k}"${q.group === k ? new Raw(' selected') : ''}>${LABELS[k]}</option>`)}</select></div>
${q.sort !== 'state' ? html`<input type="hidden" name="sort" value="${q.sort}">` : ''}${q.desc ? html`<input type="hidden" name="dir" value="desc">` : ''}
<div class="buttons"><button type="submit">Apply</button> <a href="${href(base, '/fleet')}">Clear</a></div>
</form>
<p class="summary" role="status"><span data-matched>${r.matched}</span> of ${r.total} stores${r.pages > 1 ? ` · page ${r.page} of ${r.pages}` : ''}</p>
<div class="scroll"><table class="fleet"><caption class="sr">Key stores</caption><thead><tr>${sortLink('name', 'Store')}${sortLink('state', 'State')}${sortLink('account', 'Account')}<th scope="col">OU / owner</th>${sortLink('region', 'Region')}${sortLink('type', 'Type')}${sortLink('since', 'In this state since')}</tr></thead>
<tbody>${rows}</tbody></table></div>
${r.pages > 1 ? html`<nav class="pager" aria-label="Pages">${r.page > 1 ? html`<a rel="prev" href="${href(base, '/fleet', keep({ page: r.page - 1 }))}">← Previous</a>` : ''} <span>Page ${r.page} of ${r.pages}</span> ${r.page < r.pages ? html`<a rel="next" href="${href(base, '/fleet', keep({ page: r.page + 1 }))}">Next →</a>` : ''}</nav>` : ''}`;
}
