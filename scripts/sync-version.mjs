#!/usr/bin/env node
// package.json's "version" is the one release number: this copies it to the places that cannot read
// package.json themselves (the Dockerfile's ARG VERSION default, which becomes the image's
// org.opencontainers.image.version label, and the Helm chart's appVersion when the chart exists).
// npm runs it in the "version" lifecycle script (`npm version patch|minor|major`), and `git add`s the
// files it changed; test/kit/release.test.ts fails when any of them disagrees with package.json.
//
//   node scripts/sync-version.mjs           # rewrite
//   node scripts/sync-version.mjs --check   # exit 1 when something disagrees
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

/** [file, pattern whose group 2 is the version, description] */
const TARGETS = [
  ['Dockerfile', /^(ARG VERSION=)(\S+)/m, 'ARG VERSION default (org.opencontainers.image.version)'],
  ['deploy/helm/keystore-watch/Chart.yaml', /^(appVersion:\s*["']?)([^"'\s]+)/m, 'Helm chart appVersion'],
];

const check = process.argv.includes('--check');
const changed = [];
let wrong = 0;
for (const [file, re, what] of TARGETS) {
  const path = join(root, file);
  if (!existsSync(path)) continue;
  const text = readFileSync(path, 'utf8');
  const m = re.exec(text);
  if (!m) { process.stderr.write(`${file}: no ${what} found\n`); wrong++; continue; }
  if (m[2] === version) continue;
  if (check) { process.stderr.write(`${file}: ${what} is ${m[2]}, package.json says ${version}\n`); wrong++; continue; }
  writeFileSync(path, text.replace(re, `$1${version}`));
  changed.push(file);
}
if (check) process.exit(wrong ? 1 : 0);
if (changed.length) {
  process.stdout.write(`set version ${version} in ${changed.join(', ')}\n`);
  try { execFileSync('git', ['add', ...changed], { cwd: root, stdio: 'ignore' }); } catch { /* not a git checkout */ }
}
if (wrong) process.exit(1);
