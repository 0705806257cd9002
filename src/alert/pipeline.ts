// Placeholder wiring until diff/alert engine/outbox land (replaced in the same session).
import type { Config } from '../config/schema.js';
import type { Snapshot } from '../model.js';
import type { Logger } from '../log.js';
import type { SelfMetrics } from '../metrics/self.js';
import type { StateStore } from '../state/store.js';
import type { Notifier } from '../notify/notifier.js';

export interface AlertPipelineOptions { config: Config; store: StateStore; logger: Logger; metrics: SelfMetrics; notifiers?: Notifier[]; now: () => number }

export class AlertPipeline {
  static async open(_opts: AlertPipelineOptions): Promise<AlertPipeline> { return new AlertPipeline(); }
  async process(_prev: Snapshot | null, _next: Snapshot): Promise<void> {}
  firing(): unknown[] { return []; }
  recentEvents(_limit: number): unknown[] { return []; }
  async stop(_ms: number): Promise<void> {}
}
