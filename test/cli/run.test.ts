// keystore-watch run as a child process: a SIGTERM during start-up stops the daemon cleanly.
// start() waits for STS GetCallerIdentity after the HTTP server is up and the outbox delivers, so a
// SIGTERM (a rollout, a test's stop) can arrive before start() returns. Here the AWS endpoint accepts
// connections and never answers, holding start() in the STS call for as long as the test wants.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { BIN, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/sim.js';
import { waitUntil } from '../reliability/support.js';

const sockets: Socket[] = [];
let silent: Server | null = null;
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
});

describe('keystore-watch run: stopping', () => {
  it('a SIGTERM while start-up waits for STS stops the daemon: exit 0, lock released, no STS warning', async () => {
    silent = createServer((s) => { sockets.push(s); s.on('error', () => {}); });
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', () => resolve()));
    const endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const stateDir = tempDir('kw-run-stop-');
    const configFile = path.join(tempDir('kw-run-stop-cfg-'), 'keystore-watch.yaml');
    writeFileSync(configFile, stringify({
      schedule: '0 0 * * *', listen: '127.0.0.1:0', stateDir, logLevel: 'info',
      // Long enough that only the SIGTERM can end the STS call within the test.
      aws: { endpoint, maxAttempts: 1, requestTimeout: '120s', targetTimeout: '120s' },
      accounts: [{ id: '111111111111' }], regions: ['us-east-1'],
      alerting: { channels: [{ type: 'console' }] },
    }));
    const env = { ...process.env, NODE_NO_WARNINGS: '1', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'run-test-secret', AWS_EC2_METADATA_DISABLED: 'true', AWS_PROFILE: '', AWS_SESSION_TOKEN: '' };
    const proc = spawn(process.execPath, [BIN, 'run', '--config', configFile], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      // Serving, and the STS request has reached the silent endpoint: start() is inside identify().
      await waitUntil(() => /"url":"http:/.test(out) && sockets.length > 0, 'the daemon to serve and call STS', 60_000, 50);
      expect(existsSync(path.join(stateDir, 'keystore-watch.lock'))).toBe(true);
      proc.kill('SIGTERM');
      const r = await exited;
      expect(r, out.slice(-3000)).toEqual({ code: 0, signal: null });
      expect(out).toContain('"msg":"shutting down"');
      expect(out, 'an STS call cut short by the stop is not a failure to report').not.toContain('GetCallerIdentity failed');
      expect(existsSync(path.join(stateDir, 'keystore-watch.lock')), 'released on a clean stop').toBe(false);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  }, 120_000);
});
