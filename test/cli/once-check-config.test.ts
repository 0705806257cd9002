import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, simulator, tempDir } from '../helpers/sim.js';
import { baseAccessKeyId } from '../../src/simulator/server.js';
import { runCli } from '../helpers/cli.js';

let sim: RunningSimulator;
const dir = tempDir();
const env = { AWS_ACCESS_KEY_ID: BASE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: BASE_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' };

function writeConfig(name: string, accounts: object[], regions = ['us-east-1', 'eu-west-1'], extra: object = {}): string {
  const file = join(dir, name);
  writeFileSync(file, stringify({ aws: { endpoint: sim.url, maxAttempts: 1, requestTimeout: '3s' }, accounts, regions, ...extra }));
  return file;
}

beforeAll(async () => { sim = await simulator('poller-fleet.yaml'); });
afterAll(async () => { await sim?.close(); });

describe('keystore-watch once', () => {
  it('prints every store as JSON and exits 1 when a store is not CONNECTED', async () => {
    const cfg = writeConfig('all.yaml', [{ id: '111111111111', name: 'management' }, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }]);
    const r = await runCli(['once', '--config', cfg, '--format', 'json'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { stores: Record<string, unknown>[]; targets: Record<string, unknown>[] };
    expect(out.stores).toHaveLength(10);
    expect(out.stores.find((s) => s.customKeyStoreId === 'cks-bbbbbbbbbbbbbbbb1')).toEqual({
      accountId: '222222222222', accountName: 'payments', ouPath: null, tags: {}, region: 'us-east-1', customKeyStoreId: 'cks-bbbbbbbbbbbbbbbb1', customKeyStoreName: 'pay-hsm',
      customKeyStoreType: 'AWS_CLOUDHSM', connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS', cloudHsmClusterId: 'cluster-bcdefghijkl',
    });
    expect(out.targets).toHaveLength(4);
    expect(out.targets.every((t) => t.ok === true && t.error === null)).toBe(true);
  });

  it('says on stderr when CloudHSM enrichment failed for some targets; the stores and the exit code stay', async () => {
    const cfg = writeConfig('enrich.yaml', [{ id: '111111111111', name: 'management' }, { id: '222222222222', name: 'payments', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' }]);
    await fetch(`${sim.url}/_sim/faults`, { method: 'PATCH', body: JSON.stringify({ errors: [{ service: 'cloudhsm', operation: 'DescribeClusters', account: '222222222222', error: 'CloudHsmAccessDeniedException', message: 'not authorized' }] }) });
    try {
      const r = await runCli(['once', '--config', cfg, '--format', 'json'], { env });
      expect(r.stderr).toMatch(/^warning: CloudHSM DescribeClusters failed for 1 target\(s\) \(CloudHsmAccessDeniedException: not authorized\); the stores are reported without those facts$/m);
      expect(r.code).toBe(1);
      expect((JSON.parse(r.stdout) as { stores: unknown[] }).stores).toHaveLength(10);
    } finally {
      await fetch(`${sim.url}/_sim/faults`, { method: 'DELETE' });
    }
  });

  it('exits 0 when every store is CONNECTED and every target answered', async () => {
    const cfg = writeConfig('healthy.yaml', [{ id: '111111111111' }, { id: '333333333333', roleArn: 'arn:aws:iam::333333333333:role/KeystoreWatch' }], ['us-east-1']);
    const r = await runCli(['once', '--config', cfg, '--format', 'json'], { env });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { stores: unknown[] }).stores).toHaveLength(2);
  });

  it('exits 3 when a target fails, naming the reason', async () => {
    const cfg = writeConfig('denied.yaml', [{ id: '111111111111' }, { id: '999999999999', roleArn: 'arn:aws:iam::999999999999:role/KeystoreWatch' }], ['us-east-1']);
    const r = await runCli(['once', '--config', cfg, '--format', 'json'], { env });
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as { targets: { accountId: string; ok: boolean; error: string | null }[] };
    const bad = out.targets.find((t) => t.accountId === '999999999999')!;
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatch(/AccessDenied/);
  });

  it('exits 3 when Organizations cannot list the accounts: the sweep saw only part of the fleet', async () => {
    // Signed as a member account, ListAccounts is AccessDeniedException (only the management account or a
    // delegated administrator may read the organization). The explicit account is still swept and printed,
    // but a 0 or 1 would tell a script the fleet was checked when most of it was never seen.
    const cfg = writeConfig('org-denied.yaml', [{ id: '222222222222' }], ['us-east-1'], { organizations: { enabled: true } });
    const member = { ...env, AWS_ACCESS_KEY_ID: baseAccessKeyId('222222222222') };
    const r = await runCli(['once', '--config', cfg, '--format', 'json'], { env: member });
    expect(r.stderr).toMatch(/Organizations ListAccounts failed \(AccessDeniedException\)/);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as { targets: { accountId: string; ok: boolean }[] };
    expect(out.targets).toEqual([expect.objectContaining({ accountId: '222222222222', ok: true })]);
  });

  it('prints a table with --format table', async () => {
    const cfg = writeConfig('table.yaml', [{ id: '111111111111', name: 'management' }], ['us-east-1']);
    const r = await runCli(['once', '--config', cfg, '--format', 'table'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ACCOUNT\s+NAME\s+REGION\s+STORE ID/);
    expect(r.stdout).toContain('cks-aaaaaaaaaaaaaaaa1');
  });

  it('exits 2 on a bad config or bad usage', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'regions: [us-east-1]\naccounts: [{ id: "12" }]\n');
    const r = await runCli(['once', '--config', bad], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('accounts[0].id');
    expect((await runCli(['once', '--format', 'xml', '--config', bad], { env })).code).toBe(2);
    expect((await runCli(['once', '--bogus'], { env })).code).toBe(2);
    expect((await runCli(['nonsense'], { env })).code).toBe(2);
  });
});

describe('keystore-watch check-config', () => {
  it('prints the targets, Organizations discovery included', async () => {
    const cfg = writeConfig('org.yaml', [{ id: '111111111111', name: 'management' }], ['us-east-1', 'eu-west-1'], { organizations: { enabled: true, excludeAccounts: ['sandbox'] } });
    const r = await runCli(['check-config', '--config', cfg], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 account(s) x 2 region(s) = 4 target(s)');
    expect(r.stdout).toContain('arn:aws:iam::222222222222:role/KeystoreWatch');
    expect(r.stdout).not.toContain('333333333333');
  });

  it('rejects a bad configuration naming the key, exit 2', async () => {
    const bad = join(dir, 'bad2.yaml');
    writeFileSync(bad, 'regions: [us-east-1]\naccounts: [{ id: "111111111111" }]\nalerting: { channels: [{ type: slack, webhookUrl: "${NOT_SET_ANYWHERE}" }] }\n');
    const r = await runCli(['check-config', '--config', bad], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('alerting.channels[0].webhookUrl: environment variable NOT_SET_ANYWHERE is not set');
  });

  it('rejects ten different kinds of bad configuration through the CLI, each naming its key', async () => {
    const fixture = parse(readFileSync(new URL('../fixtures/config/bad-configs.yaml', import.meta.url), 'utf8')) as { base: object; cases: { name: string; raw?: string; config?: object; key: string }[] };
    const picked = fixture.cases.filter((c) => !c.raw && !c.key.startsWith('(')).filter((_, i) => i % 4 === 0).slice(0, 10);
    expect(picked).toHaveLength(10);
    const results = await Promise.all(picked.map(async (c, i) => {
      const file = join(dir, `kind-${i}.yaml`);
      writeFileSync(file, stringify({ ...fixture.base, ...c.config }));
      return { c, r: await runCli(['check-config', '--offline', '--config', file], { env }) };
    }));
    for (const { c, r } of results) {
      expect(r.code, c.name).toBe(2);
      expect(r.stderr, c.name).toContain(c.key);
    }
  }, 240_000); // ten CLI processes at once: a loaded 2-core machine needs more than the default minute
});
