// Running external AWS tools (the AWS CLI, boto3/botocore) against the simulator from a test.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

export interface ToolResult { status: number; stdout: string; stderr: string }

/**
 * Runs a command and collects its output; a non-zero exit is a result, not an exception.
 * Asynchronous on purpose: the simulator runs in the test's process, so a synchronous child would
 * deadlock it.
 */
export async function runTool(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(cmd, args, { env, encoding: 'utf8', timeout: timeoutMs });
    return { status: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { status: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** Whether the command runs and exits 0 (a tool is installed, a Python module importable). */
export const toolWorks = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

/** Tests of external tools skip only when the tool is missing and CI is not set; in CI they must run. */
export const requiredTool = (have: boolean): boolean => have || Boolean(process.env.CI);
