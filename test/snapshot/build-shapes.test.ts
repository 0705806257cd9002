// The snapshot's records share one V8 hidden class per kind (src/snapshot/build.ts, storeRecord and friends).
// Built by spreading records whose fields mix numbers and null, every store and cluster got a hidden class
// of its own: at 20,066 stores that was ~20,000 maps and descriptor arrays in the heap and megamorphic
// property access in every stage after the build. Checked in a child process: %HaveSameMap needs
// --allow-natives-syntax, which the test runner's own process must not get.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./support/hidden-classes.ts', import.meta.url));

describe('buildSnapshot record shapes', () => {
  it('gives every store, cluster and CloudWatch record of two polls, fresh and stale, one hidden class per kind', () => {
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', CHILD], { encoding: 'utf8' });
    const r = JSON.parse(out) as { counts: Record<string, number>; hiddenClasses: Record<string, number> };
    // The fleet is what the child meant to build: fresh and stale stores, clusters, health records of both kinds.
    expect(r.counts).toEqual({ stores: 60, stale: 12, clusters: 30, storeHealth: 60, clusterHealth: 30 });
    expect(r.hiddenClasses).toEqual({ stores: 1, clusters: 1, storeHealth: 1, clusterHealth: 1 });
  });
});
