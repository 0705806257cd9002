// The CLIs that read the daemon's state (drill, check-config) read it through the backend the config
// names (src/cli/state-reader.ts): with state.backend: postgres from the database (a stateDir that does
// not exist is never created nor read); with files from the checkpoint documents AND the journal (a
// poll committed only to the journal counts), without writing to a directory a daemon may be using.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FileStateBackend } from '../../src/state/file-backend.js';
import { PostgresStateBackend } from '../../src/state/postgres-backend.js';
import { SINGLE_REPLICA_EPOCH, type PollCommit } from '../../src/state/backend.js';
import { tempDir } from '../helpers/sim.js';
import { runCli } from '../helpers/cli.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { snapshot, store } from '../helpers/snapshots.js';

const RETENTION = { deliveriesPerChannel: 100, deadLetters: 10 };
const dir = tempDir('kw-cli-state-');
let cluster: PgCluster;
let url: string;

const commitOf = (storeId: string): PollCommit => ({
  pollId: 7,
  snapshot: snapshot({ pollId: 7, stores: [store({ id: storeId, accountId: '111111111111', region: 'eu-west-1', type: 'EXTERNAL_KEY_STORE', name: 'only-in-state' })] }),
  alerts: null,
  history: { entries: [], limit: 100 },
  outbox: {},
});

function config(extra: Record<string, unknown>): string {
  const file = join(dir, `cfg-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify({
    // Nothing answers here: a sweep would fail, so finding the store proves it came from the state.
    aws: { endpoint: 'http://127.0.0.1:9', maxAttempts: 1, requestTimeout: '1s' },
    accounts: [{ id: '111111111111', name: 'management' }],
    regions: ['eu-west-1'],
    alerting: { channels: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }] },
    ...extra,
  }));
  return file;
}

const drill = (cfg: string, storeId: string) => runCli(['drill', '--config', cfg, '--store', storeId, '--code', 'XKS_PROXY_TIMED_OUT', '--dry-run'], { env: { AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' }, timeoutMs: 90_000 });

beforeAll(async () => {
  cluster = await startPostgres();
  url = await cluster.createDatabase();
}, 180_000);
afterAll(async () => { await cluster?.destroy(); });

describe('CLIs reading the state', () => {
  it('state.backend: postgres: drill finds the store in the committed snapshot; the configured stateDir is never touched', async () => {
    const pg = await PostgresStateBackend.open({ url, schema: 'keystore_watch' });
    await pg.commit({ epoch: 1 }, commitOf('cks-pgonly0000000001'), RETENTION);
    await pg.close();
    const stateDir = join(dir, 'never-created');
    const r = await drill(config({ stateDir, state: { backend: 'postgres', url } }), 'cks-pgonly0000000001');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('cks-pgonly0000000001');
    expect(r.stdout).toContain('only-in-state');
    expect(existsSync(stateDir)).toBe(false);
  }, 120_000);

  it('state.backend: postgres with the database down: a clear error, exit 1 or 2, no stateDir fallback', async () => {
    const down = new URL(url);
    down.port = '9';
    const stateDir = join(dir, 'not-either');
    const r = await drill(config({ stateDir, state: { backend: 'postgres', url: down.toString(), queryTimeout: '2s' } }), 'cks-pgonly0000000001');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ECONNREFUSED|connect|PostgreSQL/i);
    expect(existsSync(stateDir)).toBe(false);
  }, 120_000);

  it('files: a poll committed only to the journal counts, and reading changes nothing in the directory', async () => {
    const stateDir = join(dir, 'files');
    const files = await FileStateBackend.open({ dir: stateDir });
    await files.load();
    await files.commit({ epoch: SINGLE_REPLICA_EPOCH }, commitOf('cks-journalonly00001'), RETENTION);
    // Not closed: as if the daemon were still running (close() would not checkpoint either; the journal holds it).
    const before = Object.fromEntries(readdirSync(stateDir).map((f) => [f, readFileSync(join(stateDir, f), 'utf8')]));
    expect(Object.keys(before)).toContain('journal.log');
    expect(before['snapshot.json'], 'no checkpoint yet: the snapshot is in the journal only').toBeUndefined();
    const mtimes = Object.fromEntries(readdirSync(stateDir).map((f) => [f, statSync(join(stateDir, f)).mtimeMs]));
    const r = await drill(config({ stateDir }), 'cks-journalonly00001');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('cks-journalonly00001');
    const after = Object.fromEntries(readdirSync(stateDir).map((f) => [f, readFileSync(join(stateDir, f), 'utf8')]));
    expect(after).toEqual(before);
    expect(Object.fromEntries(readdirSync(stateDir).map((f) => [f, statSync(join(stateDir, f)).mtimeMs]))).toEqual(mtimes);
    await files.close();
  }, 120_000);
});
