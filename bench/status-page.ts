// npm run bench:status [-- --stores 20000] [-- --repeat 5]
//
// The status page's fleet view at fleet scale (issue 18): a 20,000-store snapshot (generated here:
// 2,000 accounts x 5 regions x 2 stores, 5 % FAILED, OU paths and owner tags) served by the real
// HTTP server and status routes, opened in the system Chromium (playwright-core, /usr/bin/chromium).
// Reports, per view, the server's answer time (TTFB), the page's DOMContentLoaded, first contentful
// paint and load, median of --repeat cold navigations. Reported, never asserted.
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { chromium } from 'playwright-core';
import { startHttpServer } from '../src/server/http.js';
import { statusRoutes } from '../src/server/status/routes.js';
import { EMPTY_METRICS } from '../src/metrics/exposition.js';
import type { Snapshot, StoreRecord } from '../src/model.js';

const { values: args } = parseArgs({ options: { stores: { type: 'string', default: '20000' }, repeat: { type: 'string', default: '5' } } });
const STORES = Number(args.stores);
const REPEAT = Math.max(1, Number(args.repeat));
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2'];
const STATES = ['CONNECTED', 'CONNECTED', 'CONNECTED', 'CONNECTED', 'CONNECTED', 'CONNECTED', 'CONNECTED', 'CONNECTED', 'DISCONNECTED', 'CONNECTING'];

function fleet(n: number, now: number): Snapshot {
  const stores: StoreRecord[] = [];
  for (let i = 0; i < n; i++) {
    const account = String(100000000000 + Math.floor(i / 10)).padStart(12, '0');
    const failed = i % 20 === 7;
    stores.push({
      accountId: account, accountName: `acct-${Math.floor(i / 10)}`, region: REGIONS[Math.floor(i / 2) % REGIONS.length]!,
      id: `cks-${i.toString(16).padStart(17, '0')}`, name: `store-${i}`, type: i % 5 < 2 ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE',
      state: failed ? 'FAILED' : STATES[i % STATES.length]!, errorCode: failed ? 'NETWORK_ERRORS' : null, clusterId: null, xks: null,
      trustAnchorSha256: null, trustAnchorNotAfter: null, createdAt: now - 400 * 86_400_000, stateSince: now - (i % 1000) * 60_000, stale: false,
      ouPath: `/Prod/Team${Math.floor(i / 1000)}`, tags: { owner: `team-${Math.floor(i / 1000)}` },
    });
  }
  return { pollId: 1, startedAt: now - 5000, finishedAt: now, stores, clusters: [], targets: [], probes: [] };
}

const median = (xs: number[]) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : NaN; };
const range = (xs: number[]) => { const f = xs.filter(Number.isFinite); return f.length ? `${Math.round(Math.min(...f))}-${Math.round(Math.max(...f))}` : 'n/a'; };

const now = Date.now();
const snap = fleet(STORES, now);
const server = await startHttpServer({
  listen: '127.0.0.1:0',
  sources: { metrics: async () => ({ snapshot: EMPTY_METRICS, self: '' }), ready: () => ({ ready: true, reasons: [] }), stores: () => [], alerts: () => [], events: () => [], targets: () => [] },
  routes: statusRoutes({
    authToken: null, trustedUserHeader: null, externalUrl: null, tls: false,
    source: { snapshot: () => snap, alerts: () => [], selfAlerts: () => [], events: () => [], role: () => 'leader' },
  }),
});
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage'] });
const views: [string, string][] = [
  ['fleet, first page (default sort: unhealthy first)', '/fleet'],
  ['fleet, sorted by name, page 100', '/fleet?sort=name&page=100'],
  ['fleet, grouped by account', '/fleet?group=account'],
  ['fleet, state=FAILED', '/fleet?state=FAILED'],
  ['fleet, search "store-1999"', '/fleet?q=store-1999'],
  ['overview', '/'],
];
process.stdout.write(`status page bench: ${STORES} stores, ${REPEAT} cold navigations per view (median, range), system Chromium; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs\n\n`);
process.stdout.write(`${'view'.padEnd(52)} ${'TTFB ms'.padStart(14)} ${'DCL ms'.padStart(14)} ${'FCP ms'.padStart(14)} ${'load ms'.padStart(14)} ${'HTML KiB'.padStart(9)}\n`);
for (const [label, path] of views) {
  const ttfb: number[] = [], dcl: number[] = [], fcp: number[] = [], load: number[] = [];
  let bytes = 0;
  for (let i = 0; i < REPEAT; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}${path}`, { waitUntil: 'load' });
    const t = await page.evaluate((): { ttfb: number; dcl: number; load: number; fcp: number; bytes: number } => {
      const perf = (globalThis as unknown as { performance: { getEntriesByType(t: string): unknown[]; getEntriesByName(n: string): { startTime: number }[] } }).performance;
      const nav = perf.getEntriesByType('navigation')[0] as { startTime: number; responseStart: number; domContentLoadedEventEnd: number; loadEventEnd: number; transferSize: number; encodedBodySize: number };
      const paint = perf.getEntriesByName('first-contentful-paint')[0];
      return { ttfb: nav.responseStart - nav.startTime, dcl: nav.domContentLoadedEventEnd - nav.startTime, load: nav.loadEventEnd - nav.startTime, fcp: paint ? paint.startTime : NaN, bytes: nav.transferSize || nav.encodedBodySize };
    });
    ttfb.push(t.ttfb); dcl.push(t.dcl); fcp.push(t.fcp); load.push(t.load); bytes = t.bytes;
    await context.close();
  }
  const cell = (xs: number[]) => `${Math.round(median(xs))} (${range(xs)})`.padStart(14);
  process.stdout.write(`${label.padEnd(52)} ${cell(ttfb)} ${cell(dcl)} ${cell(fcp)} ${cell(load)} ${String(Math.round(bytes / 1024)).padStart(9)}\n`);
}
await browser.close();
await server.close();
