// Shared by the generators of committed artefacts: write the file, or with --check exit 1 when the
// committed copy differs from what the generator produces now.
import { readFileSync, writeFileSync } from 'node:fs';

export function writeOrCheck(path: string, text: string, argv: readonly string[], regenerate: string): void {
  if (argv.includes('--check')) {
    let current = '';
    try { current = readFileSync(path, 'utf8'); } catch { /* missing counts as out of date */ }
    if (current !== text) {
      process.stderr.write(`${path} is out of date: run ${regenerate}\n`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(path, text);
  process.stdout.write(`wrote ${path}\n`);
}
