// What an operator would otherwise script: the AWS CLI, one process per call, sequentially:
// per account `aws sts assume-role`, then per region `aws kms describe-custom-key-stores`.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function awsCliVersion(): { version: string; path: string } | null {
  try {
    const version = execFileSync('aws', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    let path = execFileSync('sh', ['-c', 'command -v aws'], { encoding: 'utf8' }).trim();
    try { path = execFileSync('pyenv', ['which', 'aws'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || path; } catch { /* not pyenv */ }
    return { version, path };
  } catch {
    return null;
  }
}

export interface CliSweep { wallS: number; invocations: number; targets: number; stores: number; failures: number }

export async function cliSweep(endpoint: string, base: { accessKeyId: string; secretAccessKey: string }, accounts: string[], regions: string[]): Promise<CliSweep> {
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: base.accessKeyId, AWS_SECRET_ACCESS_KEY: base.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_PAGER: '', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  delete env.AWS_SESSION_TOKEN;
  delete env.AWS_PROFILE;
  let invocations = 0;
  let stores = 0;
  let failures = 0;
  const t0 = performance.now();
  for (const account of accounts) {
    invocations++;
    const { stdout } = await run('aws', ['sts', 'assume-role', '--endpoint-url', endpoint, '--region', 'us-east-1', '--role-arn', `arn:aws:iam::${account}:role/KeystoreWatch`, '--role-session-name', 'operator-script', '--output', 'json'], { env });
    const c = JSON.parse(stdout).Credentials as { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
    const roleEnv = { ...env, AWS_ACCESS_KEY_ID: c.AccessKeyId, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey, AWS_SESSION_TOKEN: c.SessionToken };
    for (const region of regions) {
      invocations++;
      try {
        const { stdout: out } = await run('aws', ['kms', 'describe-custom-key-stores', '--endpoint-url', endpoint, '--region', region, '--output', 'json'], { env: roleEnv });
        stores += (JSON.parse(out).CustomKeyStores ?? []).length;
      } catch {
        failures++;
      }
    }
  }
  return { wallS: (performance.now() - t0) / 1000, invocations, targets: accounts.length * regions.length, stores, failures };
}
