import { describe, expect, it } from 'vitest';
import { ConsoleNotifier, renderConsole } from '../../src/notify/console.js';
import { HOSTILE, HUGE, alert, outage } from './fixtures.js';

describe('console', () => {
  it('prints the demo block: status line, account/region/store, summary, steps, commands, runbook', async () => {
    const out: string[] = [];
    const c = new ConsoleNotifier({ type: 'console', minSeverity: 'info' }, { writer: (t) => out.push(t) });
    expect(await c.send(alert())).toEqual({ ok: true });
    const text = out.join('');
    const lines = text.split('\n');
    expect(lines[0]).toBe('🔴 FIRING critical  KMS custom key store FAILED: INVALID_CREDENTIALS');
    expect(text).toContain('  account   111122223333 (prod-payments)\n');
    expect(text).toContain('  region    eu-west-1\n');
    expect(text).toContain('  store     payments-hsm (cks-0123456789abcdef0)  AWS_CLOUDHSM, FAILED, INVALID_CREDENTIALS\n');
    expect(text).toContain('  summary   The key store password no longer matches');
    expect(text).toContain('  steps\n    1. Disconnect the key store');
    expect(text).toContain('    $ aws kms disconnect-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1\n');
    expect(text).toContain('    $ aws kms connect-custom-key-store --custom-key-store-id cks-0123456789abcdef0 --region eu-west-1\n');
    expect(text).toContain('#kmscustomkeystorefailed');
    expect(text).toBe(c.render(alert({ id: 'ntf-other' })));
  });

  it('resolved, reminder, drill and digest are distinct', () => {
    expect(renderConsole(alert({ kind: 'resolved' }))).toMatch(/^✅ RESOLVED critical {2}KMS custom key store FAILED: INVALID_CREDENTIALS\n/);
    expect(renderConsole(alert({ kind: 'resolved' }))).not.toContain('$ aws');
    expect(renderConsole(alert({ kind: 'reminder' }))).toMatch(/^🔁 STILL FIRING critical /);
    expect(renderConsole(alert({ kind: 'drill' }))).toMatch(/^🧪 TEST \(fire drill\) critical .*\n {2}\*\*\* TEST/);
    expect(renderConsole(alert({ severity: 'warning', condition: 'DISCONNECTED' }))).toMatch(/^🟠 FIRING warning {2}KMS custom key store DISCONNECTED\n/);
    const d = renderConsole(outage(12));
    expect(d).toMatch(/^🚨 DIGEST critical {2}12 key store alerts in one poll\n/);
    expect(d.split('\n').filter((l) => l.startsWith('  - FIRING'))).toHaveLength(12);
  });

  it('hostile names cannot inject terminal escapes or extra lines', () => {
    for (const name of [...Object.values(HOSTILE), HUGE]) {
      const text = renderConsole(alert({}, { storeName: name, accountName: name, details: { [name]: name } }));
      expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
      const lines = text.split('\n');
      // Every line is part of the block's layout: the status line, indented rows, or the blank separator.
      for (const l of lines.slice(1)) expect(l === '' || l.startsWith('  ')).toBe(true);
      expect(lines.filter((l) => l.startsWith('  store ')).every((l) => l.length < 400)).toBe(true);
    }
  });

  it('a failing writer is a retryable failure, not a throw', async () => {
    const c = new ConsoleNotifier({ type: 'console', minSeverity: 'info' }, { writer: () => { throw new Error('EPIPE'); } });
    expect(await c.send(alert())).toEqual({ ok: false, retryable: true, error: 'console: EPIPE' });
  });
});
