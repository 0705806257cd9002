// Write time of the state documents with the real file backend (fsync on): a snapshot with 2,000
// and 20,000 stores, and a full outbox (10,000 entries). The outbox figure is also the length of
// the outbox's one duplicate window (crash after the receiver answered, before the removal is
// durable; see src/notify/outbox.ts).
//   npx tsx bench/state-store.ts [runs]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileStateStore } from '../src/state/file-store.js';
import { encodeDocument } from '../src/state/store.js';
import type { ClusterRecord, Snapshot, StoreRecord, TargetOutcome } from '../src/model.js';
import { median } from './lib/stats.js';

const runs = Number(process.argv[2] ?? 7);
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2', 'ap-northeast-1'];

function store(i: number): StoreRecord {
  const accountId = String(100000000000 + Math.floor(i / 8));
  const region = REGIONS[i % REGIONS.length]!;
  const hsm = i % 3 !== 0;
  const failed = i % 23 === 0;
  return {
    accountId, accountName: `acme-team-${Math.floor(i / 8)}-production`, region,
    id: `cks-${(0x1a2b3c4d5e6f7n * 31n + BigInt(i)).toString(16).padStart(17, '0').slice(-17)}`,
    name: `payments-ledger-${i}-${hsm ? 'cloudhsm' : 'xks'}`,
    type: hsm ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE',
    state: failed ? 'FAILED' : 'CONNECTED', errorCode: failed ? 'USER_LOCKED_OUT' : null,
    clusterId: hsm ? `cluster-${(i * 2654435761 % 2 ** 32).toString(36).padStart(11, '0')}` : null,
    xks: hsm ? null : {
      connectivity: i % 2 ? 'VPC_ENDPOINT_SERVICE' : 'PUBLIC_ENDPOINT', uriEndpoint: `https://xks-proxy-${i}.kms.acme.example.com`, uriPath: '/kms/xks/v1',
      vpcEndpointServiceName: i % 2 ? `com.amazonaws.vpce.${region}.vpce-svc-${i.toString(16).padStart(17, '0')}` : null, accessKeyIdLast4: String(i % 10000).padStart(4, '0'),
    },
    trustAnchorSha256: hsm ? (BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(64, 'a').slice(0, 64) : null,
    trustAnchorNotAfter: hsm ? 1_893_456_000_000 + i : null,
    createdAt: 1_650_000_000_000 + i * 3_600_000, stateSince: 1_700_000_000_000 + i, stale: false,
  };
}

function snapshot(n: number): Snapshot {
  const stores = Array.from({ length: n }, (_, i) => store(i));
  const clusters: ClusterRecord[] = stores.filter((s) => s.clusterId).map((s, i) => ({
    accountId: s.accountId, region: s.region, id: s.clusterId!, state: 'ACTIVE', stateMessage: null, vpcId: `vpc-${i.toString(16).padStart(17, '0')}`, hsmType: 'hsm2m.medium',
    hsms: [0, 1].map((h) => ({ id: `hsm-${i}${h}`, availabilityZone: `${s.region}${'ab'[h]}`, subnetId: `subnet-${i}${h}`, eniIp: `10.${h}.${i % 250}.${i % 200}`, state: 'ACTIVE' })),
    certificateNotAfter: 1_900_000_000_000, stateSince: 1_700_000_000_000, stale: false,
  }));
  const targets = new Map<string, TargetOutcome>();
  for (const s of stores) targets.set(`${s.accountId}/${s.region}`, {
    accountId: s.accountId, accountName: s.accountName, region: s.region, status: 'ok', ok: true, error: null, durationMs: 420, lastSuccessAt: 1_700_000_000_000, consecutiveFailures: 0, cloudHsm: { ok: true, error: null },
  });
  return { pollId: 1234, startedAt: 1_700_000_000_000, finishedAt: 1_700_000_004_000, stores, clusters, targets: [...targets.values()], probes: [] };
}

function outboxDoc(entries: number) {
  const notifications = Array.from({ length: entries / 2 }, (_, i) => ({
    id: `store:100000000000/us-east-1/cks-${i}:FAILED:firing:1700000000000`, kind: 'firing', severity: 'critical', condition: 'FAILED',
    alertKey: `store:100000000000/us-east-1/cks-${i}:FAILED`,
    subject: { accountId: '100000000000', accountName: 'acme-production', region: 'us-east-1', storeId: `cks-${i}`, storeName: `payments-${i}`, storeType: 'AWS_CLOUDHSM', state: 'FAILED', errorCode: 'USER_LOCKED_OUT', clusterId: 'cluster-abc', details: {} },
    guidance: {
      title: 'CloudHSM key store failed: kmsuser locked out', summary: 'x'.repeat(160), cause: 'y'.repeat(300),
      steps: Array.from({ length: 5 }, (_, k) => `step ${k} `.repeat(12)),
      commands: Array.from({ length: 4 }, (_, k) => `aws kms update-custom-key-store --custom-key-store-id cks-${i} --region us-east-1 # ${k}`),
      docs: [{ title: 'Troubleshooting', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html' }], runbookAnchor: 'kmscustomkeystorefailed',
    },
    since: 1_700_000_000_000, createdAt: 1_700_000_000_000,
  }));
  return {
    nextSeq: entries + 1, notifications,
    entries: Array.from({ length: entries }, (_, i) => ({ seq: i + 1, channel: i % 2 ? 'slack' : 'pagerduty', id: notifications[i >> 1]!.id, enqueuedAt: 1, attempts: 3, nextAttemptAt: 2, inFlight: false, lastError: 'HTTP 503', lastStatus: 503 })),
    log: { slack: [], pagerduty: [] }, lastSendAt: {}, dropped: { rejected: 0, overflow: 0, channel_removed: 0 },
  };
}


async function measure(label: string, name: 'snapshot' | 'outbox', value: unknown, dir: string) {
  const store = await FileStateStore.open({ dir });
  const encode: number[] = [];
  const write: number[] = [];
  let bytes = 0;
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    bytes = encodeDocument(name, value, 0).length;
    encode.push(performance.now() - t);
    t = performance.now();
    await store.write(name, value); // encodes again + write + fsync + rename + dir fsync
    write.push(performance.now() - t);
  }
  let t = performance.now();
  await store.read(name);
  const read = performance.now() - t;
  console.log(`${label.padEnd(26)} ${(bytes / 1e6).toFixed(2).padStart(6)} MB   encode ${median(encode).toFixed(1).padStart(6)} ms   write (encode+fsync+rename) median ${median(write).toFixed(1).padStart(6)} ms, max ${Math.max(...write).toFixed(1).padStart(6)} ms   read+parse ${read.toFixed(1).padStart(6)} ms`);
}

const dir = await mkdtemp(path.join(tmpdir(), 'ksw-bench-'));
try {
  console.log(`node ${process.version}, ${runs} runs each, dir ${dir}`);
  await measure('snapshot, 2,000 stores', 'snapshot', snapshot(2_000), dir);
  await measure('snapshot, 20,000 stores', 'snapshot', snapshot(20_000), dir);
  await measure('outbox, 10,000 entries', 'outbox', outboxDoc(10_000), dir);
  await measure('outbox, 100 entries', 'outbox', outboxDoc(100), dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
