// Commit time per poll, for both state backends (file, PostgreSQL), at 2,000 and 20,000 stores: the
// `commit` stage of the poll pipeline (src/state/backend.ts: snapshot + alert state + history + new
// outbox entries in one atomic write), as the leader pays it after every poll.
//
//   npx tsx bench/commit.ts [--runs N] [--sizes 2000,20000] [--json]     (also: npm run bench -- --only commit)
//
// File backend: fsync on (as in production), a temp directory on this machine's disk. PostgreSQL: a
// throwaway local cluster (test/helpers/postgres.ts) with durability ON (fsync, synchronous_commit,
// full_page_writes), over TCP on 127.0.0.1, or the database in $KSW_BENCH_PG_URL. A managed PostgreSQL
// adds its network round trips: a commit is a handful of statements in one transaction, so add about
// 8 x your RTT to these figures.
//
// Each size: one cold commit (the first into an empty state), then N steady-state commits (the same
// fleet, one store changing state per poll, two history entries and two outbox entries: a typical
// poll with an incident under way). Reported: median and p95 ms, and the snapshot's JSON size.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { openFileStateBackend } from '../src/state/file-backend.js';
import { PostgresStateBackend } from '../src/state/postgres-backend.js';
import { ResilientStateBackend } from '../src/state/resilient-backend.js';
import { termView } from '../src/state/backend-views.js';
import { SINGLE_REPLICA_EPOCH, type PollCommit, type Retention, type StateBackend } from '../src/state/backend.js';
import { median, quantile } from './lib/stats.js';

const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2', 'ap-northeast-1'];
export const RETENTION: Retention = { deliveriesPerChannel: 1000, deadLetters: 200 };
const SCHEMA = 'keystore_watch';

