// keystore-watch command-line entry point: one file per sub-command, each exporting
// `main(argv): Promise<number>` that returns the process exit code.
import { pathToFileURL } from 'node:url';

type Command = { describe: string; load: () => Promise<{ main: (argv: string[]) => Promise<number> }> };

export const COMMANDS: Record<string, Command> = {
  run: { describe: 'run the daemon (poll on a schedule, serve /metrics, send alerts)', load: () => import('./run.js') },
  once: { describe: 'one sweep of every target, printed as a table or JSON', load: () => import('./once.js') },
  'check-config': { describe: 'validate the configuration and print the targets it would poll', load: () => import('./check-config.js') },
  demo: { describe: 'start the simulator and the daemon against it with a fast schedule', load: () => import('./demo.js') },
  simulate: { describe: 'serve the built-in AWS simulator (KMS, CloudHSM v2, STS, Organizations)', load: () => import('./simulate.js') },
  silence: { describe: 'add, list or expire silences on a running daemon (like amtool)', load: () => import('./silence.js') },
  ack: { describe: 'acknowledge a firing alert on a running daemon (reminders stop until it resolves)', load: () => import('./ack.js') },
  drill: { describe: 'send a clearly labelled test notification through the configured channels', load: () => import('./drill.js') },
};

export const USAGE = `usage: keystore-watch <command> [options]

commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(13)} ${c.describe}`).join('\n')}

Run 'keystore-watch <command> --help' for the options of one command.`;

export async function cli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    const { VERSION } = await import('../version.js');
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`keystore-watch: unknown command '${name}'\n\n${USAGE}\n`);
    return 2;
  }
  // `once` is timed from the shell: its SDK thread loads the AWS SDK while this thread loads the command.
  if (name === 'once') (await import('../collect/sdk-threads.js')).prestartSdkThread();
  const mod = await command.load();
  return mod.main(rest);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
// Also true when started through bin/keystore-watch.mjs, which sets this flag before importing.
if (invokedDirectly || (globalThis as { __KEYSTORE_WATCH_BIN__?: boolean }).__KEYSTORE_WATCH_BIN__) {
  cli(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`keystore-watch: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
