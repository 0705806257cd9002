// The fleet view's query (pure): filters, facets, search, sort, groups and pages.
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE, parseFleetQuery, queryFleet } from '../../../src/server/status/fleet.js';
import type { StoreRecord } from '../../../src/model.js';

const store = (i: number, over: Partial<StoreRecord> = {}): StoreRecord => ({
  accountId: String(100000000000 + (i % 3)), accountName: `acct-${i % 3}`, region: i % 2 ? 'eu-west-1' : 'us-east-1', id: `cks-${String(i).padStart(5, '0')}`,
  name: `store-${i}`, type: i % 4 ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE', state: i % 10 === 3 ? 'FAILED' : 'CONNECTED', errorCode: null, clusterId: null, xks: null,
  trustAnchorSha256: null, trustAnchorNotAfter: null, createdAt: null, stateSince: 1000 + i, stale: false, ouPath: `/Prod/T${i % 2}`, tags: { Owner: `team-${i % 5}` }, ...over,
});
const stores = Array.from({ length: 250 }, (_, i) => store(i));
const q = (s: string) => parseFleetQuery(new URLSearchParams(s));

describe('fleet query', () => {
  it('filters by account and state together, with facet counts for what each choice would give', () => {
    const r = queryFleet(stores, q('account=100000000001&state=FAILED'));
    const want = stores.filter((s) => s.accountId === '100000000001' && s.state === 'FAILED');
    expect(r.matched).toBe(want.length);
    expect(r.rows.map((s) => s.id)).toEqual(want.map((s) => s.id).slice(0, PAGE_SIZE));
    // The state facet counts the account's stores per state (the state filter itself left out).
    expect(Object.fromEntries(r.facets.state)).toEqual({ CONNECTED: stores.filter((s) => s.accountId === '100000000001' && s.state === 'CONNECTED').length, FAILED: want.length });
  });

  it('matches an account by name too, owner by the Owner tag (any case), OU exactly', () => {
    expect(queryFleet(stores, q('account=acct-2')).matched).toBe(stores.filter((s) => s.accountId === '100000000002').length);
    expect(queryFleet(stores, q('owner=team-1')).matched).toBe(50);
    expect(queryFleet(stores, q('ou=/Prod/T1')).matched).toBe(125);
    expect(queryFleet(stores, q('ou=/Prod')).matched).toBe(0);
  });

  it('searches ids and names case-insensitively', () => {
    expect(queryFleet(stores, q('q=STORE-24')).rows.map((s) => s.name).sort()).toEqual(['store-24', 'store-240', 'store-241', 'store-242', 'store-243', 'store-244', 'store-245', 'store-246', 'store-247', 'store-248', 'store-249']);
    expect(queryFleet(stores, q('q=cks-00007')).rows.map((s) => s.id)).toEqual(['cks-00007']);
  });

  it('sorts unhealthy first by default, by name on request, descending with dir=desc, and pages', () => {
    const r = queryFleet(stores, q(''));
    expect(r.rows.slice(0, 25).every((s) => s.state === 'FAILED')).toBe(true);
    expect(r.pages).toBe(3);
    const byName = queryFleet(stores, q('sort=name&dir=desc&page=3'));
    const all = stores.map((s) => s.name).sort().reverse();
    expect(byName.rows.map((s) => s.name)).toEqual(all.slice(200));
    // A page past the end shows the last page.
    expect(queryFleet(stores, q('page=99')).page).toBe(3);
  });

  it('groups by a filter: rows come in runs of one value', () => {
    const r = queryFleet(stores, q('group=region'));
    const regions = r.rows.map((s) => s.region);
    expect(regions).toEqual([...regions].sort());
  });

  it('ignores unknown sort and group values and bounds the page number', () => {
    const p = q('sort=__proto__&group=constructor&page=-4');
    expect(p).toMatchObject({ sort: 'state', group: '', page: 1 });
  });
});
