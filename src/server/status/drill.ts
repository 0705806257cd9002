// The status page's fire drill: the same TEST notification as `keystore-watch drill` (alert/drill.ts),
// sent straight to every configured channel (not through the outbox: a drill is checked by eye, and a
// failure is reported on the page and in the log rather than retried for hours).
import type { StoreRecord } from '../../model.js';
import type { Notifier } from '../../notify/notifier.js';
import { drillNotification } from '../../alert/drill.js';
import type { DrillResult } from './source.js';

export async function sendDrill(notifiers: readonly Notifier[], store: StoreRecord, code: string, by: string, now = Date.now()): Promise<DrillResult[]> {
  const n = drillNotification({
    accountId: store.accountId, accountName: store.accountName, region: store.region, storeId: store.id, storeName: store.name,
    storeType: store.type, state: 'FAILED', errorCode: code, clusterId: store.clusterId, ouPath: store.ouPath ?? null, tags: store.tags ?? {},
    details: { Drill: `This is a test notification started on the status page by ${by}; the store was not touched.` },
  }, now);
  return Promise.all(notifiers.map(async (x) => {
    try {
      const r = await x.send(n, AbortSignal.timeout(15_000));
      return r.ok ? { channel: x.id, ok: true, detail: 'delivered' } : { channel: x.id, ok: false, detail: r.error };
    } catch (err) {
      return { channel: x.id, ok: false, detail: (err as Error).message };
    }
  }));
}
