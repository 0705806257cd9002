// Escaping and the page's small pure helpers.
import { describe, expect, it } from 'vitest';
import { esc, href, html, Raw, relative, time } from '../../../src/server/status/html.js';
import { alertMatchers, matcher } from '../../../src/server/status/parts.js';
import { storePath, withStatusLinks } from '../../../src/server/status/links.js';
import type { AlertNotification } from '../../../src/model.js';
import hostile from '../../fixtures/hostile-strings.json' with { type: 'json' };

describe('escaping', () => {
  it('escapes every interpolated value unless it is Raw; arrays are joined', () => {
    const name = '<img src=x onerror=alert(1)>';
    expect(html`<td title="${name}">${name}</td>`.value).toBe('<td title="&lt;img src=x onerror=alert(1)&gt;">&lt;img src=x onerror=alert(1)&gt;</td>');
    expect(html`${['<a>', new Raw('<b>')]}`.value).toBe('&lt;a&gt;<b>');
    expect(html`${'"\''}`.value).toBe('&quot;&#39;');
  });

  it('no hostile string survives as markup', () => {
    for (const s of Object.values(hostile as Record<string, unknown>).flat().filter((x): x is string => typeof x === 'string')) {
      const out = esc(s);
      expect(out).not.toMatch(/[<>"']/);
    }
  });

  it('relative times', () => {
    expect(relative(0, 14 * 60_000)).toBe('14 min ago');
    expect(relative(3 * 86_400_000, 0)).toBe('in 3 d');
    expect(time(null, 0).value).toContain('—');
    expect(time(Date.UTC(2026, 10, 30, 10, 14), Date.UTC(2026, 10, 30, 10, 28)).value).toContain('2026-11-30 10:14 UTC');
  });

  it('links carry the base path and encode query values and path segments', () => {
    expect(href('/kw', '/fleet', { q: 'a&b', page: null })).toBe('/kw/fleet?q=a%26b');
    expect(storePath({ accountId: '111111111111', region: 'us-east-1', id: 'cks-a/b' })).toBe('/stores/111111111111/us-east-1/cks-a%2Fb');
  });

  it('matchers quote values the way Alertmanager parses them', () => {
    expect(matcher('custom_key_store_name', 'a"b\\c')).toBe('custom_key_store_name="a\\"b\\\\c"');
    expect(alertMatchers({ alertKey: 'k', condition: 'FAILED', severity: 'critical', since: 0, subject: { accountId: '1', accountName: 'a', region: 'r', storeId: 'cks-1', storeName: 'n', storeType: null, state: null, errorCode: null, clusterId: null, details: {} } }))
      .toEqual(['alertname="KmsCustomKeyStoreFailed"', 'account_id="1"', 'region="r"', 'custom_key_store_id="cks-1"']);
  });

  it('stamps statusUrl on alerts and digest items only with an external URL', () => {
    const n = { id: 'x', kind: 'firing' as const, severity: 'critical' as const, condition: 'FAILED' as const, alertKey: 'k', since: 0, createdAt: 0,
      subject: { accountId: '1', accountName: 'a', region: 'r', storeId: 'cks-1', storeName: 'n', storeType: null, state: null, errorCode: null, clusterId: null, details: {} },
      guidance: { title: '', summary: '', cause: '', steps: [], commands: [], docs: [], runbookAnchor: '' } } as AlertNotification;
    expect(withStatusLinks([n], null)).toEqual([n]);
    const [stamped] = withStatusLinks([n], 'https://ops.example.com/kw/');
    expect((stamped as { statusUrl?: string }).statusUrl).toBe('https://ops.example.com/kw/stores/1/r/cks-1');
    const [digest] = withStatusLinks([{ id: 'd', kind: 'digest', severity: 'critical', createdAt: 0, items: [n] }], 'https://ops.example.com');
    expect((digest as { items: { statusUrl?: string }[] }).items[0]!.statusUrl).toBe('https://ops.example.com/stores/1/r/cks-1');
  });
});
