// Run by build-shapes.test.ts as `node --allow-natives-syntax --import tsx hidden-classes.ts`: builds two
// polls of a fleet whose records mix numbers and null in the same fields (as AWS answers do: a trust anchor
// or not, a certificate or not, CloudWatch datapoints or not), then prints how many distinct V8 hidden
// classes each record array of the snapshots holds. %HaveSameMap needs the natives syntax flag, hence the
// child process; it is reached through new Function so this file stays plain TypeScript.
import { buildSnapshot, type TargetPollResult } from '../../../src/snapshot/build.js';
import type { Target } from '../../../src/model.js';

const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: unknown, b: unknown) => boolean;

/** The number of distinct hidden classes among the objects (stops counting at 100). */
function hiddenClasses(objects: readonly unknown[]): number {
  const seen: unknown[] = [];
  for (const o of objects) if (seen.length < 100 && !seen.some((s) => haveSameMap(s, o))) seen.push(o);
  return seen.length;
}

const N = 60;
const target = (i: number): Target => ({ accountId: String(100000000000 + i), accountName: `acct-${i}`, region: 'us-east-1', roleArn: null, externalId: null, ouPath: i % 2 ? '/Prod' : null, tags: { team: `t${i % 3}` } });

function poll(round: number): TargetPollResult[] {
  return Array.from({ length: N }, (_, i): TargetPollResult => {
    const t = target(i);
    // Poll 2: every fifth target fails (its stores, clusters and health carried over as stale).
    if (round === 2 && i % 5 === 0) return { target: t, durationMs: 3, stores: null, error: { code: 'ThrottlingException', message: 'slow down' }, cloudHsm: { attempted: false }, probes: [] };
    const hsm = i % 2 === 0;
    const state = round === 2 && i % 7 === 0 ? 'DISCONNECTED' : 'CONNECTED';
    return {
      target: t,
      durationMs: 3,
      error: null,
      probes: [],
      stores: [{
        accountId: t.accountId, region: t.region, id: `cks-${i}`, name: `store-${i}`, type: hsm ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE', state, errorCode: null,
        clusterId: hsm ? `cluster-${i}` : null,
        xks: hsm ? null : { connectivity: 'PUBLIC_ENDPOINT', uriEndpoint: 'https://xks.example.com', uriPath: '/kms/xks/v1', vpcEndpointServiceName: null, accessKeyIdLast4: 'ABCD' },
        trustAnchorSha256: hsm && i % 4 === 0 ? 'ab'.repeat(32) : null,
        trustAnchorNotAfter: hsm && i % 4 === 0 ? 1_800_000_000_123 + i : null,
        createdAt: i % 3 ? 1_700_000_000_456 + i : null,
      }],
      cloudHsm: hsm
        ? { attempted: true, error: null, clusters: [{ accountId: t.accountId, region: t.region, id: `cluster-${i}`, state: 'ACTIVE', stateMessage: i % 3 ? null : 'ok', vpcId: 'vpc-1', hsmType: 'hsm1.medium', hsms: [], subnetAzs: ['us-east-1a'], certificateNotAfter: i % 4 === 0 ? 1_800_000_000_789 + i : null }] }
        : { attempted: false },
      cloudWatch: {
        attempted: true, error: null, denied: false,
        reading: {
          metricsRequested: 1, getMetricDataCalls: 1, listMetricsCalls: 1,
          stores: [{ storeId: `cks-${i}`, certificateDaysToExpire: i % 2 ? 30.5 + i : null, credentialAgeDays: i % 3 ? 12 : null, keyManagers: null, errors: i % 2 ? { retryable: 0, nonRetryable: 1 } : null, requests: i % 2 ? 10.25 : null, latencyMs: i % 3 ? 35.7 : null, throttled: null }],
          clusters: hsm ? [{ clusterId: `cluster-${i}`, hsmUnhealthy: i % 3 ? 0.5 : 0 }] : [],
        },
      },
    };
  });
}

const s1 = buildSnapshot(null, poll(1), { pollId: 1, startedAt: 1_700_000_000_000, finishedAt: 1_700_000_001_500 });
const s2 = buildSnapshot(s1, poll(2), { pollId: 2, startedAt: 1_700_000_060_000, finishedAt: 1_700_000_061_500 });
const both = <K extends 'stores' | 'clusters' | 'storeHealth' | 'clusterHealth'>(k: K) => [...(s1[k] ?? []), ...(s2[k] ?? [])];
process.stdout.write(JSON.stringify({
  counts: { stores: s2.stores.length, stale: s2.stores.filter((s) => s.stale).length, clusters: s2.clusters.length, storeHealth: s2.storeHealth?.length ?? 0, clusterHealth: s2.clusterHealth?.length ?? 0 },
  hiddenClasses: { stores: hiddenClasses(both('stores')), clusters: hiddenClasses(both('clusters')), storeHealth: hiddenClasses(both('storeHealth')), clusterHealth: hiddenClasses(both('clusterHealth')) },
}));
