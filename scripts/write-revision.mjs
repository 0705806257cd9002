#!/usr/bin/env node
// Writes the source revision (git commit) to REVISION beside package.json, for `npm pack` (prepack):
// an installed package reports it as keystore_watch_build_info{revision} (src/version.ts). The
// KEYSTORE_WATCH_REVISION environment variable wins (a CI build of a tarball outside git); outside a git
// checkout without it the file says "unknown".
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let revision = process.env.KEYSTORE_WATCH_REVISION?.trim() ?? '';
if (!revision) {
  try {
    revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch { /* not a git checkout */ }
}
writeFileSync(join(root, 'REVISION'), `${revision || 'unknown'}\n`);
process.stdout.write(`REVISION ${revision || 'unknown'}\n`);
