// The status page in a real headless Chromium (the system's, through playwright-core) against the daemon
// and the simulator running the demo scenario, with a real local webhook receiver as the only channel.
import { copyFileSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { Daemon } from '../../../src/daemon.js';
import { silentLogger } from '../../../src/log.js';
import { parseConfig } from '../../../src/config/load.js';
import { DEMO_SCENARIO_PATH, loadScenarioFile } from '../../../src/simulator/scenario.js';
import { startSimulator, baseAccessKeyId, type RunningSimulator } from '../../../src/simulator/server.js';
import { tempDir } from '../../helpers/sim.js';
import { startReceiver, type Receiver } from '../../helpers/receiver.js';
import { launchChromium, screenshot, watchPage } from './browser.js';

const TOKEN = 'status-page-token-0123456789';
const EXTERNAL = 'http://kw.example.test/kw/';
const HOSTILE = '<img src=x onerror=alert(1)>';
const HOSTILE_ID = 'cks-0hostile0000000001';
const ANALYTICS = '333333333333';
/** CONNECTED in the scenario; the test fails it between polls so its history has a change. */
const CHANGED = 'cks-5e6f7a8b9c0d10005';

let sim: RunningSimulator;
let daemon: Daemon;
let readOnly: Daemon;
let hook: Receiver;
let browser: Browser;
let base: string;

function config(extra: { http?: Record<string, unknown>; channels?: unknown[] }) {
  const scenario = loadScenarioFile(DEMO_SCENARIO_PATH);
  const management = scenario.managementAccount ?? scenario.accounts[0]!.id;
  return parseConfig({
    schedule: '0 0 1 1 *',
    listen: '127.0.0.1:0',
    stateDir: tempDir('kw-status-'),
    aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '5s', targetTimeout: '15s' },
    accounts: scenario.accounts.map((a) => ({ id: a.id, name: a.name, roleArn: a.id === management ? null : `arn:aws:iam::${a.id}:role/KeystoreWatch` })),
    regions: [...new Set(scenario.accounts.flatMap((a) => Object.keys(a.regions ?? {})))],
    alerting: { confirmations: 2, repeatInterval: '4h', groupThreshold: 100, channels: extra.channels ?? [] },
    http: extra.http ?? {},
  }, 'status-test');
}

const creds = () => ({ accessKeyId: baseAccessKeyId('111111111111'), secretAccessKey: 'simulator' });

