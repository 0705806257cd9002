// Every way a configuration can be unreadable, unparsable or point at unusable files exits 2 through the
// real CLI, naming the config file and the key (or what is wrong with the file), never with a bare
// JavaScript error. The cases are data: test/fixtures/config/broken/cases.yaml.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, runCli, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/sim.js';

interface Case { name: string; file?: string; setup?: string; command?: string; expect: string }
const FIXTURES = join(ROOT, 'test/fixtures/config/broken');
const { cases } = parse(readFileSync(join(FIXTURES, 'cases.yaml'), 'utf8')) as { cases: Case[] };
const VALID = 'regions: [us-east-1]\naccounts: [{ id: "111111111111", name: prod }]\n';
const dir = tempDir('kw-broken-');
const env = { KW_TEST_STATE_DIR: join(dir, 'state'), AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x', AWS_REGION: 'us-east-1' };
const isRoot = process.getuid?.() === 0;

/** The --config path of a case (and, for an unreadable file as root, the uid to run as). */
function configPath(c: Case, i: number): { path: string; asNobody?: boolean } {
  if (c.file) return { path: relative(ROOT, join(FIXTURES, c.file)) };
  const base = join(dir, `case-${i}`);
  switch (c.setup) {
    case 'missing': return { path: join(base, 'nope.yaml') };
    case 'directory': mkdirSync(base, { recursive: true }); return { path: base };
    case 'through-file': writeFileSync(base, VALID); return { path: join(base, 'config.yaml') };
    case 'symlink-loop': mkdirSync(base); symlinkSync(join(base, 'b.yaml'), join(base, 'a.yaml')); symlinkSync(join(base, 'a.yaml'), join(base, 'b.yaml')); return { path: join(base, 'a.yaml') };
    case 'fifo': mkdirSync(base); execFileSync('mkfifo', [join(base, 'config.yaml')]); return { path: join(base, 'config.yaml') };
    case 'unreadable': {
      mkdirSync(base, { mode: 0o755 });
      chmodSync(dir, 0o755);
      writeFileSync(join(base, 'config.yaml'), VALID, { mode: 0o600 });
      chmodSync(join(base, 'config.yaml'), 0o000);
      // root reads anything: the case runs the CLI as nobody (setpriv), as the daemon would run.
      return { path: join(base, 'config.yaml'), asNobody: isRoot };
    }
    case 'many-keys': writeFileSync(base + '.yaml', VALID + Array.from({ length: 20_000 }, (_, k) => `unknown${k}: ${k}\n`).join('')); return { path: base + '.yaml' };
    case 'oversize': writeFileSync(base + '.yaml', VALID + `# ${'x'.repeat(80)}\n`.repeat(13_000)); return { path: base + '.yaml' };
    default: throw new Error(`unknown setup ${c.setup}`);
  }
}

async function run(c: Case, i: number): Promise<CliResult> {
  const { path, asNobody } = configPath(c, i);
  const args = [c.command ?? 'check-config', ...(c.command ? [] : ['--offline']), '--config', path];
  // A hang (the FIFO case on code that opens it blindly) is a failure of that case, not of the run.
  const r = asNobody ? runCliAs(args) : runCli(args, { env, timeoutMs: 120_000 });
  return r.catch((err: Error) => ({ code: null, stdout: '', stderr: err.message }));
}

function runCliAs(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(ROOT, 'bin/keystore-watch.mjs'), ...args], { cwd: ROOT, env: { ...process.env, ...env, NODE_NO_WARNINGS: '1', HOME: '/tmp' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('broken configurations through the CLI', () => {
  it('has at least 25 cases covering every kind the issue names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
    for (const kind of ['directory', 'missing', 'unreadable', 'oversize', 'symlink-loop', 'fifo']) expect(cases.some((c) => c.setup === kind), kind).toBe(true);
    for (const file of ['alias-cycle.yaml', 'alias-bomb.yaml', 'invalid-utf8.yaml', 'empty.yaml', 'tls-cert-missing.yaml', 'statedir-is-a-file.yaml', 'cron-seconds-step-70.yaml']) expect(cases.some((c) => c.file === file), file).toBe(true);
  });

  it('exits 2 for every case, naming the file and the key or problem, with no bare JavaScript error', { timeout: 600_000 }, async () => {
    const results: { c: Case; r: CliResult }[] = [];
    // A few at a time: each is a Node process on a shared 2-core machine.
    for (let i = 0; i < cases.length; i += 4) {
      results.push(...await Promise.all(cases.slice(i, i + 4).map(async (c, j) => ({ c, r: await run(c, i + j) }))));
    }
    const failures = results.filter(({ c, r }) => !(r.code === 2 && r.stderr.includes(c.expect) && /invalid configuration /.test(r.stderr) && !/\b(TypeError|ReferenceError|RangeError|SyntaxError)\b|^\s+at .+:\d+:\d+\)?$|ERR_[A-Z_]+/m.test(r.stderr)));
    expect(failures.map(({ c, r }) => `${c.name}: exit ${r.code}: ${r.stderr.trim().slice(0, 400)}`)).toEqual([]);
    // Each names the config file it read.
    for (const { c, r } of results) if (c.file) expect(r.stderr, c.name).toContain(c.file);
  });
});