/** A fleet snapshot the size of a real one (the fields src/model.ts StoreRecord/TargetOutcome carry), `changed` stores FAILED. */
export function snapshot(n: number, pollId: number, failedFrom: number): unknown {
  const stores = Array.from({ length: n }, (_, i) => {
    const hsm = i % 3 !== 0;
    const region = REGIONS[i % REGIONS.length]!;
    const failed = i % 23 === 0 || i === failedFrom % n;
    return {
      accountId: String(100000000000 + Math.floor(i / 8)), accountName: `acme-team-${Math.floor(i / 8)}-production`, region,
      id: `cks-${(0x1a2b3c4d5e6f7n * 31n + BigInt(i)).toString(16).padStart(17, '0').slice(-17)}`,
      name: `payments-ledger-${i}-${hsm ? 'cloudhsm' : 'xks'}`, type: hsm ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE',
      state: failed ? 'FAILED' : 'CONNECTED', errorCode: failed ? 'USER_LOCKED_OUT' : null,
      clusterId: hsm ? `cluster-${(i * 2654435761 % 2 ** 32).toString(36).padStart(11, '0')}` : null,
      xks: hsm ? null : { connectivity: 'PUBLIC_ENDPOINT', uriEndpoint: `https://xks-proxy-${i}.kms.acme.example.com`, uriPath: '/kms/xks/v1', vpcEndpointServiceName: null, accessKeyIdLast4: String(i % 10000).padStart(4, '0') },
      trustAnchorSha256: hsm ? (BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(64, 'a').slice(0, 64) : null,
      trustAnchorNotAfter: hsm ? 1_893_456_000_000 + i : null,
      createdAt: 1_650_000_000_000 + i * 3_600_000, stateSince: 1_700_000_000_000 + i, stale: false,
    };
  });
  const clusters = stores.filter((s) => s.clusterId).map((s, i) => ({
    accountId: s.accountId, region: s.region, id: s.clusterId, state: 'ACTIVE', stateMessage: null, vpcId: `vpc-${i.toString(16).padStart(17, '0')}`, hsmType: 'hsm2m.medium',
    hsms: [0, 1].map((h) => ({ id: `hsm-${i}${h}`, availabilityZone: `${s.region}${'ab'[h]}`, subnetId: `subnet-${i}${h}`, eniIp: `10.${h}.${i % 250}.${i % 200}`, state: 'ACTIVE' })),
    certificateNotAfter: 1_900_000_000_000, stateSince: 1_700_000_000_000, stale: false,
  }));
  const targets = [...new Map(stores.map((s) => [`${s.accountId}/${s.region}`, {
    accountId: s.accountId, accountName: s.accountName, region: s.region, status: 'ok', ok: true, error: null, durationMs: 420, lastSuccessAt: 1_700_000_000_000, consecutiveFailures: 0, cloudHsm: { ok: true, error: null },
  }])).values()];
  return { pollId, startedAt: 1_700_000_000_000 + pollId * 60_000, finishedAt: 1_700_000_004_000 + pollId * 60_000, stores, clusters, targets, probes: [] };
}

/** The alert state: one record per firing alert (about 1 in 23 stores is FAILED here). */
export function alerts(n: number, pollId: number): unknown {
  const firing = Array.from({ length: Math.ceil(n / 23) }, (_, k) => ({
    key: `FAILED:store:${100000000000 + Math.floor((k * 23) / 8)}/us-east-1/cks-${k}`, condition: 'FAILED', severity: 'critical',
    firstSeenPoll: 1, confirmations: 2, firingSince: 1_700_000_000_000, lastNotifiedAt: 1_700_000_000_000, notificationId: `n-${k}`,
  }));
  return { version: 1, lastPollId: pollId, alerts: firing, pending: [] };
}

export function pollCommit(n: number, pollId: number, seq: number): PollCommit {
  const payload = (i: number) => ({ id: `FAILED:store:100000000000/us-east-1/cks-${pollId}-${i}:firing:p${pollId}`, kind: 'firing', severity: 'critical', guidance: { title: 'CloudHSM key store failed: kmsuser locked out', summary: 'x'.repeat(160), steps: ['step '.repeat(30)] } });
  return {
    pollId,
    snapshot: snapshot(n, pollId, pollId),
    alerts: alerts(n, pollId),
    history: { entries: [0, 1].map((i) => ({ seq: seq + i, at: 1_700_000_000_000 + pollId * 60_000, item: { kind: 'state-changed', store: `cks-${pollId}`, from: 'CONNECTED', to: 'FAILED' } })), limit: 10_000 },
    outbox: {
      put: ['slack', 'pagerduty'].map((channel, i) => ({
        channel, id: payload(i).id, seq: seq + i, enqueuedAt: 1_700_000_000_000, attempts: 0, nextAttemptAt: 0, inFlight: false, lastError: null, lastStatus: null, payload: payload(i),
      })),
      meta: { nextSeq: seq + 2, lastSendAt: {}, dropped: {}, deadLettered: {} },
    },
  };
}

export interface CommitFigures { backend: 'file' | 'postgres'; stores: number; snapshotMB: number; coldMs: number; medianMs: number; p95Ms: number; runs: number }

async function measure(backend: StateBackend, kind: CommitFigures['backend'], n: number, runs: number, epoch: number): Promise<CommitFigures> {
  await backend.load();
  const polls = Array.from({ length: runs + 1 }, (_, i) => pollCommit(n, i + 1, i * 2 + 1));
  const t0 = performance.now();
  await backend.commit({ epoch }, polls[0]!, RETENTION);
  const coldMs = performance.now() - t0;
  const times: number[] = [];
  for (const p of polls.slice(1)) {
    const t = performance.now();
    await backend.commit({ epoch }, p, RETENTION);
    times.push(performance.now() - t);
  }
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return { backend: kind, stores: n, snapshotMB: Math.round(JSON.stringify(polls[0]!.snapshot).length / 1e4) / 100, coldMs: r1(coldMs), medianMs: r1(median(times)), p95Ms: r1(quantile(times, 0.95)), runs };
}

export async function benchCommit(opts: { sizes: number[]; runs: number; log?: (s: string) => void }): Promise<CommitFigures[]> {
  const log = opts.log ?? (() => {});
  const out: CommitFigures[] = [];
  for (const n of opts.sizes) {
    const dir = await mkdtemp(path.join(tmpdir(), 'kw-bench-commit-'));
    try {
      // The daemon's path (src/daemon.ts): FileStateBackend under ResilientStateBackend.
      const b = new ResilientStateBackend(await openFileStateBackend({ dir, fsync: true }));
      out.push(await measure(b, 'file', n, opts.runs, SINGLE_REPLICA_EPOCH));
      await b.close();
      log(`commit: file backend, ${n} stores: median ${out.at(-1)!.medianMs} ms`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  // PostgreSQL: $KSW_BENCH_PG_URL, or a throwaway local cluster with durability on.
  let cluster: { createDatabase(): Promise<string>; destroy(): Promise<void>; query(sql: string, params?: unknown[], db?: string): Promise<unknown> } | null = null;
  const given = process.env.KSW_BENCH_PG_URL;
  try {
    if (!given) {
      const helper = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'helpers', 'postgres.ts')).href;
      const { startPostgres } = (await import(helper)) as typeof import('../test/helpers/postgres.js');
      cluster = await startPostgres({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', shared_buffers: '128MB' } });
    }
    for (const n of opts.sizes) {
      const url = given ?? (await cluster!.createDatabase());
      const b = await PostgresStateBackend.open({ url, schema: `${SCHEMA}_bench_${n}`, queryTimeoutMs: 120_000 });
      // The fence checks the lease row: make this process the holder of epoch 1 for the run.
      await b.conn.withClient('bench lease', (c) => c.query(
        `INSERT INTO "${SCHEMA}_bench_${n}".lease (name, holder, epoch, expires_at, acquired_at, renewed_at) VALUES ('leader', 'bench', 1, now() + interval '1 day', now(), now())
         ON CONFLICT (name) DO UPDATE SET holder = 'bench', epoch = 1, expires_at = now() + interval '1 day'`));
      // The daemon's path for a leader term (src/daemon.ts lead()): ResilientStateBackend over the term's view of the backend.
      const term = new ResilientStateBackend(termView(b, (err) => { throw err; }));
      out.push(await measure(term, 'postgres', n, opts.runs, 1));
      await term.close();
      await b.close();
      log(`commit: PostgreSQL backend, ${n} stores: median ${out.at(-1)!.medianMs} ms`);
    }
  } finally {
    await cluster?.destroy();
  }
  return out;
}

export function commitRows(figures: CommitFigures[]): string[][] {
  return figures.map((f) => [
    `commit per poll, ${f.backend === 'file' ? 'file backend (fsync)' : 'PostgreSQL backend (local, durable)'}, ${f.stores} stores`,
    `median ${f.medianMs} ms, p95 ${f.p95Ms} ms (cold ${f.coldMs} ms; ${f.runs} commits; snapshot ${f.snapshotMB} MB)`,
  ]);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, sizes: { type: 'string', default: '2000,20000' }, json: { type: 'boolean', default: false } } });
  const figures = await benchCommit({ sizes: values.sizes!.split(',').map(Number), runs: Number(values.runs), log: (s) => process.stderr.write(`[bench commit] ${s}\n`) });
  if (values.json) process.stdout.write(JSON.stringify(figures) + '\n');
  else for (const [m, v] of commitRows(figures)) process.stdout.write(`${m.padEnd(80)}  ${v}\n`);
}