async function delivered(d: Daemon): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (d.alerts.outbox.pending() > 0) {
    if (Date.now() > deadline) throw new Error(`outbox still holds ${d.alerts.outbox.pending()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  sim = await startSimulator({ scenario: DEMO_SCENARIO_PATH, port: 0 });
  sim.fleet.addStore(ANALYTICS, 'us-east-1', { id: HOSTILE_ID, name: HOSTILE, type: 'AWS_CLOUDHSM', clusterId: 'cluster-analyticsprd', state: 'FAILED', errorCode: 'INVALID_CREDENTIALS' });
  hook = await startReceiver();
  daemon = new Daemon({
    config: config({ http: { authToken: TOKEN, externalUrl: EXTERNAL }, channels: [{ type: 'webhook', url: `${hook.url}/hook`, minSeverity: 'warning' }] }),
    logger: silentLogger(), credentials: creds(), schedule: false,
  });
  readOnly = new Daemon({ config: config({}), logger: silentLogger(), credentials: creds(), schedule: false });
  await Promise.all([daemon.start(), readOnly.start()]);
  await daemon.pollNow();
  sim.fleet.setStore(CHANGED, { state: 'FAILED', errorCode: 'INSUFFICIENT_CLOUDHSM_HSMS' });
  await daemon.pollNow();
  await daemon.pollNow();
  await readOnly.pollNow();
  await readOnly.pollNow();
  await delivered(daemon);
  base = daemon.url!;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([daemon?.stop(2000), readOnly?.stop(2000)]);
  await Promise.all([sim?.close(), hook?.close()]);
});

/** A signed-in browser context (through the login form). */
async function signedIn(viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page; seen: ReturnType<typeof watchPage> }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const seen = watchPage(page);
  await page.goto(`${base}/`);
  expect(new URL(page.url()).pathname).toBe('/kw/login');
  await page.getByLabel('Your name').fill('alice');
  await page.getByLabel('Token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === '/kw/');
  return { context, page, seen };
}

async function seriousViolations(page: Page): Promise<string[]> {
  const r = await new AxeBuilder({ page }).analyze();
  return r.violations.filter((v: { impact?: string | null }) => v.impact === 'serious' || v.impact === 'critical').map((v: { id: string; nodes: { target: unknown[] }[] }) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('status page in Chromium', () => {
  it('overview: the demo fleet\'s failures first, counts, blind spots, last poll and leadership; no CSP violation, no serious axe finding', async () => {
    const { context, page, seen } = await signedIn();
    const snap = daemon.latest!;
    const failed = snap.stores.filter((s) => s.state === 'FAILED');
    expect(failed.length).toBeGreaterThanOrEqual(3);
    await expect.poll(() => page.locator('.card a[href="/kw/fleet?state=FAILED"] .n').textContent()).toBe(String(failed.length));
    const firing = page.locator('table.alerts tbody tr');
    expect(await firing.count()).toBe(daemon.alerts.firing().length);
    // Most severe first: the first row is critical.
    expect(await firing.first().locator('.badge').first().textContent()).toBe('critical');
    for (const name of ['eu-xks', 'analytics-hsm-old', 'analytics-hsm']) await expect.poll(() => page.locator('table.alerts').getByRole('link', { name, exact: true }).count()).toBeGreaterThan(0);
    expect(await page.locator('.top .status').textContent()).toMatch(/Last poll: \d{4}-\d\d-\d\d \d\d:\d\d UTC \d+ s ago this replica leads/);
    expect(await page.getByRole('heading', { name: /Blind spots/ }).count()).toBe(1);
    // The quick filter hides rows and survives an auto-refresh's swap of <main>.
    await page.getByLabel('Filter this page').fill('analytics-hsm-old');
    const visible = () => page.locator('table.alerts tbody tr:not([hidden])').count();
    await expect.poll(visible).toBeGreaterThan(0);
    expect(await visible()).toBeLessThan(await firing.count());
    expect(seen.problems).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('Filter this page').fill('');
    await screenshot(page, 'overview-desktop');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'overview-phone');
    // Nothing overflows the phone's width but the tables' own scrollers.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await context.close();
  });

  it('fleet: filtering by account and by state, search, paging links keep the filters', async () => {
    const { context, page, seen } = await signedIn();
    await page.goto(`${base}/kw/fleet`);
    const snap = daemon.latest!;
    expect(await page.locator('[data-matched]').textContent()).toBe(String(snap.stores.length));
    // The selects submit on change (the script); the URL carries the filters.
    await page.getByLabel('Account').selectOption(ANALYTICS);
    await page.waitForURL((u) => u.searchParams.get('account') === ANALYTICS);
    const inAccount = snap.stores.filter((s) => s.accountId === ANALYTICS);
    expect(await page.locator('[data-matched]').textContent()).toBe(String(inAccount.length));
    for (const cell of await page.locator('table.fleet tbody tr td:nth-child(3) code').allTextContents()) expect(cell).toBe(ANALYTICS);
    await page.getByLabel('State').selectOption('FAILED');
    await page.waitForURL((u) => u.searchParams.get('state') === 'FAILED' && u.searchParams.get('account') === ANALYTICS);
    const both = inAccount.filter((s) => s.state === 'FAILED');
    expect(await page.locator('[data-matched]').textContent()).toBe(String(both.length));
    expect((await page.locator('table.fleet tbody tr .badge').allTextContents()).every((t) => t === 'FAILED')).toBe(true);
    // Search by id.
    await page.goto(`${base}/kw/fleet?q=cks-9876543210fedcba9`);
    expect(await page.locator('table.fleet tbody tr').count()).toBe(1);
    expect(await page.locator('table.fleet tbody').textContent()).toContain('eu-xks');
    expect(seen.problems).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });

  it('store page: history, cluster and HSMs, filled commands with a copy button, CloudTrail; screenshots', async () => {
    const { context, page, seen } = await signedIn();
    await page.goto(`${base}/kw/fleet?q=${CHANGED}`);
    await page.getByRole('link', { name: 'analytics-hsm', exact: true }).click();
    await page.waitForURL((u) => u.pathname === `/kw/stores/${ANALYTICS}/us-east-1/${CHANGED}`);
    expect(await page.locator('h1').textContent()).toBe('analytics-hsm');
    const history = await page.locator('ol.timeline').textContent();
    expect(history).toMatch(/CONNECTED\s*→\s*FAILED\s*INSUFFICIENT_CLOUDHSM_HSMS/);
    const cluster = await page.getByRole('region', { name: /Cluster/ }).textContent();
    expect(cluster).toContain('cluster-analyticsprd');
    expect(cluster).toContain('us-east-1a');
    expect(cluster).toContain('DEGRADED');
    const commands = await page.locator('.commands pre').first().textContent();
    expect(commands).toContain(CHANGED);
    expect(commands).toContain('cluster-analyticsprd');
    expect(commands).not.toMatch(/<[a-z-]+>|\{\{/);
    expect(await page.getByRole('button', { name: 'Copy commands' }).count()).toBeGreaterThan(0);
    expect(await page.getByRole('button', { name: 'Send TEST notification' }).count()).toBe(1);
    expect(seen.problems).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'store-desktop');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'store-phone');
    // The disconnected staging store: who disconnected it, from CloudTrail (the demo's alice).
    await page.goto(`${base}/kw/stores/222222222222/us-east-1/cks-3c4d5e6f7a8b90003`);
    expect(await page.getByRole('region', { name: /Who changed it/ }).textContent()).toMatch(/alice|no CloudTrail event found|lookup pending|No recent change/);
    await context.close();
  });

  it('a store named <img src=x onerror=alert(1)> renders as text: no dialog, no image', async () => {
    const { context, page, seen } = await signedIn();
    await page.goto(`${base}/kw/stores/${ANALYTICS}/us-east-1/${HOSTILE_ID}`);
    expect(await page.locator('h1').textContent()).toBe(HOSTILE);
    await page.goto(`${base}/kw/`);
    expect(await page.locator('table.alerts').getByRole('link', { name: HOSTILE }).count()).toBeGreaterThan(0);
    await page.goto(`${base}/kw/fleet?q=hostile`);
    expect(await page.locator('table.fleet tbody').textContent()).toContain(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);
    expect(seen.dialogs).toEqual([]);
    expect(seen.problems).toEqual([]);
    await context.close();
  });

  it('notifications link to the store page under http.externalUrl', async () => {
    const failedHook = hook.requests.map((r) => r.json as { notification: { kind: string; subject?: { storeId: string | null }; statusUrl?: string } })
      .find((b) => b.notification.kind === 'firing' && b.notification.subject?.storeId === CHANGED);
    expect(failedHook?.notification.statusUrl).toBe(`http://kw.example.test/kw/stores/${ANALYTICS}/us-east-1/${CHANGED}`);
  });

  it('a TEST drill from the store page reaches the channel; a forged POST without the CSRF token is refused', async () => {
    const { context, page, seen } = await signedIn();
    await page.goto(`${base}/kw/stores/${ANALYTICS}/us-east-1/${CHANGED}`);
    const before = hook.requests.length;
    await page.getByRole('button', { name: 'Send TEST notification' }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'drill-ok');
    expect(await page.getByRole('status').first().textContent()).toContain('TEST notification sent');
    await hook.waitFor(before + 1);
    const drill = hook.requests[before]!;
    expect(drill.headers['x-keystore-watch-event']).toBe('drill');
    expect((drill.json as { notification: { subject: { storeId: string } } }).notification.subject.storeId).toBe(CHANGED);
    // The same form posted from the signed-in browser without, then with a wrong, CSRF token.
    const form = { accountId: ANALYTICS, region: 'us-east-1', storeId: CHANGED, code: 'INVALID_CREDENTIALS', back: '/' };
    const noToken = await context.request.post(`${base}/kw/actions/drill`, { form, maxRedirects: 0 });
    expect(noToken.status()).toBe(403);
    expect(await noToken.text()).toContain('CSRF');
    const wrong = await context.request.post(`${base}/kw/actions/drill`, { form: { ...form, csrf: 'x'.repeat(43) }, maxRedirects: 0 });
    expect(wrong.status()).toBe(403);
    // Not signed in at all.
    const anon = await fetch(`${base}/kw/actions/drill`, { method: 'POST', body: new URLSearchParams(form), redirect: 'manual' });
    expect(anon.status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(hook.requests.length).toBe(before + 1);
    expect(seen.problems).toEqual([]);
    await context.close();
  });

  it('acknowledging and silencing from the page change what is sent (webhook receiver); expiring the silence sends the one message', async () => {
    const { context, page, seen } = await signedIn();
    type Body = { notification: { kind: string; condition?: string; subject?: { storeId: string | null }; items?: unknown[] } };
    const bodies = (from: number) => hook.requests.slice(from).map((r) => ({ kind: String(r.headers['x-keystore-watch-event']), text: r.body, body: r.json as Body }));
    const about = (from: number, storeId: string, kind: string) => bodies(from).filter((b) => b.kind === kind && b.body.notification.subject?.storeId === storeId);
    const poll = async () => { expect(await daemon.pollNow()).toBe(true); await delivered(daemon); };

    // Acknowledge analytics-hsm's FAILED alert from the overview.
    const row = page.locator('table.alerts tbody tr', { has: page.getByRole('link', { name: 'analytics-hsm', exact: true }) }).filter({ hasText: 'KmsCustomKeyStoreFailed' });
    await row.getByRole('button', { name: 'Acknowledge' }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'acked');
    const acked = page.locator('table.alerts tbody tr', { has: page.getByRole('link', { name: 'analytics-hsm', exact: true }) }).filter({ hasText: 'KmsCustomKeyStoreFailed' });
    expect(await acked.locator('td').nth(7).textContent()).toBe('alice');

    // A silence from a filter: analytics-xks (CONNECTING now) for two hours.
    const SILENCED = 'cks-7a8b9c0d1e2f30007';
    const CONTROL = 'cks-0a1b2c3d4e5f60001';
    await page.getByLabel(/^Matchers/).fill(`custom_key_store_id="${SILENCED}"`);
    await page.locator('#ns-d').selectOption('2h');
    await page.locator('#ns-c').fill('XKS proxy replacement');
    await page.getByRole('button', { name: 'Create silence' }).last().click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'silenced');
    const silences = page.getByRole('region', { name: /Silences/ });
    expect(await silences.textContent()).toContain(SILENCED);
    expect(await silences.textContent()).toContain('XKS proxy replacement');

    // Both stores fail; only the unsilenced one is sent.
    const from = hook.requests.length;
    sim.fleet.setStore(SILENCED, { state: 'FAILED', errorCode: 'XKS_PROXY_TIMED_OUT' });
    sim.fleet.setStore(CONTROL, { state: 'FAILED', errorCode: 'INVALID_CREDENTIALS' });
    await poll();
    await poll();
    expect(about(from, CONTROL, 'firing').length).toBe(1);
    expect(about(from, SILENCED, 'firing')).toEqual([]);

    // The acknowledged store recovers: its resolved message still goes out and names alice.
    sim.fleet.setStore(CHANGED, { state: 'CONNECTED', errorCode: null });
    await poll();
    await poll();
    const resolved = about(from, CHANGED, 'resolved');
    expect(resolved.length).toBeGreaterThan(0);
    expect(resolved.some((r) => r.text.includes('alice'))).toBe(true);

    // Expire the silence from the page: the still-failing store is sent then, once.
    await page.goto(`${base}/kw/`);
    await page.getByRole('region', { name: /Silences/ }).getByRole('row', { name: new RegExp(SILENCED) }).getByRole('button', { name: 'Expire' }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'expired');
    const after = hook.requests.length;
    await poll();
    await poll();
    expect(about(after, SILENCED, 'firing').length).toBe(1);
    expect(seen.problems).toEqual([]);
    await context.close();
  });

  it('a read-only visitor (no http.authToken) sees the page without any action button; actions answer 403', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = watchPage(page);
    await page.goto(`${readOnly.url}/`);
    expect(await page.locator('table.alerts tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('form[method="post"]').count()).toBe(0);
    expect(await page.locator('button[data-action]').count()).toBe(0);
    await page.goto(`${readOnly.url}/stores/${ANALYTICS}/us-east-1/${CHANGED}`);
    expect(await page.locator('button[data-action], form[method="post"]').count()).toBe(0);
    expect(await page.getByText('Read-only').count()).toBe(1);
    const post = await context.request.post(`${readOnly.url}/actions/ack`, { form: { alertKey: 'x', csrf: 'x' }, maxRedirects: 0 });
    expect(post.status()).toBe(403);
    expect(await post.text()).toContain('http.authToken');
    expect(seen.problems).toEqual([]);
    await context.close();
  });

  it('with http.authToken, an anonymous visitor gets the login form, never the data; a wrong token signs nobody in', async () => {
    const res = await fetch(`${base}/fleet`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/kw/login?next=%2Ffleet');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/kw/login`);
    await page.getByLabel('Your name').fill('mallory');
    await page.getByLabel('Token').fill('not-the-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.searchParams.get('failed') === '1');
    expect(await page.getByRole('alert').textContent()).toContain('not the daemon');
    expect((await context.cookies()).length).toBe(0);
    await context.close();
  });
});

afterAll(() => {
  // The README's screenshot is refreshed by hand from the artefact (docs/images/status-overview.png).
  if (process.env.KW_UPDATE_README_SCREENSHOT) {
    mkdirSync(new URL('../../../docs/images/', import.meta.url), { recursive: true });
    copyFileSync(new URL('../../../.tmp/artefacts/status/overview-desktop.png', import.meta.url), new URL('../../../docs/images/status-overview.png', import.meta.url));
  }
});
