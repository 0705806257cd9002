// keystore-watch drill: a clearly labelled TEST notification for one store and error code, rendered with
// the real guidance and sent through every configured channel, so operators can check routing without
// touching a key store. --dry-run prints the payloads instead.
import type { AlertNotification, AlertSubject, StoreRecord } from '../model.js';
import { AwsClients } from '../collect/aws-clients.js';
import { SnapshotPoller } from '../pipeline/snapshot-poller.js';
import { readLatestSnapshot } from './state-reader.js';
import { createNotifiers } from '../notify/index.js';
import type { Notifier } from '../notify/notifier.js';
import { drillNotification } from '../alert/drill.js';
import { redactValue } from '../util/redact.js';
import type { Config } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { parseOptions, reportFailure, UsageError } from './common.js';

const USAGE = `usage: keystore-watch drill --config FILE --store ID --code CODE [--dry-run] [--account ID --region REGION [--type AWS_CLOUDHSM|EXTERNAL_KEY_STORE]]

Sends a clearly labelled TEST notification, as if store ID had failed with CODE (a ConnectionErrorCode such
as INVALID_CREDENTIALS), through every configured channel. The store is looked up in the last committed
snapshot (stateDir, or PostgreSQL with state.backend: postgres), else by a sweep; --account/--region skip the lookup. --dry-run prints the payloads.
Exit codes: 0 every channel accepted it, 1 a channel failed, 2 usage or configuration error.`;

async function findStore(config: Config, storeId: string): Promise<StoreRecord | null> {
  // The daemon's last committed snapshot, from files or PostgreSQL (state.backend).
  const hit = (await readLatestSnapshot(config))?.stores.find((s) => s.id === storeId);
  if (hit) return hit;
  const clients = new AwsClients({ aws: config.aws });
  try {
    const snap = await new SnapshotPoller({ config, clients }).poll(null);
    return snap.stores.find((s) => s.id === storeId) ?? null;
  } finally {
    clients.close();
  }
}

export { drillNotification } from '../alert/drill.js';

async function sendWithRetry(notifier: Notifier, n: AlertNotification): Promise<{ ok: boolean; detail: string }> {
  for (let attempt = 1; ; attempt++) {
    const r = await notifier.send(n, AbortSignal.timeout(15_000));
    if (r.ok) return { ok: true, detail: `delivered${r.status ? ` (HTTP ${r.status})` : ''}` };
    if (!r.retryable || attempt >= 3) return { ok: false, detail: r.error };
    await new Promise((res) => setTimeout(res, Math.min(r.retryAfterMs ?? 1000 * attempt, 30_000)));
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const opts = parseOptions(argv, {
      config: { type: 'string', short: 'c' }, store: { type: 'string' }, code: { type: 'string' }, 'dry-run': { type: 'boolean' },
      account: { type: 'string' }, region: { type: 'string' }, type: { type: 'string' },
    }, USAGE);
    if (!opts) return 0;
    if (!opts.store || !opts.code) throw new UsageError(`--store and --code are required\n\n${USAGE}`);
    if (!/^[A-Z0-9_]{2,64}$/.test(opts.code)) throw new UsageError(`--code must be a ConnectionErrorCode such as INVALID_CREDENTIALS, not ${JSON.stringify(opts.code)}`);
    if (Boolean(opts.account) !== Boolean(opts.region)) throw new UsageError('--account and --region go together');
    const config = loadConfig(opts.config);
    if (config.alerting.channels.length === 0) throw new UsageError('alerting.channels is empty: there is nowhere to send a drill');

    const found = opts.account ? null : await findStore(config, opts.store);
    if (!found && !opts.account) throw new UsageError(`store ${opts.store} was not found in any configured account and region (pass --account and --region to drill it anyway)`);
    const type = found?.type ?? opts.type ?? 'AWS_CLOUDHSM';
    const subject: AlertSubject = {
      accountId: found?.accountId ?? opts.account!,
      accountName: found?.accountName ?? opts.account!,
      region: found?.region ?? opts.region!,
      storeId: opts.store,
      storeName: found?.name ?? opts.store,
      storeType: type,
      state: 'FAILED',
      errorCode: opts.code,
      clusterId: found?.clusterId ?? (type === 'AWS_CLOUDHSM' ? 'cluster-EXAMPLEabcde' : null),
      details: { Drill: 'This is a test notification; the store was not touched.' },
    };
    const n = drillNotification(subject, Date.now());
    const notifiers = createNotifiers(config.alerting.channels);
    if (opts['dry-run']) {
      const payloads = notifiers.map((x) => ({ channel: x.id, type: x.type, payload: x.render(n) }));
      process.stdout.write(JSON.stringify(redactValue(payloads), null, 2) + '\n');
      return 0;
    }
    let failed = 0;
    for (const x of notifiers) {
      const r = await sendWithRetry(x, n);
      if (!r.ok) failed++;
      process.stdout.write(`${x.id.padEnd(16)} ${r.ok ? 'ok    ' : 'FAILED'} ${r.detail}\n`);
    }
    return failed ? 1 : 0;
  } catch (err) {
    return reportFailure(err);
  }
}
