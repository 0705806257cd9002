// Starts the project's simulator in-process and builds daemon configs pointed at it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, baseAccessKeyId, type RunningSimulator } from '../../src/simulator/server.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export const MGMT = '111111111111';
export const BASE_CREDENTIALS = { accessKeyId: baseAccessKeyId(MGMT), secretAccessKey: 'sim-secret-canary-4711' };

export function fixtureScenario(name: string): string {
  return new URL(`../fixtures/scenarios/${name}`, import.meta.url).pathname;
}

export async function simulator(scenario: string): Promise<RunningSimulator> {
  return startSimulator({ scenario: fixtureScenario(scenario), port: 0 });
}

export const tempDir = (prefix = 'kw-test-') => mkdtempSync(join(tmpdir(), prefix));

/** A validated config against the simulator; `extra` overrides top-level keys. */
export function simConfig(sim: RunningSimulator, extra: Record<string, unknown> = {}): Config {
  const { aws, ...rest } = extra as { aws?: Record<string, unknown> };
  return parseConfig({
    schedule: '0 0 1 1 *',
    listen: '127.0.0.1:0',
    stateDir: tempDir(),
    aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '3s', targetTimeout: '8s', concurrency: 8, ...aws },
    accounts: [
      { id: '111111111111', name: 'management' },
      { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' },
      { id: '333333333333', name: 'sandbox', roleArn: 'arn:aws:iam::333333333333:role/KeystoreWatch' },
    ],
    regions: ['us-east-1', 'eu-west-1'],
    ...rest,
  }, 'test-config', {});
}
