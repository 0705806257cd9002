// withFastConfig (src/collect/fast-config.ts) relies on V8 turning an object used as a prototype into fast
// mode. Checked with V8's own %HasFastProperties in a child process (natives syntax is a V8 flag): if a V8
// or SDK update stops this, this test says so.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

describe('withFastConfig', () => {
  it('puts every newer-core SDK client configuration in fast mode, including the clients AwsClients lends', () => {
    const child = fileURLToPath(new URL('../helpers/fast-config-child.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--no-warnings', '--import', 'tsx', child], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, { built: boolean; withFastConfig: boolean }> & { lent: Record<string, boolean> };
    const { lent, ...sdk } = out;
    expect(Object.keys(sdk)).toHaveLength(6);
    for (const [name, v] of Object.entries(sdk)) {
      // As the SDK builds it, the configuration is a dictionary: what makes the helper worth having.
      expect(v, name).toEqual({ built: false, withFastConfig: true });
    }
    expect(lent).toEqual({ kms: true, cloudwatch: true, cloudtrail: true });
  });
});
