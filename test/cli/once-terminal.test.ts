// `once` on a real terminal (a pseudo-terminal from util-linux `script`): the table is the default and
// a progress line is drawn on stderr while the sweep runs.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simulator, tempDir } from '../helpers/sim.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { mustRun } from '../helpers/tools.js';

let sim: RunningSimulator;
beforeAll(async () => { sim = await simulator('poller-fleet.yaml'); });
afterAll(async () => { await sim?.close(); });

describe('keystore-watch once on a terminal', () => {
  it.runIf(mustRun('script'))('prints the table and a progress line by default', async () => {
    const file = join(tempDir(), 'tty.yaml');
    writeFileSync(file, stringify({ aws: { endpoint: sim.url, maxAttempts: 1 }, accounts: [{ id: '111111111111', name: 'management' }, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }], regions: ['us-east-1', 'eu-west-1'] }));
    // spawnSync would block the in-process simulator; run `script` asynchronously instead.
    const child = spawn('script', ['-qec', `${process.execPath} ${BIN} once --config ${file}`, '/dev/null'], {
      cwd: ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1', AWS_ACCESS_KEY_ID: BASE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: BASE_CREDENTIALS.secretAccessKey },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1); // FAILED stores in the fleet
    expect(out).toMatch(/polled \d+\/4 targets/);
    expect(out).toMatch(/ACCOUNT\s+NAME\s+REGION\s+STORE ID/);
    expect(out).not.toMatch(/^\s*\{/m);
  });
});
