// The status page's HTML building blocks: escaping, the page layout, times (UTC and relative) and the
// security headers. Every string that reaches the page goes through `html` (AWS-provided names and ids
// are attacker-controllable: a store may be named `<img src=x onerror=alert(1)>`); only Raw values built
// here are inserted as markup. Pure functions: no I/O.

/** Markup that is already safe (built by `html`). */
export class Raw {
  constructor(readonly value: string) {}
  toString(): string { return this.value; }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for an element body or a quoted attribute value. */
export const esc = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);

type Part = Raw | string | number | boolean | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Raw) return part.value;
  if (Array.isArray(part)) return (part as readonly Part[]).map(render).join('');
  return esc(part);
}

/** Tagged template: interpolated values are escaped unless they are Raw (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: Part[]): Raw {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Raw(out);
}

/** A link or form target under the page's base path (http.externalUrl's path, '' at the root). */
export const href = (base: string, path: string, query?: Record<string, string | number | null | undefined>): string => {
  const q = query ? Object.entries(query).filter(([, v]) => v !== null && v !== undefined && v !== '') : [];
  return `${base}${path}${q.length ? `?${new URLSearchParams(q.map(([k, v]): [string, string] => [k, String(v)])).toString()}` : ''}`;
};

/** "2026-11-30 10:14 UTC" */
export const utc = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

/** "14 min ago", "in 3 d" (the client script keeps it current; the server renders it once). */
export function relative(ms: number, now: number): string {
  const d = Math.round((now - ms) / 1000);
  const a = Math.abs(d);
  const text = a < 45 ? `${a} s` : a < 90 * 60 ? `${Math.round(a / 60)} min` : a < 36 * 3600 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

/** A time shown in UTC and relative; the script refreshes the relative part from `datetime`. */
export const time = (ms: number | null | undefined, now: number): Raw =>
  ms === null || ms === undefined || !Number.isFinite(ms)
    ? html`<span class="muted">—</span>`
    : html`<time datetime="${new Date(ms).toISOString()}" title="${utc(ms)}">${utc(ms)}</time> <span class="rel" data-t="${ms}">${relative(ms, now)}</span>`;

/**
 * Strict CSP: scripts and styles only from this origin's files (no inline script or style, no eval),
 * nothing from elsewhere, forms only to this origin, never framed.
 */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export interface LayoutOptions {
  base: string;
  title: string;
  /** Which nav item is current. */
  nav: 'overview' | 'fleet' | 'store' | 'login';
  /** Signed-in user (session or proxy), null for an anonymous visitor. */
  user: string | null;
  /** The CSRF token for the logout form (signed-in via a session). */
  csrf: string | null;
  /** Shown in the header: the last poll and this replica's role. */
  status?: Raw;
  /** Re-fetch the page's <main> every N seconds (the script keeps scroll, focus and filters). */
  refreshSeconds?: number;
  loginAvailable: boolean;
  body: Raw;
}

export function layout(o: LayoutOptions): string {
  const item = (key: LayoutOptions['nav'], path: string, label: string) =>
    html`<li><a href="${href(o.base, path)}"${o.nav === key ? new Raw(' aria-current="page"') : ''}>${label}</a></li>`;
  const who = o.user
    ? html`<span class="who">Signed in as <strong>${o.user}</strong></span>${o.csrf ? html`<form method="post" action="${href(o.base, '/logout')}" class="inline"><input type="hidden" name="csrf" value="${o.csrf}"><button type="submit" class="link">Sign out</button></form>` : ''}`
    : o.loginAvailable && o.nav !== 'login' ? html`<a href="${href(o.base, '/login')}">Sign in</a>` : html`<span class="who muted">Read-only</span>`;
  return `<!doctype html>
${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>${o.title} · keystore-watch</title>
<link rel="stylesheet" href="${href(o.base, '/assets/status.css')}"><link rel="icon" href="${href(o.base, '/assets/favicon.svg')}" type="image/svg+xml">
<script type="module" src="${href(o.base, '/assets/status.js')}"></script></head>
<body data-refresh="${o.refreshSeconds ?? 0}"><a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="${href(o.base, '/')}">keystore-watch</a><nav aria-label="Main"><ul>${item('overview', '/', 'Overview')}${item('fleet', '/fleet', 'Fleet')}</ul></nav><div class="status">${o.status ?? ''}</div><div class="user">${who}</div></header>
<main id="main" tabindex="-1">${o.body}</main>
<footer class="foot">Times in UTC. <a href="${href(o.base, '/api/v1/alerts')}">API</a> · <a href="${href(o.base, '/metrics')}">Metrics</a></footer>
</body></html>`}\n`;
}

export const SEVERITY_LABEL: Record<string, string> = { critical: 'Critical', warning: 'Warning', info: 'Info' };

export const badge = (kind: string, text: string): Raw => html`<span class="badge b-${kind.toLowerCase().replace(/[^a-z0-9_-]/g, '')}">${text}</span>`;
