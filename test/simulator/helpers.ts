// Shared test plumbing: an in-process simulator and real SDK clients pointed at it.
import { CloudHSMV2Client } from '@aws-sdk/client-cloudhsm-v2';
import { KMSClient } from '@aws-sdk/client-kms';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { baseAccessKeyId } from '../../src/simulator/fleet.js';
import type { ScenarioInput } from '../../src/simulator/scenario.js';
import { startSimulator, type RunningSimulator, type StartSimulatorOptions } from '../../src/simulator/server.js';

export const MGMT = '111111111111';
type Credentials = NonNullable<NonNullable<ConstructorParameters<typeof KMSClient>[0]>['credentials']>;
export const creds = (account = MGMT) => ({ accessKeyId: baseAccessKeyId(account), secretAccessKey: 'x' });

export function kmsClient(sim: RunningSimulator, region = 'us-east-1', credentials: Credentials = creds()) {
  return new KMSClient({ endpoint: sim.url, region, credentials, maxAttempts: 1 });
}
export function hsmClient(sim: RunningSimulator, region = 'us-east-1', credentials: Credentials = creds()) {
  return new CloudHSMV2Client({ endpoint: sim.url, region, credentials, maxAttempts: 1 });
}
export function orgClient(sim: RunningSimulator, credentials = creds()) {
  return new OrganizationsClient({ endpoint: sim.url, region: 'us-east-1', credentials, maxAttempts: 1 });
}
export function assumed(sim: RunningSimulator, account: string, role = 'keystore-watch', extra: { ExternalId?: string; DurationSeconds?: number } = {}) {
  return fromTemporaryCredentials({
    params: { RoleArn: `arn:aws:iam::${account}:role/${role}`, RoleSessionName: 'ksw-test', ...extra },
    masterCredentials: creds(),
    clientConfig: { endpoint: sim.url, region: 'us-east-1', maxAttempts: 1 },
  });
}

/** Runs `fn` and returns the error it throws (fails the test when it does not throw). */
export async function rejection(fn: () => Promise<unknown>): Promise<Error & { name: string; $metadata?: { httpStatusCode?: number }; [k: string]: unknown }> {
  try {
    await fn();
  } catch (err) {
    return err as never;
  }
  throw new Error('expected a rejection');
}

/** A raw signed-looking request (the simulator reads the credential scope, not the signature). */
export async function rawJson(sim: RunningSimulator, target: string, body: unknown, opts: { auth?: string | null; region?: string; account?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
  const auth = opts.auth === undefined
    ? `AWS4-HMAC-SHA256 Credential=${baseAccessKeyId(opts.account ?? MGMT)}/20250101/${opts.region ?? 'us-east-1'}/kms/aws4_request, SignedHeaders=host, Signature=0`
    : opts.auth;
  if (auth !== null) headers.authorization = auth;
  const res = await fetch(sim.url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: (() => { try { return JSON.parse(text); } catch { return undefined; } })() };
}

export async function control(sim: RunningSimulator, method: string, path: string, body?: unknown) {
  const res = await fetch(`${sim.url}${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: res.status, body: await res.json() as any };
}

/** n CloudHSM stores in one account/region, each with its own cluster. */
export function manyStores(n: number, region = 'us-east-1'): ScenarioInput {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const cid = (i: number) => `cluster-${'bulk'}${letters[Math.floor(i / 26) % 26]}${letters[i % 26]}xxxxx`;
  return {
    accounts: [{
      id: MGMT,
      regions: {
        [region]: {
          stores: Array.from({ length: n }, (_, i) => ({ id: `cks-${String(i).padStart(17, '0')}`, name: `store-${i}`, clusterId: cid(i) })),
          clusters: Array.from({ length: n }, (_, i) => ({ id: cid(i), hsms: [{ az: `${region}a` }, { az: `${region}b` }] })),
        },
      },
    }],
    faults: { rateLimitPerSecond: 0 },
  };
}

export async function withSim<T>(opts: StartSimulatorOptions, fn: (sim: RunningSimulator) => Promise<T>): Promise<T> {
  const sim = await startSimulator(opts);
  try {
    return await fn(sim);
  } finally {
    await sim.close();
  }
}
