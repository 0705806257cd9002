// A real Alertmanager (Debian's prometheus-alertmanager) for the channel's tests: started on a free
// port with a temporary config and storage path, clustering off, stopped and restarted on the same
// port and storage (an outage), queried with the real amtool.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, until } from './ha-cluster.js';

export const ALERTMANAGER_BIN = 'prometheus-alertmanager';

export interface RunningAlertmanager {
  url: string;
  port: number;
  /** amtool with --alertmanager.url set; throws on a non-zero exit. */
  amtool(args: string[]): string;
  /** GET /api/v2/alerts (active, silenced and inhibited included, resolved excluded by Alertmanager). */
  alerts(): Promise<{ labels: Record<string, string>; annotations: Record<string, string>; status: { state: string; silencedBy: string[] }; endsAt: string; startsAt: string; generatorURL?: string }[]>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
  log(): string;
}

const MINIMAL = `route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
`;

export async function startAlertmanager(opts: { config?: string } = {}): Promise<RunningAlertmanager> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ksw-am-'));
  const configFile = path.join(dir, 'alertmanager.yml');
  await writeFile(configFile, opts.config ?? MINIMAL);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let output = '';
  const start = async () => {
    child = spawn(ALERTMANAGER_BIN, [
      `--config.file=${configFile}`, `--storage.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=', '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => { output += String(d); });
    child.stderr!.on('data', (d) => { output += String(d); });
    await until(`alertmanager ready on ${url}\n${output}`, 30_000, async () => {
      try { return (await fetch(`${url}/-/ready`)).ok; } catch { return false; }
    }, 100);
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url, port, start, stop,
    amtool(args) {
      const r = spawnSync('amtool', [...args, `--alertmanager.url=${url}`], { encoding: 'utf8', timeout: 30_000 });
      if (r.status !== 0) throw new Error(`amtool ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    async alerts() {
      return (await (await fetch(`${url}/api/v2/alerts`)).json()) as never;
    },
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
}
