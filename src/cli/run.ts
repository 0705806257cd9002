// keystore-watch run: the daemon. Stops gracefully on SIGTERM/SIGINT.
import type { Daemon } from '../daemon.js';
import { createLogger } from '../log.js';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../config/load.js';
import { cronWarnings, parseCron } from '../config/cron.js';
import { fdWarning } from '../server/fd-budget.js';
import { parseOptions, reportFailure } from './common.js';

const USAGE = `usage: keystore-watch run [--config FILE]

Polls every custom key store on the configured schedule (and once at start-up), serves /metrics,
/healthz, /readyz and /api/v1, and sends alerts through the configured channels. SIGHUP (or
POST /-/reload with the API token) re-reads the configuration file and applies it without a restart.`;

export async function main(argv: string[]): Promise<number> {
  let daemon: Daemon;
  try {
    const opts = parseOptions(argv, { config: { type: 'string', short: 'c' } }, USAGE);
    if (!opts) return 0;
    const config = loadConfig(opts.config);
    const configPath = opts.config;
    const logger = createLogger({ level: config.logLevel });
    const cron = parseCron(config.schedule);
    if (cron.ok) for (const w of cronWarnings(cron.cron)) logger.warn({ schedule: config.schedule }, w);
    const fd = fdWarning(config);
    if (fd) logger.warn({ maxConnections: config.http.maxConnections }, fd);
    // Loaded after the config is known good: a config error is reported without loading the AWS SDK.
    const { Daemon } = await import('../daemon.js');
    // Hot reload (src/config/reload.ts): SIGHUP and POST /-/reload re-read the same file.
    daemon = new Daemon({ config, logger, configSource: { path: configPath ?? DEFAULT_CONFIG_PATH, load: () => loadConfig(configPath) } });
    const onHup = () => { void daemon.reloader?.reload('SIGHUP'); };
    process.on('SIGHUP', onHup);
    // The signal handlers come first: the outbox delivers while start() still waits for STS, and a
    // SIGTERM then must stop the daemon cleanly (lock released, exit 0), not kill it by the default action.
    const stopped = new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        // A second signal while stopping exits at once.
        process.once(signal as NodeJS.Signals, () => process.exit(130));
        daemon.stop().then(resolve, (err) => { logger.error({ err }, 'error while stopping'); resolve(); });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await daemon.start();
    await stopped;
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}
