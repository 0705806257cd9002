// Child process for the outbox SIGKILL test: opens the outbox on a state dir, (re-)enqueues the same
// notifications every time it starts (as the alert engine replays after a crash), delivers them to
// the parent's receiver and prints "done" once the queue is empty. Notification i is about store
// i % 10 (its alert key), so order per store can be checked.
//   node --import tsx test/helpers/outbox-child.ts <stateDir> <url> <count>
import type { AlertNotification } from '../../src/model.js';
import { Outbox } from '../../src/notify/outbox.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { httpTestNotifier } from './http-test-notifier.js';

const [dir, url, countText] = process.argv.slice(2) as [string, string, string];
const count = Number(countText);
const n = (i: number): AlertNotification => ({
  id: `n-${String(i).padStart(4, '0')}`, kind: 'firing', severity: 'critical', condition: 'FAILED', alertKey: `k-${i % 10}`,
  subject: { accountId: '111111111111', accountName: 'a', region: 'us-east-1', storeId: `cks-${i}`, storeName: null, storeType: 'AWS_CLOUDHSM', state: 'FAILED', errorCode: null, clusterId: null, details: {} },
  guidance: { title: '', summary: '', cause: '', steps: [], commands: [], docs: [], runbookAnchor: '' },
  since: 0, createdAt: 0,
});

const store = await FileStateStore.open({ dir });
const outbox = await Outbox.open({
  store, notifiers: [httpTestNotifier({ id: 'webhook', url })], limit: 10_000, deliveryLogLimit: 10_000, sendTimeoutMs: 2_000,
  backoff: { baseMs: 5, maxMs: 50, factor: 2 },
});
process.stdout.write(`ready ${outbox.resumedInFlight()}\n`);
outbox.start();
await outbox.enqueue(Array.from({ length: count }, (_, i) => n(i)));
await outbox.whenIdle();
await outbox.stop();
await store.close();
process.stdout.write('done\n');
