// The code under measurement runs as the container image runs it: bundled by scripts/bundle.mjs (one
// file per thread, as `npm run build` writes dist/), and not through tsx, whose loader runs on a second
// thread with its own V8 isolate (~33 MB of RSS measured on Node 20) and would be charged to the daemon.
// The bench's entries are bundled into .tmp/bench-build/ at the paths tsc would give them (the daemon
// child, the CLI for whole `once` processes, the SDK thread's entry), with source maps for profiles.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './sim-process.js';

export const BUILD_DIR = join(ROOT, '.tmp', 'bench-build');

const ENTRIES = ['bench/lib/daemon-child.ts', 'src/cli/main.ts', 'src/collect/sdk-thread-main.ts'];

let built = false;
export function buildOnce(): string {
  if (!built) {
    rmSync(BUILD_DIR, { recursive: true, force: true });
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'bundle.mjs'), '--base', ROOT, '--out', BUILD_DIR, '--assets', join(ROOT, 'src'), '--sourcemap', ...ENTRIES.map((e) => join(ROOT, e))], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    // src/version.ts reads ../package.json relative to itself (dist/ sits beside package.json).
    copyFileSync(join(ROOT, 'package.json'), join(BUILD_DIR, 'package.json'));
    built = true;
  }
  return BUILD_DIR;
}

/**
 * The node options the container image runs the daemon with (the Dockerfile's ENV NODE_OPTIONS), so the
 * benchmark measures the daemon as shipped. --daemon-flags adds to them.
 */
export function imageNodeOptions(): string[] {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\r?\n\s*/g, ' ');
  const m = /^ENV\s.*\bNODE_OPTIONS=(?:"([^"]*)"|(\S+))/m.exec(dockerfile);
  return (m?.[1] ?? m?.[2] ?? '').split(/\s+/).filter(Boolean);
}
