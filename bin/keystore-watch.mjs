#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`; the npm package and the Docker image ship it).
// Only a source checkout without a build falls back to the TypeScript sources through tsx (a
// devDependency): an installed package never needs tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

globalThis.__KEYSTORE_WATCH_BIN__ = true;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'cli', 'main.js');
const source = join(root, 'src', 'cli', 'main.ts');
if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else if (existsSync(source)) {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write(`keystore-watch: ${compiled} is missing and tsx is not installed: run \`npm run build\` (or \`npm install\` for the development tools)\n`);
    process.exit(2);
  }
  register();
  await import(pathToFileURL(source).href);
} else {
  process.stderr.write(`keystore-watch: ${compiled} is missing: this package was published without its build (npm pack runs \`npm run build\` in prepack)\n`);
  process.exit(2);
}
