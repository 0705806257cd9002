// Bundles the program for the container image: one file per thread instead of hundreds of modules.
//
//   node scripts/bundle.mjs                      dist/cli/main.js + dist/collect/sdk-thread-main.js (npm run build)
//   node scripts/bundle.mjs --base . --out DIR --assets src ENTRY.ts...   any entries (the benchmark's build)
//
// Why: a whole `keystore-watch once` spent 0.5-1.0 s resolving, reading and compiling ~all of the AWS
// SDK's files, once on the main thread and again on the SDK thread, and each isolate kept ~20 MB more
// than the same code bundled (docs/performance.md, "a bundled build"). esbuild resolves and tree-shakes
// at build time; node then parses one file per thread.
//
// Each entry is bundled on its own (no shared chunks), so a module's `import.meta.url` is rewritten to
// the URL the module would have had unbundled (dist/<path>.js): `new URL('./assets/', import.meta.url)`,
// the worker's entry beside sdk-threads.js and `import.meta.url === argv[1]` checks mean what they mean
// in the sources and under tsc. Non-TypeScript files under the base (the status page's assets) are
// copied beside, as the unbundled layout has them. Third-party packages are bundled too; the runtime
// stage still installs the production dependencies (the simulator reads the SDK's partition table from
// node_modules, and a package a bundle could not resolve would still load from there).
import { build } from 'esbuild';
import { cpSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where a source file would be written unbundled: <out>/<path under base>.js */
function unbundledPath(file, base, out) {
  return join(out, relative(base, file)).replace(/\.[cm]?ts$/, '.js');
}

/** `import.meta.url` of modules under `base`, as it would be unbundled, relative to the bundle being written. */
function importMetaUrlPlugin(base, out, outfile) {
  return {
    name: 'unbundled-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (!args.path.startsWith(base + sep)) return undefined;
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        let rel = relative(dirname(outfile), unbundledPath(args.path, base, out)).split(sep).join('/');
        if (!rel.startsWith('.')) rel = `./${rel}`;
        return { contents: text.replace(/\bimport\.meta\.url\b/g, `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'ts' };
      });
    },
  };
}

/**
 * Bundles each entry to <out>/<entry's path under base>.js and copies the non-TypeScript files of each
 * of assetDirs (default: all of base) to the same place under <out>. Returns the files written.
 */
export async function bundle({ base, out, entries, sourcemap = false, assetDirs = [base] }) {
  base = resolve(base);
  out = resolve(out);
  const written = [];
  for (const entry of entries) {
    const file = resolve(entry);
    const outfile = unbundledPath(file, base, out);
    await build({
      entryPoints: [file],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // ESM first: the SDK's dist-es modules tree-shake, their CommonJS builds do not.
      mainFields: ['module', 'main'],
      sourcemap,
      // No keepNames: it wraps every function created at run time in a call that sets its name (the SDK
      // makes closures per call); with it, steady polls took 0.99-1.11 CPU s per 1,000 targets against
      // 0.93-1.00 without (bench/steady-ab.ts, two rounds a side: within this machine's spread, but no
      // gain to pay for). So a class may be renamed (`class _DescribeClustersCommand` for a class that refers to
      // itself): nothing here may depend on `constructor.name` (src/collect/threaded-commands.ts).
      legalComments: 'none',
      logLevel: 'warning',
      // pg's optional native binding is not installed; pg falls back to JavaScript without it.
      external: ['pg-native'],
      // Bundled CommonJS packages call require() for node's built-ins.
      banner: { js: "import { createRequire as __kwCreateRequire } from 'node:module';\nconst require = __kwCreateRequire(import.meta.url);" },
      plugins: [importMetaUrlPlugin(base, out, outfile)],
    });
    written.push(outfile);
  }
  for (const dir of assetDirs.map((d) => resolve(d))) {
    cpSync(dir, join(out, relative(base, dir)), { recursive: true, filter: (f) => !/\.[cm]?ts$/.test(f) });
  }
  return written;
}

const invokedDirectly = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const base = opt('--base') ?? join(ROOT, 'src');
  const out = opt('--out') ?? join(ROOT, 'dist');
  const assets = opt('--assets');
  const sourcemap = args.includes('--sourcemap');
  const entries = args.filter((a) => !a.startsWith('--'));
  if (entries.length === 0) {
    // The image: the CLI (every command) and the SDK thread's entry.
    rmSync(out, { recursive: true, force: true });
    entries.push(join(ROOT, 'src/cli/main.ts'), join(ROOT, 'src/collect/sdk-thread-main.ts'));
  }
  const files = await bundle({ base, out, entries, sourcemap, assetDirs: assets ? [assets] : [base] });
  for (const f of files) console.log(`bundled ${relative(process.cwd(), f)}`);
}
