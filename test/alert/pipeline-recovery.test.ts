// The window after the alert state and its notifications were recorded (one atomic 'alerts' document)
// and before they reached the outbox: at start-up the pipeline hands the recorded notifications to
// the outbox again, so a decided firing is never lost; ids already delivered are not sent twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AlertPipeline } from '../../src/pipeline/alert-pipeline.js';
import { emptyAlertState } from '../../src/alert/engine.js';
import { emptyDiffCarry } from '../../src/diff/diff.js';
import { parseConfigText } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { SelfMetrics } from '../../src/metrics/self.js';
import { MemoryStateStore } from '../../src/state/memory-store.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { alert } from '../notify/fixtures.js';

let rx: Receiver;
beforeAll(async () => { rx = await startReceiver(); });
afterAll(async () => { await rx?.close(); });

describe('alert pipeline start-up recovery', () => {
  it('queues notifications recorded before a crash, exactly once across restarts', async () => {
    const config = parseConfigText(stringify({ regions: ['us-east-1'], accounts: [{ id: '111111111111' }], alerting: { channels: [{ type: 'webhook', url: `${rx.url}/hook`, minSeverity: 'info' }] } }), 'test', {});
    const store = new MemoryStateStore();
    const firing = alert({ id: 'FAILED:store:111111111111/us-east-1/cks-1:firing:1:p7', kind: 'firing' });
    // What the 'alerts' write of the crashed poll left behind: the state that fired, and what it decided to send.
    await store.write('alerts', { alerts: { ...emptyAlertState(), lastPollId: 7 }, diff: emptyDiffCarry(), pending: [firing] });

    const open = () => AlertPipeline.open({ config, store, logger: silentLogger(), metrics: new SelfMetrics({ processMetrics: false }), now: Date.now });
    const first = await open();
    expect(first.lastPollId).toBe(7);
    await first.stop(5000);
    expect(rx.requests.map((r) => r.headers['x-keystore-watch-idempotency-key'])).toEqual([firing.id]);

    // A second restart finds the same record but the outbox already delivered that id.
    const second = await open();
    await second.stop(2000);
    expect(rx.requests).toHaveLength(1);
  });
});
