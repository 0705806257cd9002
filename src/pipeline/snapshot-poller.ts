// discover -> collect -> snapshot: the collector (src/collect/poller.ts, which resolves the accounts and
// regions through src/discover/) followed by the pure snapshot builder (src/snapshot/build.ts). Kept as
// one class with the `poll(prev)` the CLI commands, the daemon and the tests call.
import { storeKey, type Snapshot } from '../model.js';
import { Poller } from '../collect/poller.js';
import { buildSnapshot } from '../snapshot/build.js';

export class SnapshotPoller extends Poller {
  /** One poll: collect every target, then build the next snapshot from the previous one. */
  async poll(prev: Snapshot | null, signal?: AbortSignal): Promise<Snapshot> {
    const collected = await this.collect(prev, signal);
    const snapshot = buildSnapshot(prev, collected.results, collected);
    if (this.probeTimes > 0) this.forgetProbesExcept(new Set(snapshot.stores.map(storeKey)));
    return snapshot;
  }
}

export type { PollerOptions } from '../collect/poller.js';
