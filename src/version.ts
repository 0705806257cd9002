import { readFileSync } from 'node:fs';

const PACKAGE_ROOT = new URL('../', import.meta.url);

// Read once from package.json so the build_info metric and --version never disagree with the release.
export const VERSION: string = (JSON.parse(readFileSync(new URL('package.json', PACKAGE_ROOT), 'utf8')) as { version: string }).version;

/**
 * The source revision (git commit) of this build, for keystore_watch_build_info{revision}: the
 * KEYSTORE_WATCH_REVISION environment variable (the container image sets it from the Dockerfile's
 * REVISION build argument), else the REVISION file `npm pack` writes beside package.json
 * (scripts/write-revision.mjs), else "unknown" (a source checkout run through tsx).
 */
export function resolveRevision(env: NodeJS.ProcessEnv = process.env, readFile: (url: URL) => string = (u) => readFileSync(u, 'utf8')): string {
  const fromEnv = env.KEYSTORE_WATCH_REVISION?.trim();
  if (fromEnv) return fromEnv;
  try {
    const fromFile = readFile(new URL('REVISION', PACKAGE_ROOT)).trim();
    if (/^[0-9a-zA-Z._-]{1,64}$/.test(fromFile)) return fromFile;
  } catch { /* no REVISION file: not a packed release */ }
  return 'unknown';
}

export const REVISION: string = resolveRevision();
