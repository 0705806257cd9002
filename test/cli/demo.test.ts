// `keystore-watch demo` as a newcomer runs it: the fleet table, metrics served, console alerts.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';

describe('keystore-watch demo', () => {
  it('shows the fleet, serves metrics and prints alerts with guidance', async () => {
    const child = spawn(process.execPath, [BIN, 'demo', '--listen', '127.0.0.1:0', '--duration', '25'], { cwd: ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const metricsUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no metrics URL printed:\n${out}`)), 20_000);
      child.stdout.on('data', () => {
        const m = /metrics (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out);
        if (m) { clearTimeout(timer); resolve(m[1]!); }
      });
    });
    // Wait for the fleet table (the first poll) and the first alerts.
    const deadline = Date.now() + 20_000;
    while (!/FIRING/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const metrics = await (await fetch(metricsUrl)).text();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(/ACCOUNT\s+NAME\s+REGION\s+STORE ID/);
    expect(out).toMatch(/\d+ stores \(.*CONNECTED.*FAILED/);
    expect(out).toContain('FIRING');
    expect(out).toContain('aws kms');
    expect(metrics).toContain('kms_custom_key_store_connection_state{');
    expect(metrics).toContain('keystore_watch_target_up{');
  }, 60_000);
});
