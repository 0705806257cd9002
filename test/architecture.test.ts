// Stages depend only downward. Parses every import in src/ and fails on a folder import that goes up
// the layer order below (or sideways between two folders of one tier), which also rules out circular
// folder dependencies. A new folder must be placed here first: the test names it.
//
// The order, top first. A poll's data flows discover -> collect -> snapshot -> evaluate (diff, alert) ->
// commit (state) -> deliver (notify); each stage may use what the stages before it produce, and the
// module that wires them (src/pipeline/) sits above them all. Evaluate and deliver share one tier so that
// notify never reaches into alert internals (what a notifier renders travels as data in the Notification).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const LAYERS: readonly (readonly string[])[] = [
  ['cli'],
  ['simulator'], // the built-in AWS simulator: a program of its own, started by the CLI
  ['app'], // src/daemon.ts, scheduler.ts, poll-timing.ts, watchdog.ts, memory-headroom.ts: the process shell
  ['pipeline'], // builds the poll pipeline: one place wires the stages below
  ['ha'], // leader election (lease) for the PostgreSQL backend
  ['server'],
  ['metrics'],
  ['alert', 'notify'], // evaluate | deliver
  ['diff'],
  ['state'], // commit: the state backends (opaque values; imports no stage)
  ['snapshot'],
  ['collect'],
  ['discover'],
];
/** Leaves every layer may import; they import only each other. */
const SHARED = new Set(['util', 'config', 'model', 'log', 'version']);
const ROOT_FILES: Record<string, string> = { daemon: 'app', scheduler: 'app', 'poll-timing': 'app', watchdog: 'app', 'memory-headroom': 'app', model: 'model', log: 'log', version: 'version' };
/** Known exceptions, each with its reason. */
const ALLOWED = new Map<string, string>([
  ['config -> discover', 'config/schema.ts validates organizations.ous with the OU path parser discovery uses (discover/ou-path.ts: pure, no I/O)'],
]);

const SRC = path.resolve(import.meta.dirname, '../src');

function unitOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  if (rel.length === 1) {
    const base = rel[0]!.replace(/\.ts$/, '').replace(/\.js$/, '');
    const unit = ROOT_FILES[base];
    if (!unit) throw new Error(`src/${rel[0]} is not placed in test/architecture.test.ts ROOT_FILES`);
    return unit;
  }
  return rel[0]!;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative import specifiers of one file: static imports and re-exports, dynamic import(). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

const tierOf = (unit: string): number => LAYERS.findIndex((t) => t.includes(unit));

/** Why an import from unit `from` to unit `to` breaks the order; null when it is fine. */
export function violation(from: string, to: string): string | null {
  if (from === to) return null;
  if (SHARED.has(to)) return null;
  if (ALLOWED.has(`${from} -> ${to}`)) return null;
  if (SHARED.has(from)) return `${from} is a shared leaf and may import only shared leaves`;
  const a = tierOf(from);
  const b = tierOf(to);
  if (a < 0) return `src/${from} is not placed in the layer order (test/architecture.test.ts LAYERS)`;
  if (b < 0) return `src/${to} is not placed in the layer order (test/architecture.test.ts LAYERS)`;
  if (a === b) return `${from} and ${to} share a tier and must not import each other`;
  if (a > b) return `${from} is below ${to}: an upward import`;
  return null;
}

describe('architecture: stages depend only downward', () => {
  it('no folder in src/ imports upward, sideways or in a cycle', () => {
    const problems: string[] = [];
    for (const file of files(SRC)) {
      const from = unitOf(file);
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
        if (!target.startsWith(SRC + path.sep)) continue;
        const to = unitOf(target);
        const why = violation(from, to);
        if (why) problems.push(`${path.relative(SRC, file)} imports ${spec}: ${why}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the checker itself catches what the issue named (collect building snapshots, notify importing alert, a new unplaced folder)', () => {
    expect(violation('collect', 'snapshot')).toMatch(/upward/);
    expect(violation('notify', 'alert')).toMatch(/share a tier/);
    expect(violation('alert', 'notify')).toMatch(/share a tier/);
    expect(violation('state', 'notify')).toMatch(/upward/);
    expect(violation('metrics', 'server')).toMatch(/upward/);
    expect(violation('util', 'state')).toMatch(/shared leaf/);
    expect(violation('newthing', 'util')).toBeNull();
    expect(violation('newthing', 'state')).toMatch(/not placed/);
    expect(violation('pipeline', 'notify')).toBeNull();
    expect(violation('snapshot', 'collect')).toBeNull();
    expect(importsOf("import a from './x.js';\nexport { b } from '../y.js';\nconst c = await import('../z.js');\nimport type { D } from \"./d.js\";")).toEqual(['./x.js', '../y.js', './d.js', '../z.js']);
  });
});
