// The release: `npm pack` of the repository (prepack builds dist/ and writes REVISION) gives a tarball
// that installs into an empty directory from the npm registry alone (the npm cache first: --prefer-offline)
// and whose `npx keystore-watch` runs compiled JavaScript, without tsx or TypeScript: its built-in
// simulator starts and `once` sweeps it. And the version numbers that cannot read package.json (the
// Dockerfile's ARG VERSION, the Helm chart's appVersion) agree with it.
//
// The pack runs in a copy of the sources (node_modules linked), so the build never lands in this
// checkout's dist/ (bin/keystore-watch.mjs prefers dist/ when present). One test: a full build and an
// install take minutes on a loaded CI machine, hence the generous timeout.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { path, read, run } from './lib.js';

const exec = promisify(execFile);
/** Files under dir, relative to it. */
const listFiles = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath ?? d.path, d.name)));
const version = (JSON.parse(read('package.json')) as { version: string }).version;

describe('release versions', () => {
  it('the Dockerfile\'s ARG VERSION (the image\'s version label) and the Helm chart\'s appVersion are package.json\'s version', () => {
    const r = run(process.execPath, [path('scripts', 'sync-version.mjs'), '--check']);
    expect(r.status, r.stderr).toBe(0);
    expect(read('Dockerfile')).toMatch(new RegExp(`^ARG VERSION=${version.replace(/\./g, '\\.')}$`, 'm'));
    expect(read('Dockerfile')).toMatch(/org\.opencontainers\.image\.version="\$\{VERSION\}"/);
    // build_info{revision} in the image: the REVISION build argument reaches the process environment.
    expect(read('Dockerfile')).toMatch(/^ENV KEYSTORE_WATCH_REVISION=\$\{REVISION\}$/m);
    if (existsSync(path('deploy', 'helm', 'keystore-watch', 'Chart.yaml'))) {
      expect(read('deploy', 'helm', 'keystore-watch', 'Chart.yaml')).toMatch(new RegExp(`^appVersion:\\s*["']?${version.replace(/\./g, '\\.')}["']?\\s*$`, 'm'));
    }
  });

  it('sync-version --check fails on a Dockerfile that disagrees', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-version-'));
    try {
      mkdirSync(join(dir, 'scripts'));
      cpSync(path('scripts', 'sync-version.mjs'), join(dir, 'scripts', 'sync-version.mjs'));
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ version: '9.8.7' }));
      writeFileSync(join(dir, 'Dockerfile'), read('Dockerfile'));
      const bad = run(process.execPath, [join(dir, 'scripts', 'sync-version.mjs'), '--check']);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('package.json says 9.8.7');
      // Without --check it rewrites the default (what `npm version` runs).
      expect(run(process.execPath, [join(dir, 'scripts', 'sync-version.mjs')]).status).toBe(0);
      expect(run(process.execPath, [join(dir, 'scripts', 'sync-version.mjs'), '--check']).status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const procs: ChildProcess[] = [];
let work = '';
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.pid) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
  // The installed node_modules is large: removed asynchronously, with time for a loaded machine.
  if (work && !process.env.KEEP) await rm(work, { recursive: true, force: true });
}, 300_000);

const freePort = (): Promise<number> => new Promise((resolve, reject) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  }).on('error', reject);
});

