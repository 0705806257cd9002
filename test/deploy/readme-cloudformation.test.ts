// The README's CloudFormation commands (create-stack, create-stack-set, create-stack-instances) are run
// through the real AWS CLI against a closed local port: the CLI parses every option, reads the template
// file and validates the parameters against the service model before it connects, so a wrong option, a
// malformed shorthand or a missing template fails here; a command that gets as far as connecting passes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mustRun } from '../helpers/tools.js';
import { ROOT } from './sdk-calls.js';

function readmeCommands(readme = readFileSync(join(ROOT, 'README.md'), 'utf8')): string[] {
  const start = readme.indexOf('### IAM roles in every account');
  expect(start, 'README section "IAM roles in every account"').toBeGreaterThan(0);
  const section = readme.slice(start, readme.indexOf('\n### ', start + 10));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('aws ')));
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function runAws(command: string, port: number): { status: number | null; output: string } {
  const r = spawnSync('sh', ['-c', `${command} --endpoint-url http://127.0.0.1:${port} --cli-connect-timeout 2 --cli-read-timeout 2`], {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_DEFAULT_REGION: 'us-east-1', AWS_MAX_ATTEMPTS: '1', AWS_RETRY_MODE: 'standard', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const CONNECT_ERROR = /Could not connect to the endpoint URL/;

// The AWS CLI starts Python for each command (seconds under load): generous timeouts.
describe.skipIf(!mustRun('aws'))('README: the CloudFormation commands', { timeout: 180_000 }, () => {
  it('the three commands pass the AWS CLI\'s parameter validation and reach the network', async () => {
    const commands = readmeCommands();
    expect(commands.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual(['aws cloudformation create-stack', 'aws cloudformation create-stack-set', 'aws cloudformation create-stack-instances']);
    expect(commands[1]).toContain('--permission-model SERVICE_MANAGED');
    expect(commands[1]).toMatch(/--auto-deployment Enabled=true/);
    const port = await closedPort();
    for (const c of commands) {
      const r = runAws(c, port);
      expect(r.status, `${c}\n${r.output}`).not.toBe(0);
      expect(r.output, c).toMatch(CONNECT_ERROR);
    }
  });

  it('a wrong option or a missing template fails before the network (the check can fail)', async () => {
    const [, stackSet] = readmeCommands();
    const port = await closedPort();
    for (const bad of [stackSet!.replace('--permission-model', '--permision-model'), stackSet!.replace('member-role.yaml', 'no-such.yaml'), stackSet!.replace('Enabled=true', 'Enabeld=true')]) {
      const r = runAws(bad, port);
      expect(r.status).not.toBe(0);
      expect(r.output, bad).not.toMatch(CONNECT_ERROR);
    }
  });
});
