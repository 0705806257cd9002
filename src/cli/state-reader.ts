// The latest committed snapshot for the CLIs that read the daemon's state (drill, check-config), from
// whichever backend the config names, without writing anything: the daemon may be running.
//   state.backend: files     FileStateBackend read-only on stateDir (checkpoint documents + journal,
//                            so a poll that is only in the journal yet counts); no stateDir: null.
//   state.backend: postgres  PostgresStateBackend.latestSnapshot (the committed snapshot the followers
//                            serve); stateDir is not used. The database must answer: an error says why.
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import type { Snapshot } from '../model.js';
import { parseSnapshotDoc } from '../snapshot/persist.js';
import { FileStateBackend } from '../state/file-backend.js';
import { PostgresStateBackend } from '../state/postgres-backend.js';

export async function readLatestSnapshot(config: Config): Promise<Snapshot | null> {
  const st = config.state;
  if (st.backend === 'postgres') {
    const pg = await PostgresStateBackend.open({ url: st.url, schema: st.schema, queryTimeoutMs: st.queryTimeout, applicationName: 'keystore-watch-cli' });
    try {
      return ((await pg.latestSnapshot(parseSnapshotDoc))?.snapshot as Snapshot | undefined) ?? null;
    } finally {
      await pg.close();
    }
  }
  if (!existsSync(config.stateDir)) return null;
  const files = await FileStateBackend.open({ dir: config.stateDir, readOnly: true });
  try {
    return ((await files.load({ parseSnapshot: parseSnapshotDoc })).snapshot as Snapshot | null) ?? null;
  } finally {
    await files.close();
  }
}
