// scripts/bundle.mjs, the image's build: each entry becomes one file, and a bundled module still finds
// what lies beside it unbundled (the status page's assets, the SDK thread's entry, a script's own-file
// guard). The whole program's bundle runs in CI through scripts/docker-steps.sh (the daemon, its SDK
// thread, the simulator) and test/kit/release.test.ts (`npx keystore-watch once` from the package).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { path } from './lib.js';

const exec = promisify(execFile);
const FIXTURE = path('test', 'fixtures', 'bundle', 'src');
const out = mkdtempSync(join(tmpdir(), 'kw-bundle-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('scripts/bundle.mjs', () => {
  it('writes one file per entry where tsc would, and each module keeps the import.meta.url it has unbundled', async () => {
    await exec(process.execPath, [path('scripts', 'bundle.mjs'), '--base', FIXTURE, '--out', out, join(FIXTURE, 'entry', 'main.ts')]);
    // One file for the entry (the module it imports is inside it), and the asset copied beside where that module would be.
    expect(readdirSync(join(out, 'entry'))).toEqual(['main.js']);
    expect(existsSync(join(out, 'lib', 'where.js'))).toBe(false);
    expect(existsSync(join(out, 'lib', 'asset.txt'))).toBe(true);

    const entry = join(out, 'entry', 'main.js');
    const { stdout } = await exec(process.execPath, [entry], { cwd: out });
    const seen = JSON.parse(stdout) as { mainUrl: string; whereUrl: string; assetText: string; mainIsMain: boolean; libIsMain: boolean };
    expect(seen.mainUrl).toBe(pathToFileURL(entry).href);
    // Without the rewrite, the imported module would report the bundle's own URL and read entry/asset.txt.
    expect(seen.whereUrl).toBe(pathToFileURL(join(out, 'lib', 'where.js')).href);
    expect(seen.assetText).toBe('asset beside lib/where.ts');
    // A script guard in an imported module stays false (it would be true with the bundle's own URL).
    expect(seen.mainIsMain).toBe(true);
    expect(seen.libIsMain).toBe(false);
  }, 60_000);
});
