// The code under measurement runs compiled, as in the container image (`node dist/cli/main.js`), not
// through tsx: tsx's loader runs on a second thread with its own V8 isolate (~33 MB of RSS measured on
// Node 20) and would be charged to the daemon. `tsc -p tsconfig.bench.json` compiles src/ and bench/lib/
// into .tmp/bench-build/ (about 5 s); node_modules resolve from the project root as usual.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './sim-process.js';

export const BUILD_DIR = join(ROOT, '.tmp', 'bench-build');

let built = false;
export function buildOnce(): string {
  if (!built) {
    const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.bench.json')], { cwd: ROOT, stdio: 'inherit' });
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
