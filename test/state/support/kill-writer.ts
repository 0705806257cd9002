// Shared by the crash tests (test/state/crash.test.ts: the document store; test/state/backend-contract.ts:
// every StateBackend): runs a writer script as a child process that prints `ready <seq>` and then
// each seq once its write resolved, SIGKILLs it `killAfterMs` after it acknowledged `armAfter` writes
// (so the kill lands inside a write, a checkpoint, or between two), and answers the first and the last
// acknowledged seq.
import { spawn } from 'node:child_process';

export interface KillRun { start: number; lastAck: number }

export function runWriterAndKill(opts: { script: string; args: string[]; killAfterMs: number; armAfter?: number; env?: NodeJS.ProcessEnv }): Promise<KillRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', opts.script, ...opts.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let buf = '';
    let start = -1;
    let lastAck = -1;
    let stderr = '';
    let timer: NodeJS.Timeout | null = null;
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        const m = /^ready (\d+)$/.exec(line);
        if (m) { start = Number(m[1]); lastAck = start; continue; }
        lastAck = Number(line);
        if (!timer && lastAck >= start + (opts.armAfter ?? 0)) timer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
      }
    });
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}/${signal}: ${stderr}`));
      else resolve({ start, lastAck });
    });
  });
}
