// The main thread's work after a sweep, per stage, without the network (issue 14: what the daemon adds to a
// steady poll on top of its calls). In one process, on a generated dense fleet (one store per
// account-region, 40 % CloudHSM with a cluster of two HSMs, 5 % FAILED): the snapshot build, the diff, the
// alert evaluation and the metrics exposition (render + gzip), as src/pipeline/ runs them, once per round;
// the commit is measured by bench/commit.ts.
//
//   npx tsx bench/post-sweep.ts [--accounts 500] [--rounds 6]     (500 x 16 regions = the dense bench fleet)
//
// Round 1 is cold (no previous snapshot, JIT warming up); later rounds are the steady state. Wall ms per stage.
import { buildSnapshot, type TargetPollResult } from '../src/snapshot/build.js';
import { diffSnapshots, emptyDiffCarry } from '../src/diff/diff.js';
import { evaluateAlerts, emptyAlertState } from '../src/alert/engine.js';
import { guidanceFor, defaultSeverity } from '../src/alert/remediation/guidance.js';
import { encodeSnapshotMetrics } from '../src/metrics/exposition.js';
import { parseConfig } from '../src/config/load.js';
import type { Target } from '../src/model.js';
import { parseArgs } from 'node:util';
import { REGIONS_16 } from './lib/sim-process.js';

const { values: args } = parseArgs({ options: { accounts: { type: 'string', default: '500' }, rounds: { type: 'string', default: '6' } } });
const ACCOUNTS = Number(args.accounts);
const config = parseConfig({ accounts: [{ id: '111111111111' }], regions: ['us-east-1'] }, 'x', {});
function poll(): TargetPollResult[] {
  const out: TargetPollResult[] = [];
  let i = 0;
  for (let a = 0; a < ACCOUNTS; a++) for (const region of REGIONS_16) {
    i++;
    const t: Target = { accountId: String(100000000000 + a), accountName: `acct-${a}`, region, roleArn: null, externalId: null };
    const hsm = i % 5 < 2;
    const failed = i % 20 === 0;
    out.push({
      target: t, durationMs: 3, error: null, probes: [],
      stores: [{ accountId: t.accountId, region, id: `cks-${i.toString(16).padStart(17, '0')}`, name: `store-${i}`, type: hsm ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE', state: failed ? 'FAILED' : 'CONNECTED', errorCode: failed ? 'NETWORK_ERRORS' : null,
        clusterId: hsm ? `cluster-${i}` : null, xks: hsm ? null : { connectivity: 'PUBLIC_ENDPOINT', uriEndpoint: 'https://xks.example.com', uriPath: '/kms/xks/v1', vpcEndpointServiceName: null, accessKeyIdLast4: 'ABCD' },
        trustAnchorSha256: hsm ? 'ab'.repeat(32) : null, trustAnchorNotAfter: hsm ? 1_900_000_000_000 + i : null, createdAt: 1_700_000_000_456 + i }],
      cloudHsm: hsm ? { attempted: true, error: null, clusters: [{ accountId: t.accountId, region, id: `cluster-${i}`, state: 'ACTIVE', stateMessage: null, vpcId: 'vpc-1', hsmType: 'hsm1.medium', hsms: [{ id: `hsm-${i}a`, availabilityZone: region + 'a', subnetId: 's', eniIp: '10.0.0.1', state: 'ACTIVE' }, { id: `hsm-${i}b`, availabilityZone: region + 'b', subnetId: 's', eniIp: '10.0.0.2', state: 'ACTIVE' }], subnetAzs: [region + 'a'], certificateNotAfter: 1_900_000_000_000 + i }] } : { attempted: false },
    });
  }
  return out;
}
let prev = null as ReturnType<typeof buildSnapshot> | null;
let state = emptyAlertState();
let carry = emptyDiffCarry();
for (let round = 1; round <= Number(args.rounds); round++) {
  const results = poll();
  const t0 = performance.now();
  const next = buildSnapshot(prev, results, { pollId: round, startedAt: 1_800_000_000_000 + round * 60_000, finishedAt: 1_800_000_001_000 + round * 60_000 });
  const t1 = performance.now();
  const d = diffSnapshots(prev, next, carry); carry = d.carry; const changes = d.changes;
  const t2 = performance.now();
  const ev = evaluateAlerts({ state, snapshot: next, previous: prev, alerting: config.alerting, probe: config.probe, cloudwatch: config.cloudwatch, now: next.finishedAt, guidanceFor, severityFor: defaultSeverity });
  const t3 = performance.now();
  const enc = await encodeSnapshotMetrics(next);
  const t4 = performance.now();
  state = ev.state; prev = next;
  console.log(`round ${round} stores ${next.stores.length} alerts ${Object.keys(state.alerts).length} changes ${changes.length}: build ${(t1 - t0).toFixed(0)} diff ${(t2 - t1).toFixed(0)} evaluate ${(t3 - t2).toFixed(0)} render ${(t4 - t3).toFixed(0)} ms`);
}
