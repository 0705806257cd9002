// Shared plumbing of the sub-commands: option parsing, config loading with exit code 2 on errors.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../config/load.js';
import { redact } from '../util/redact.js';

export class UsageError extends Error {
  readonly exitCode = 2;
}

export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  try {
    const parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
    if ((parsed.values as { help?: boolean }).help) {
      process.stdout.write(usage + '\n');
      return null;
    }
    return parsed.values as { [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string };
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
}

/** Prints a failure the way every command does and returns its exit code. */
export function reportFailure(err: unknown): number {
  // Also errors that carry exitCode 2 themselves (a stateDir that is unusable or locked by another daemon).
  if (err instanceof ConfigError || err instanceof UsageError || (err as { exitCode?: unknown } | null)?.exitCode === 2) {
    process.stderr.write(`keystore-watch: ${redact((err as Error).message)}\n`);
    return 2;
  }
  process.stderr.write(`keystore-watch: ${redact(err instanceof Error ? err.message : String(err))}\n`);
  return 1;
}

/** Removes terminal control characters from text that came from AWS before it reaches a terminal. */
export const printable = (s: string | null | undefined): string => (s ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '?');
