// The commands the SDK threads send, by name: the main thread names a command by looking its class up
// here, and the thread builds it from the same table. Never from `constructor.name`: a bundler or
// minifier may rename a class (esbuild writes `class _DescribeClustersCommand` for a class that refers
// to itself), and the name would then not be found on the other side.
import { DescribeCustomKeyStoresCommand, GenerateRandomCommand } from '@aws-sdk/client-kms';
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { GetMetricDataCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import type { ThreadedService } from './sdk-threads.js';

type CommandClass = new (input: never) => unknown;

/**
 * Exactly the commands the lent clients' callers use (key-stores.ts, the probe, clusters.ts,
 * cloudwatch.ts, cloudtrail.ts), imported by name so the IAM policy scan (deploy/iam/policy.ts) sees
 * every AWS call in src/. Any other command is refused on both sides.
 */
export const THREADED_COMMANDS: Readonly<Record<ThreadedService, Readonly<Record<string, CommandClass>>>> = {
  kms: { DescribeCustomKeyStoresCommand, GenerateRandomCommand },
  cloudhsmv2: { DescribeClustersCommand },
  cloudwatch: { ListMetricsCommand, GetMetricDataCommand },
  cloudtrail: { LookupEventsCommand },
};

const NAMES = new Map<unknown, string>(Object.values(THREADED_COMMANDS).flatMap((table) => Object.entries(table).map(([name, cls]) => [cls, name] as const)));

/** The table's name of a command instance's class, or null when the threads do not send it. */
export function threadedCommandName(command: object): string | null {
  return NAMES.get(command.constructor) ?? null;
}

/** The class to build for a name the main thread sent, or undefined when the table has none. */
export function threadedCommand(service: ThreadedService, name: string): (new (input: unknown) => unknown) | undefined {
  const table = THREADED_COMMANDS[service];
  return table && Object.hasOwn(table, name) ? (table[name] as new (input: unknown) => unknown) : undefined;
}
