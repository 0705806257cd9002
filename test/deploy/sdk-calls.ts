// Finds every AWS operation the daemon can call: each `new XxxCommand(` and `paginateXxx(` under src/
// (the simulator excluded: it answers calls, it does not make them), attributed to its service through
// the import it comes from, mapped to the IAM action `<prefix>:<Operation>`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** SDK package -> IAM service prefix. */
export const IAM_PREFIX: Record<string, string> = {
  '@aws-sdk/client-kms': 'kms',
  '@aws-sdk/client-cloudhsm-v2': 'cloudhsm',
  '@aws-sdk/client-sts': 'sts',
  '@aws-sdk/client-organizations': 'organizations',
  '@aws-sdk/client-account': 'account',
  '@aws-sdk/client-cloudwatch': 'cloudwatch',
  '@aws-sdk/client-cloudtrail': 'cloudtrail',
};

export interface SdkCall { file: string; symbol: string; pkg: string; action: string }
export interface SdkImport { file: string; symbol: string; pkg: string }

function sourceFiles(dir: string, src: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return relative(src, p).split('/')[0] === 'simulator' ? [] : sourceFiles(p, src);
    return /\.(ts|mts|js|mjs)$/.test(f) && !/\.d\.ts$/.test(f) ? [p] : [];
  });
}

/** Scans source text (one file) for SDK calls; `problems` lists uses it cannot attribute to a service. */
export function scanText(text: string, file: string): { calls: SdkCall[]; problems: string[]; imports: SdkImport[] } {
  const calls: SdkCall[] = [];
  const problems: string[] = [];
  const imported = new Map<string, string>();
  for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*['"](@aws-sdk\/[\w-]+)['"]/g)) {
    for (const spec of m[1]!.split(',')) {
      const parts = spec.trim().replace(/^type\s+/, '').split(/\s+as\s+/);
      if (parts[0]) imported.set((parts[1] ?? parts[0]).trim(), `${m[2]}#${parts[0].trim()}`);
    }
  }
  // A namespace import (import * as kms from '@aws-sdk/client-kms') would hide calls from this scan.
  for (const m of text.matchAll(/import\s+\*\s+as\s+(\w+)\s+from\s*['"](@aws-sdk\/client-[\w-]+)['"]/g)) problems.push(`${file}: namespace import of ${m[2]} as ${m[1]}: import commands by name so the IAM scan sees them`);
  const record = (local: string, kind: 'command' | 'paginator') => {
    const source = imported.get(local);
    if (!source) { problems.push(`${file}: ${local} is not imported from an @aws-sdk client, cannot tell its service`); return; }
    const [pkg, original] = source.split('#') as [string, string];
    const prefix = IAM_PREFIX[pkg];
    if (!prefix) { problems.push(`${file}: ${original} comes from ${pkg}, which has no IAM prefix`); return; }
    const op = kind === 'command' ? original.replace(/Command$/, '') : original.replace(/^paginate/, '');
    calls.push({ file, symbol: original, pkg, action: `${prefix}:${op}` });
  };
  const seen = new Set<string>();
  const use = (local: string, kind: 'command' | 'paginator', at: number) => { if (!seen.has(`${local}@${at}`)) { seen.add(`${local}@${at}`); record(local, kind); } };
  for (const m of text.matchAll(/\bnew\s+(\w+Command)\s*\(/g)) use(m[1]!, 'command', m.index!);
  for (const m of text.matchAll(/\b(paginate\w+)\s*\(/g)) use(m[1]!, 'paginator', m.index!);
  // Imported under another name (import { ListAliasesCommand as List }): found through the import.
  for (const [local, source] of imported) {
    const original = source.split('#')[1]!;
    if (local === original) continue;
    const esc = local.replace(/[$]/g, '\\$');
    if (/Command$/.test(original)) for (const m of text.matchAll(new RegExp(`\\bnew\\s+(${esc})\\s*\\(`, 'g'))) use(local, 'command', m.index!);
    if (/^paginate/.test(original)) for (const m of text.matchAll(new RegExp(`(?<![\\w.])(${esc})\\s*\\(`, 'g'))) use(local, 'paginator', m.index!);
  }
  // fromTemporaryCredentials calls sts:AssumeRole with the caller's credentials.
  if (/\bfromTemporaryCredentials\s*\(/.test(text)) calls.push({ file, symbol: 'fromTemporaryCredentials', pkg: '@aws-sdk/credential-providers', action: 'sts:AssumeRole' });
  const imports = [...imported.values()].map((v) => { const [pkg, symbol] = v.split('#') as [string, string]; return { file, symbol, pkg }; });
  return { calls, problems, imports };
}

export function scanSource(src = join(ROOT, 'src')): { calls: SdkCall[]; problems: string[]; imports: SdkImport[] } {
  const calls: SdkCall[] = [];
  const problems: string[] = [];
  const imports: SdkImport[] = [];
  for (const f of sourceFiles(src, src)) {
    const r = scanText(readFileSync(f, 'utf8'), relative(ROOT, f));
    calls.push(...r.calls);
    problems.push(...r.problems);
    imports.push(...r.imports);
  }
  return { calls, problems, imports };
}

/**
 * Imports through which the daemon could call AWS without a `new XxxCommand(` or `paginateXxx(` the scan
 * sees: the aggregated client (`new KMS().describeCustomKeyStores()`) and waiters (`waitUntilXxx`).
 */
export async function hiddenCallPaths(imports: SdkImport[]): Promise<string[]> {
  const out: string[] = [];
  for (const i of imports.filter((x) => x.pkg.startsWith('@aws-sdk/client-'))) {
    const mod = (await import(i.pkg)) as Record<string, unknown>;
    const value = mod[i.symbol] as { prototype?: unknown } | undefined;
    const base = mod[`${i.symbol}Client`] as (new (...a: never[]) => unknown) | undefined;
    if (typeof value === 'function' && typeof base === 'function' && value.prototype instanceof base) out.push(`${i.file}: ${i.symbol} is the aggregated client of ${i.pkg}; send Commands through ${i.symbol}Client so the IAM scan sees every operation`);
    if (/^waitUntil|^waitFor/.test(i.symbol)) out.push(`${i.file}: ${i.symbol} (a waiter) calls an operation the IAM scan does not see`);
  }
  return out;
}
