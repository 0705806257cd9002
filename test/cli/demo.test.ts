// `keystore-watch demo` as a newcomer runs it: the fleet table, metrics served, and on the console a
// store going FAILED (firing, with guidance) and coming back (resolved) within two minutes.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';

describe('keystore-watch demo', () => {
  it('shows the fleet, serves metrics, and fires then resolves an alert with guidance within two minutes', async () => {
    const child = spawn(process.execPath, [BIN, 'demo', '--listen', '127.0.0.1:0'], { cwd: ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const waitFor = async (re: RegExp, ms: number) => {
      const deadline = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}:\n${out}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    try {
      await waitFor(/metrics (http:\/\/127\.0\.0\.1:\d+\/metrics)/, 20_000);
      const metricsUrl = /metrics (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out)![1]!;
      await waitFor(/ACCOUNT\s+NAME\s+REGION\s+STORE ID/, 20_000);
      const metrics = await (await fetch(metricsUrl)).text();
      expect(metrics).toContain('kms_custom_key_store_connection_state{');
      expect(metrics).toContain('keystore_watch_target_up{');
      // The demo timeline fails a CONNECTED store with INVALID_CREDENTIALS and repairs it a minute later.
      await waitFor(/FIRING critical\s+KMS custom key store FAILED: INVALID_CREDENTIALS/, 120_000);
      await waitFor(/RESOLVED critical\s+KMS custom key store FAILED: INVALID_CREDENTIALS/, 120_000);
    } finally {
      child.kill('SIGINT');
    }
    expect(await closed).toBe(0);
    expect(out).toMatch(/\d+ stores \(.*CONNECTED.*FAILED/);
    expect(out).toContain('aws kms disconnect-custom-key-store --custom-key-store-id cks-1234567890abcdef0');
  }, 180_000);
});
