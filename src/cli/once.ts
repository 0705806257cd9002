// keystore-watch once: one sweep, printed as a table or JSON; the exit code says whether all is well.
import type { Snapshot } from '../model.js';
import { publicStore } from '../snapshot/public.js';
import { enrichmentSummary } from '../snapshot/enrichment.js';
import { AwsClients } from '../collect/aws-clients.js';
import { SnapshotPoller } from '../pipeline/snapshot-poller.js';
import { loadConfig } from '../config/load.js';
import { parseOptions, printable, reportFailure, UsageError } from './common.js';

const USAGE = `usage: keystore-watch once [--config FILE] [--format table|json]

One sweep of every account x region. Exit codes: 0 every store CONNECTED and every target answered,
1 a store is not CONNECTED, 3 a target failed or Organizations could not list the accounts (only part
of the fleet was swept), 2 usage or configuration error. A region the account
has not enabled (status not_enabled) or that a service control policy denies (denied) is not a failure.`;

/** `discoveryFailed`: Organizations could not list the accounts, so the snapshot holds only the explicit ones. */
export function exitCodeFor(snapshot: Snapshot, discoveryFailed = false): number {
  if (discoveryFailed || snapshot.targets.some((t) => t.status === 'failed')) return 3;
  if (snapshot.stores.some((s) => s.state !== 'CONNECTED')) return 1;
  return 0;
}

export function toJson(snapshot: Snapshot) {
  return {
    stores: snapshot.stores.filter((s) => !s.stale).map((s) => {
      const { accountId, accountName, ouPath, tags, region, customKeyStoreId, customKeyStoreName, customKeyStoreType, connectionState, connectionErrorCode, cloudHsmClusterId } = publicStore(s);
      return { accountId, accountName, ouPath, tags, region, customKeyStoreId, customKeyStoreName, customKeyStoreType, connectionState, connectionErrorCode, cloudHsmClusterId };
    }),
    targets: snapshot.targets.map((t) => ({ accountId: t.accountId, region: t.region, status: t.status, ok: t.ok, error: t.error ? `${t.error.code}: ${t.error.message}` : null })),
  };
}

/**
 * What the sweep could not add to the stores: CloudHSM DescribeClusters or CloudWatch failed for some
 * targets (the exit code stays the stores' and targets'; the daemon says this through
 * keystore_watch_cloudhsm_enrichment_up and keystore_watch_cloudwatch_up). One line per service and error code.
 */
export function enrichmentWarnings(snapshot: Snapshot): string[] {
  return enrichmentSummary(snapshot.targets).failures.map((f) => {
    const what = f.service === 'cloudhsm' ? 'CloudHSM DescribeClusters' : f.denied ? 'CloudWatch (denied)' : 'CloudWatch';
    return `warning: ${what} failed for ${f.targets} target(s) (${printable(f.code)}${f.example ? `: ${printable(f.example).slice(0, 200)}` : ''}); the stores are reported without those facts`;
  });
}

export function toTable(snapshot: Snapshot): string {
  const rows = [['ACCOUNT', 'NAME', 'REGION', 'STORE ID', 'STORE NAME', 'TYPE', 'STATE', 'ERROR', 'CLUSTER']];
  for (const s of snapshot.stores) {
    rows.push([s.accountId, s.accountName, s.region, s.id, s.name, s.type === 'EXTERNAL_KEY_STORE' ? 'EXTERNAL' : s.type === 'AWS_CLOUDHSM' ? 'CLOUDHSM' : s.type, s.state, s.errorCode ?? '', s.clusterId ?? ''].map((c) => {
      const p = printable(c);
      return p.length > 40 ? p.slice(0, 39) + '…' : p;
    }));
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const down = snapshot.targets.filter((t) => t.status === 'failed');
  const notEnabled = snapshot.targets.filter((t) => t.status === 'not_enabled');
  const denied = snapshot.targets.filter((t) => t.status === 'denied');
  const byState = new Map<string, number>();
  for (const s of snapshot.stores) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
  const extra = [notEnabled.length ? `${notEnabled.length} not enabled` : '', denied.length ? `${denied.length} denied by a service control policy` : ''].filter(Boolean).join(', ');
  lines.push('', `${snapshot.stores.length} stores (${[...byState].map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}) in ${snapshot.targets.length} account-region targets; ${down.length} target(s) failed${extra ? `; ${extra}` : ''}`);
  for (const t of [...down, ...denied]) lines.push(`  ${t.accountId} ${t.region}: ${t.status === 'denied' ? 'denied: ' : ''}${t.error?.code}: ${printable(t.error?.message)}`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  try {
    const opts = parseOptions(argv, { config: { type: 'string', short: 'c' }, format: { type: 'string', short: 'f' } }, USAGE);
    if (!opts) return 0;
    const format = opts.format ?? (process.stdout.isTTY ? 'table' : 'json');
    if (format !== 'table' && format !== 'json') throw new UsageError(`--format must be table or json, not ${JSON.stringify(format)}`);
    const config = loadConfig(opts.config);
    const clients = new AwsClients({ aws: config.aws, onWarning: (message) => process.stderr.write(`warning: ${printable(message)}\n`) });
    const progress = process.stderr.isTTY;
    let discoveryFailed = false;
    const poller = new SnapshotPoller({
      config,
      clients,
      onProgress: progress ? (done, total) => process.stderr.write(`\r\x1b[Kpolled ${done}/${total} targets`) : undefined,
      onOrganizationsError: (e) => {
        discoveryFailed = true;
        process.stderr.write(`warning: Organizations ListAccounts failed (${e.code}); using the explicit accounts only\n`);
      },
      onOrganizationsPartial: (problems) => {
        for (const p of problems) process.stderr.write(`warning: Organizations ${p.operation} failed for ${p.accounts} account(s) (${p.error.code}); their OU path and tags are unknown\n`);
      },
    });
    try {
      // The SDK threads load while STS answers (the poll waits for them).
      void clients.startSdkThreads();
      // Quietly: only what changes behaviour (the role-chaining cap) is printed, as a warning.
      await clients.identify().catch((err: unknown) => process.stderr.write(`warning: STS GetCallerIdentity failed (${printable(err instanceof Error ? err.name : String(err))}); polling anyway\n`));
      const snapshot = await poller.poll(null);
      if (progress) process.stderr.write('\r\x1b[K');
      for (const line of enrichmentWarnings(snapshot)) process.stderr.write(`${line}\n`);
      process.stdout.write(format === 'json' ? JSON.stringify(toJson(snapshot), null, 2) + '\n' : toTable(snapshot) + '\n');
      return exitCodeFor(snapshot, discoveryFailed);
    } finally {
      poller.close();
      clients.close();
    }
  } catch (err) {
    return reportFailure(err);
  }
}
