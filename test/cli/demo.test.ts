// `keystore-watch demo` as a newcomer runs it: the fleet table, metrics served, and on the console a
// store going FAILED (firing, with guidance) and coming back (resolved) within two minutes.
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { fixtureScenario } from '../helpers/sim.js';

const freePort = () => new Promise<number>((resolve) => {
  const srv = createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address() as { port: number };
    srv.close(() => resolve(port));
  });
});
const accepts = (port: number) => new Promise<boolean>((resolve) => {
  const sock = connect(port, '127.0.0.1', () => { sock.destroy(); resolve(true); });
  sock.on('error', () => resolve(false));
});

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

  it('stops cleanly on Ctrl-C while still starting (STS not answered yet): exit 0, not killed by the signal', async () => {
    // Every AWS call of this scenario takes 8 s. The status page listens before start() asks STS who we
    // are, and the Ctrl-C handler is installed before start(): once the port accepts, a SIGINT lands in start().
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'demo', '--listen', `127.0.0.1:${port}`, '--scenario', fixtureScenario('slow-aws.yaml')], { cwd: ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
    try {
      const deadline = Date.now() + 30_000;
      while (!(await accepts(port))) {
        if (Date.now() > deadline) throw new Error(`the demo never listened on ${port}:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(out).not.toContain('status page:'); // still in start()
      child.kill('SIGINT');
      // Before the fix the default action ended the process: code null, signal SIGINT.
      expect(await closed).toEqual([0, null]);
      expect(out).toContain('stopping');
      expect(out).not.toContain('status page:');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
