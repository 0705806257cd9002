// keystore-watch simulate [--scenario FILE] [--listen HOST:PORT]
// Serves the AWS simulator until SIGINT/SIGTERM. Exit codes: 0 stopped by a signal, 2 bad usage or scenario.
import { parseArgs } from 'node:util';
import { DEMO_SCENARIO_PATH, loadScenarioFile, ScenarioError } from '../simulator/scenario.js';
import { startSimulator } from '../simulator/server.js';

const USAGE = `usage: keystore-watch simulate [--scenario FILE] [--listen HOST:PORT]

Serves a simulated AWS (KMS custom key stores, CloudHSM v2, STS, Organizations) for the AWS SDKs,
the AWS CLI and boto3 through an endpoint override, plus the /_sim/ control API on the same port.

  --scenario FILE     scenario YAML (default: the built-in demo, ${DEMO_SCENARIO_PATH})
  --listen HOST:PORT  address to listen on (default 127.0.0.1:4566; port 0 = any free port)`;

export async function main(argv: string[]): Promise<number> {
  let values: { scenario?: string; listen?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { scenario: { type: 'string' }, listen: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    process.stderr.write(`keystore-watch simulate: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const listen = /^(.*):(\d{1,5})$/.exec(values.listen ?? '127.0.0.1:4566');
  if (!listen || Number(listen[2]) > 65535) {
    process.stderr.write(`keystore-watch simulate: --listen must be HOST:PORT, got ${JSON.stringify(values.listen)}\n`);
    return 2;
  }
  const host = listen[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  let scenario;
  try {
    scenario = loadScenarioFile(values.scenario ?? DEMO_SCENARIO_PATH);
  } catch (err) {
    if (err instanceof ScenarioError) {
      process.stderr.write(`keystore-watch simulate: invalid scenario\n${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let sim;
  try {
    sim = await startSimulator({ scenario, host, port: Number(listen[2]) });
  } catch (err) {
    process.stderr.write(`keystore-watch simulate: cannot listen on ${values.listen ?? '127.0.0.1:4566'}: ${(err as Error).message}\n`);
    return 2;
  }
  const stats = sim.fleet.stats();
  process.stdout.write(`simulator listening on ${sim.url}\n`);
  process.stdout.write(
    `scenario ${values.scenario ?? 'demo'}: ${stats.accounts} accounts, ${stats.stores} key stores, ${stats.clusters} clusters\n` +
      `base credentials: AWS_ACCESS_KEY_ID=${sim.credentials.accessKeyId} AWS_SECRET_ACCESS_KEY=<anything>${sim.credentials.sessionToken ? ` AWS_SESSION_TOKEN=${sim.credentials.sessionToken}` : ''}\n` +
      `try: aws kms describe-custom-key-stores --endpoint-url ${sim.url} --region us-east-1\n` +
      `control API: ${sim.url}/_sim/fleet\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await sim.close();
  return 0;
}
