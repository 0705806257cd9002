// The StateBackend contract (backend-contract.ts) over the PostgreSQL backend, on a throwaway cluster
// (test/helpers/postgres.ts): a database per test. The SIGKILL case kills the writer child mid-commit
// (its connection drops; the server rolls back whatever transaction was open).
import { afterAll, beforeAll } from 'vitest';
import { backendContract } from './backend-contract.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { PostgresStateBackend } from '../../src/state/postgres-backend.js';

let cluster: PgCluster | null = null;
beforeAll(async () => { cluster = await startPostgres(); }, 180_000);
afterAll(async () => { await cluster?.destroy(); });

backendContract('postgres', async () => {
  const url = await cluster!.createDatabase();
  const db = new URL(url).pathname.slice(1);
  const schema = 'keystore_watch';
  let migrated = false;
  return {
    spec: { kind: 'postgres', url, schema },
    // The lease row an elected leader would hold, valid for an hour (the lease itself is tested in test/ha/lease.test.ts).
    lead: async (epoch) => {
      if (!migrated) { await (await PostgresStateBackend.open({ url, schema })).close(); migrated = true; }
      await cluster!.query(
        `INSERT INTO ${schema}.lease (name, holder, epoch, expires_at, acquired_at, renewed_at) VALUES ('leader', 'test', $1, now() + interval '1 hour', now(), now())
         ON CONFLICT (name) DO UPDATE SET epoch = EXCLUDED.epoch, holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at`, [epoch], db);
    },
    cleanup: async () => {},
  };
});
