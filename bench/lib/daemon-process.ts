// Parent side of bench/lib/daemon-child.ts: fork, send commands, await answers.
import { fork, type ChildProcess } from 'node:child_process';
import type { ChildCommand, PollReport, Usage } from './daemon-child.js';
import { join } from 'node:path';
import { buildOnce } from './build.js';
import { ROOT } from './sim-process.js';

export class DaemonProcess {
  private seq = 0;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m.result);
      else p?.reject(new Error(m.error));
    });
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`daemon child exited (${code})`));
      this.pending.clear();
    });
  }

  /** `cpuProf`: a directory for a V8 CPU profile of the child (node --cpu-prof). */
  static start(opts: { cpuProf?: string; nodeOptions?: string[] } = {}): DaemonProcess {
    const child = join(buildOnce(), 'bench', 'lib', 'daemon-child.js');
    const execArgv = ['--expose-gc', ...(opts.nodeOptions ?? [])];
    if (opts.cpuProf) execArgv.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`);
    return new DaemonProcess(fork(child, [], { cwd: ROOT, execArgv, execPath: daemonNode(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }

  private send<T>(msg: ChildCommand): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...msg, id });
    });
  }

  init(mode: 'once' | 'daemon', config: Record<string, unknown>, credentials: { accessKeyId: string; secretAccessKey: string }) {
    return this.send<Usage & { url: string | null }>({ cmd: 'init', mode, config, credentials });
  }
  poll() { return this.send<PollReport>({ cmd: 'poll' }); }
  polls(count: number, checkpoints: number[]) { return this.send<Record<number, Usage & { wallS: number }>>({ cmd: 'polls', count, checkpoints }); }
  async close(): Promise<Usage> {
    const exited = new Promise((r) => this.child.once('exit', r));
    const u = await this.send<Usage>({ cmd: 'close' });
    await exited;
    return u;
  }
}

/** The node binary of the measured side: KW_BENCH_NODE (e.g. the container image's Node major), else this one. */
export function daemonNode(): string {
  return process.env.KW_BENCH_NODE || process.execPath;
}