describe('npm pack', () => {
  it('installs into an empty directory and `npx keystore-watch once` sweeps the simulator without tsx', async () => {
    work = mkdtempSync(join(tmpdir(), 'kw-release-'));
    const src = join(work, 'src-copy');
    mkdirSync(src);
    for (const f of ['package.json', 'package-lock.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bin', 'config', 'dashboards']) {
      cpSync(path(f), join(src, f), { recursive: true });
    }
    mkdirSync(join(src, 'scripts'));
    cpSync(path('scripts', 'write-revision.mjs'), join(src, 'scripts', 'write-revision.mjs'));
    symlinkSync(path('node_modules'), join(src, 'node_modules'), 'dir');

    // 1. npm pack: prepack builds dist/ and writes REVISION.
    const packDir = join(work, 'pack');
    mkdirSync(packDir);
    await exec('npm', ['pack', '--pack-destination', packDir], {
      cwd: src, env: { ...process.env, KEYSTORE_WATCH_REVISION: 'release-test-rev' }, maxBuffer: 64 * 1024 * 1024,
    });
    const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBe(`keystore-watch-${version}.tgz`);
    const entries = (await exec('tar', ['tzf', join(packDir, tarball!)], { maxBuffer: 16 * 1024 * 1024 })).stdout.split('\n').filter(Boolean);
    for (const f of ['package/dist/cli/main.js', 'package/dist/cli/simulate.js', 'package/dist/collect/sdk-thread-main.js', 'package/bin/keystore-watch.mjs', 'package/REVISION',
      'package/dashboards/keystore-watch.json', 'package/config/scenarios/demo.yaml', 'package/README.md']) {
      expect(entries, f).toContain(f);
    }
    expect(entries.filter((e) => e.startsWith('package/src/') || e.startsWith('package/test/') || /\.ts$/.test(e)), 'sources in the package').toEqual([]);
    // Files under src/ that are not TypeScript (the status page's assets) are copied into dist/ by the build.
    const assets = listFiles(path('src')).filter((f) => !f.endsWith('.ts')).map((f) => `package/dist/${f}`);
    expect(assets.filter((a) => !entries.includes(a)), 'non-TypeScript files of src/ missing from dist/').toEqual([]);

    // 2. Install into an empty directory: production dependencies only, so no tsx and no TypeScript.
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'kw-release-test', private: true }));
    await exec('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packDir, tarball!)], { cwd: app, maxBuffer: 64 * 1024 * 1024 });
    expect(existsSync(join(app, 'node_modules', 'keystore-watch', 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(app, 'node_modules', 'tsx')), 'tsx installed').toBe(false);
    expect(existsSync(join(app, 'node_modules', 'typescript')), 'typescript installed').toBe(false);
    expect(readFileSync(join(app, 'node_modules', 'keystore-watch', 'REVISION'), 'utf8').trim()).toBe('release-test-rev');

    // No loader from the test runner's environment: the package must run on plain node.
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_SECRET_ACCESS_KEY: 'simulator', AWS_REGION: 'us-east-1' };
    delete env.NODE_OPTIONS;
    const npx = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      exec('npx', ['--no-install', 'keystore-watch', ...args], { cwd: app, env: { ...env, ...extra }, maxBuffer: 64 * 1024 * 1024 });
    expect((await npx(['--version'])).stdout.trim()).toBe(version);

    // 3. The packaged simulator (built-in demo scenario), then one sweep of it from the package.
    const simPort = await freePort();
    const sim = spawn(process.execPath, [join(app, 'node_modules', '.bin', 'keystore-watch'), 'simulate', '--listen', `127.0.0.1:${simPort}`], {
      cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    procs.push(sim);
    let simOut = '';
    sim.stdout!.on('data', (c: Buffer) => { simOut += c.toString(); });
    sim.stderr!.on('data', (c: Buffer) => { simOut += c.toString(); });
    const deadline = Date.now() + 60_000;
    while (!/AWS_ACCESS_KEY_ID=([A-Z0-9]+)/.test(simOut)) {
      if (sim.exitCode !== null || Date.now() > deadline) throw new Error(`the packaged simulator did not start:\n${simOut}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const baseKey = /AWS_ACCESS_KEY_ID=([A-Z0-9]+)/.exec(simOut)![1]!;
    writeFileSync(join(app, 'config.yaml'), stringify({
      stateDir: join(app, 'state'),
      aws: { endpoint: `http://127.0.0.1:${simPort}`, maxAttempts: 2, requestTimeout: '5s', targetTimeout: '15s' },
      accounts: [
        { id: '111111111111', name: 'org-management' },
        { id: '222222222222', name: 'payments-prod', roleArn: 'arn:aws:iam::222222222222:role/KeystoreWatch' },
      ],
      regions: ['us-east-1', 'eu-west-1'],
    }));
    const once = await npx(['once', '--config', 'config.yaml', '--format', 'json'], { AWS_ACCESS_KEY_ID: baseKey }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
    const out = JSON.parse(once.stdout) as { stores: { connectionState: string; customKeyStoreId: string }[]; targets: { status: string }[] };
    expect(out.targets.length, once.stderr).toBe(4);
    expect(out.targets.filter((t) => t.status === 'failed'), once.stderr).toEqual([]);
    expect(out.stores.length).toBeGreaterThan(0);
    // The exit code follows the sweep: 1 when a store is not CONNECTED (the demo has FAILED ones), else 0.
    expect(once.code, once.stderr).toBe(out.stores.some((s) => s.connectionState !== 'CONNECTED') ? 1 : 0);
  }, 900_000);
});
