// keystore-watch demo: the simulator with the built-in scenario, and the daemon against it on a fast
// schedule with console alerts, so a newcomer sees stores, metrics and alerts within a minute.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../daemon.js';
import { createLogger } from '../log.js';
import { parseConfig } from '../config/load.js';
import { DEMO_SCENARIO_PATH, loadScenarioFile } from '../simulator/scenario.js';
import { startSimulator } from '../simulator/server.js';
import { baseAccessKeyId } from '../simulator/fleet.js';
import { toTable } from './once.js';
import { parseOptions, reportFailure } from './common.js';

const USAGE = `usage: keystore-watch demo [--listen HOST:PORT] [--simulator-listen HOST:PORT] [--scenario FILE] [--schedule CRON] [--duration SECONDS]

Starts the AWS simulator (default: the built-in demo scenario) and the daemon against it, polling every
5 seconds, with alerts on the console. Metrics: http://localhost:9464/metrics. Stop with Ctrl-C.`;

export async function main(argv: string[]): Promise<number> {
  try {
    const opts = parseOptions(argv, {
      listen: { type: 'string' }, 'simulator-listen': { type: 'string' }, scenario: { type: 'string' }, schedule: { type: 'string' }, duration: { type: 'string' },
    }, USAGE);
    if (!opts) return 0;
    // The demo runs on whatever Node the newcomer has; the SDK's Node 20 end-of-support notice is noise here.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const scenarioPath = opts.scenario ?? DEMO_SCENARIO_PATH;
    const scenario = loadScenarioFile(scenarioPath);
    const [simHost, simPort] = (opts['simulator-listen'] ?? '127.0.0.1:0').split(':');
    const sim = await startSimulator({ scenario: scenarioPath, host: simHost, port: Number(simPort) });
    const management = scenario.managementAccount ?? scenario.accounts[0]!.id;
    const regions = [...new Set(scenario.accounts.flatMap((a) => Object.keys(a.regions ?? {})))];
    const config = parseConfig({
      schedule: opts.schedule ?? '*/5 * * * * *',
      listen: opts.listen ?? '0.0.0.0:9464',
      stateDir: mkdtempSync(join(tmpdir(), 'keystore-watch-demo-')),
      aws: { endpoint: sim.url, maxAttempts: 2, requestTimeout: '5s', targetTimeout: '15s' },
      accounts: scenario.accounts.map((a) => ({
        id: a.id,
        name: a.name,
        roleArn: a.id === management ? null : `arn:aws:iam::${a.id}:role/KeystoreWatch`,
      })),
      regions,
      alerting: { confirmations: 2, repeatInterval: '10m', channels: [{ type: 'console', minSeverity: 'warning' }] },
      probe: { enabled: true, interval: '10s', failuresBeforeAlert: 2 },
    }, 'demo');
    const logger = createLogger({ level: 'warn' });
    const daemon = new Daemon({ config, logger, credentials: { accessKeyId: baseAccessKeyId(management), secretAccessKey: 'simulator' } });
    // Ctrl-C is handled from here on, before start() returns (it waits for STS while the first polls may
    // already run): a stop during start-up is a clean stop, not the default action killing the demo.
    let requestStop = (): void => {};
    const stopRequested = new Promise<void>((resolve) => { requestStop = resolve; });
    process.once('SIGINT', requestStop);
    process.once('SIGTERM', requestStop);
    const starting = daemon.start();
    if (await Promise.race([starting.then(() => false), stopRequested.then(() => true)])) {
      process.stdout.write('stopping…\n');
      await daemon.stop(3000); // waits for the start it interrupts (Daemon.stop during start)
      await starting.catch(() => undefined);
      await sim.close();
      return 0;
    }
    const out = process.stdout;
    out.write(`status page: ${daemon.url}/\n`);
    out.write(`simulator: ${sim.url} (control API ${sim.url}/_sim/fleet)\n`);
    out.write(`keystore-watch: metrics ${daemon.url}/metrics, stores ${daemon.url}/api/v1/stores, alerts ${daemon.url}/api/v1/alerts\n`);
    out.write(`polling ${config.accounts.length} accounts x ${regions.length} regions every 5 seconds; alerts appear below. Ctrl-C to stop.\n\n`);
    // Show the fleet once the first poll is in.
    const shown = setInterval(() => {
      if (!daemon.latest) return;
      clearInterval(shown);
      out.write(toTable(daemon.latest) + '\n\n');
    }, 200);
    if (opts.duration) setTimeout(requestStop, Number(opts.duration) * 1000).unref();
    await stopRequested;
    clearInterval(shown);
    out.write('stopping…\n');
    await daemon.stop(3000);
    await sim.close();
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}
