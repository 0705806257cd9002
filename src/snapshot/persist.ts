// Shape check for a persisted snapshot: a document that fails it counts as corrupt (moved aside by the
// state store) instead of poisoning the next diff.
import type { Snapshot } from '../model.js';
import { accessKeyIdLast4 } from '../collect/sensitive.js';

export function parseSnapshotDoc(data: unknown): Snapshot {
  const s = data as Partial<Snapshot> | null;
  if (!s || typeof s !== 'object') throw new Error('snapshot is not an object');
  if (typeof s.pollId !== 'number' || typeof s.finishedAt !== 'number') throw new Error('snapshot lacks pollId/finishedAt');
  for (const key of ['stores', 'clusters', 'targets', 'probes'] as const) {
    if (!Array.isArray(s[key])) throw new Error(`snapshot.${key} is not a list`);
  }
  for (const st of s.stores!) {
    if (!st || typeof st.id !== 'string' || typeof st.accountId !== 'string' || typeof st.region !== 'string' || typeof st.state !== 'string') {
      throw new Error('snapshot.stores holds an entry without id/accountId/region/state');
    }
    // Snapshots written before the XKS access key id was masked hold it whole: keep only its last 4.
    const xks = st.xks as (Record<string, unknown> & { accessKeyId?: unknown }) | null | undefined;
    if (xks && 'accessKeyId' in xks) {
      const { accessKeyId, ...rest } = xks;
      (st as { xks: unknown }).xks = { ...rest, accessKeyIdLast4: accessKeyIdLast4(typeof accessKeyId === 'string' ? accessKeyId : null) };
    }
  }
  // Snapshots written before target statuses existed: ok or failed.
  for (const t of s.targets!) {
    if (t && typeof t === 'object' && typeof (t as { status?: unknown }).status !== 'string') (t as { status: string }).status = t.ok ? 'ok' : 'failed';
  }
  return s as Snapshot;
}
