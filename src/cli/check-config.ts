// keystore-watch check-config: validates the configuration, resolves accounts (Organizations included)
// and prints the targets it would poll.
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { readLatestSnapshot } from './state-reader.js';
import { cronInterval, cronWarnings, describeCron, describeInterval, parseCron } from '../config/cron.js';
import { cloudWatchMonthlyCost, usd } from '../collect/cloudwatch-cost.js';
import { fdWarning } from '../server/fd-budget.js';
import { regionsToPoll } from '../discover/regions.js';
import { describeUrl } from '../util/db-url.js';
import { parseOptions, printable, reportFailure, UsageError } from './common.js';
import { parseSampleLabels, routingReport, sampleRouteReport } from './route-report.js';

const USAGE = `usage: keystore-watch check-config [--config FILE] [--offline] [--route LABELS]

Validates the configuration (exit 2 naming the key on errors), resolves the accounts (including
AWS Organizations discovery unless --offline) and prints the account x region targets, and the
channels a critical alert about each account reaches (alerting.routes).

  --route LABELS   the channels a sample alert with these labels reaches, e.g.
                   --route account_name=payments-prod,severity=critical (the labels of the account
                   it names are added; severity defaults to critical)`;

export async function main(argv: string[]): Promise<number> {
  try {
    const opts = parseOptions(argv, { config: { type: 'string', short: 'c' }, offline: { type: 'boolean' }, route: { type: 'string' } }, USAGE);
    if (!opts) return 0;
    let sample: Record<string, string> | null = null;
    try {
      if (opts.route !== undefined) sample = parseSampleLabels(opts.route);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const config = loadConfig(opts.config);
    // Loaded after the config is known good: a config error is reported without loading the AWS SDK.
    const [{ AwsClients }, { Poller }, { buildTargets }] = await Promise.all([import('../collect/aws-clients.js'), import('../collect/poller.js'), import('../discover/targets.js')]);
    let orgFailed = false;
    const effective = opts.offline ? { ...config, organizations: { ...config.organizations, enabled: false } } : config;
    const clients = new AwsClients({ aws: config.aws });
    try {
      const poller = new Poller({
        config: effective,
        clients,
        onOrganizationsError: (e) => {
          orgFailed = true;
          process.stderr.write(`error: Organizations ListAccounts failed: ${e.code}: ${e.message}\n`);
        },
        onOrganizationsPartial: (problems) => {
          for (const p of problems) process.stderr.write(`warning: Organizations ${p.operation} failed for ${p.accounts} account(s): ${p.error.code}: ${p.error.message} (their OU path and tags are unknown; grant organizations:${p.operation})\n`);
        },
      });
      let accounts;
      try {
        accounts = await poller.accounts();
      } finally {
        poller.close();
      }
      // From the accounts just resolved: asking the poller again would list the organization a second time.
      const regions = regionsToPoll(config.regions, null, config.excludeRegions);
      const targets = regions ? buildTargets(accounts, regions) : [];
      const shape = regions ? `${regions.length} region(s) = ${targets.length} target(s)` : 'the regions each account has enabled (read with account:ListRegions when polling)';
      process.stdout.write(`configuration OK: ${accounts.length} account(s) x ${shape}; schedule "${config.schedule}"; ${config.alerting.channels.length} alert channel(s)\n`);
      for (const a of accounts) {
        const owner = [a.ouPath ? `ou ${printable(a.ouPath)}` : '', ...Object.entries(a.tags).map(([k, v]) => `${printable(k)}=${printable(v)}`)].filter(Boolean).join(' ');
        process.stdout.write(`  ${a.id}  ${printable(a.name).padEnd(24)} ${a.source.padEnd(13)} ${a.roleArn ?? '(own credentials)'}${a.externalId ? ' (external id set)' : ''}${owner ? `  ${owner}` : ''}\n`);
      }
      process.stdout.write(`  regions: ${regions ? regions.join(', ') : 'enabled'}${config.excludeRegions.length ? ` (excluding ${config.excludeRegions.join(', ')})` : ''}; partition home region ${config.aws.homeRegion}\n`);
      // The schema has validated it; the words and the real interval catch a schedule that means something else.
      const cron = parseCron(config.schedule);
      if (cron.ok) {
        process.stdout.write(`  schedule: "${config.schedule}" = ${describeCron(cron.cron)}; interval: ${describeInterval(cron.cron)}\n`);
        for (const w of cronWarnings(cron.cron)) process.stderr.write(`warning: ${w}\n`);
      }
      const st = config.state;
      process.stdout.write(st.backend === 'postgres'
        ? `  state: PostgreSQL ${describeUrl(st.url)} schema ${st.schema}; leader lease ${st.leaseDuration / 1000}s renewed every ${st.renewInterval / 1000}s\n`
        : `  state: files under ${config.stateDir} (one replica)\n`);
      if (cron.ok && config.cloudwatch.enabled) {
        const interval = cronInterval(cron.cron).minMs;
        // CloudWatch is read at most once per cloudwatch.period, whatever the schedule.
        if (interval) process.stdout.write(`${await cloudWatchCostLines(config, Math.max(interval, config.cloudwatch.period))}\n`);
      }
      const fd = fdWarning(config);
      if (fd) process.stderr.write(`warning: ${fd}\n`);
      process.stdout.write(`${routingReport(config, accounts).join('\n')}\n`);
      if (sample) process.stdout.write(`${sampleRouteReport(config, accounts, sample).join('\n')}\n`);
      return orgFailed ? 3 : 0;
    } finally {
      clients.close();
    }
  } catch (err) {
    return reportFailure(err);
  }
}

/**
 * The monthly CloudWatch estimate: per store, and for the fleet of the last snapshot in stateDir when there
 * is one (check-config does not poll AWS for store counts).
 */
async function cloudWatchCostLines(config: Config, intervalMs: number): Promise<string> {
  const one = (xks: number, hsm: number) => cloudWatchMonthlyCost({ xksStores: xks, cloudHsmStores: hsm, targetsWithStores: 0, pollIntervalMs: intervalMs });
  const perXks = one(1, 0);
  const lines = [`  cloudwatch: GetMetricData is billed per metric requested ($0.01 per 1,000, us-east-1): about ${usd(perXks.getMetricDataUsd)}/month per external key store (~${perXks.metricsPerPoll} metrics a poll), ${usd(one(0, 1).getMetricDataUsd)}/month per CloudHSM key store, at ${perXks.pollsPerMonth.toLocaleString('en-US')} reads a month (at most one per cloudwatch.period)`];
  try {
    // The daemon's last committed snapshot (files or PostgreSQL), read without writing anything.
    const snap = await readLatestSnapshot(config);
    if (!snap) throw new Error('no snapshot yet');
    const stores = snap.stores;
    const xks = stores.filter((s) => s.type === 'EXTERNAL_KEY_STORE').length;
    const hsm = stores.filter((s) => s.type === 'AWS_CLOUDHSM').length;
    const targets = new Set(stores.map((s) => `${s.accountId}/${s.region}`)).size;
    const fleet = cloudWatchMonthlyCost({ xksStores: xks, cloudHsmStores: hsm, targetsWithStores: targets, pollIntervalMs: intervalMs });
    lines.push(`  cloudwatch: for the fleet of the last snapshot (${xks} external, ${hsm} CloudHSM key stores): about ${usd(fleet.getMetricDataUsd)}/month GetMetricData, plus ${fleet.listMetricsRequests.toLocaleString('en-US')} ListMetrics requests (free up to 1,000,000 a month)`);
  } catch {
    lines.push(`  cloudwatch: no snapshot in ${config.state.backend === 'postgres' ? 'PostgreSQL' : 'stateDir'} yet: multiply by the number of stores (or run check-config again after a poll)`);
  }
  return lines.join('\n');
}
