// The name a command travels to an SDK thread under comes from the shared table, not from the class's
// `name`, which a bundler may change (esbuild's `class _DescribeClustersCommand`).
import { describe, expect, it } from 'vitest';
import { DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { DescribeCustomKeyStoresCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { threadedCommand, threadedCommandName, THREADED_COMMANDS } from '../../src/collect/threaded-commands.js';

describe('threaded commands', () => {
  it('names a command by its class, whatever the class calls itself', () => {
    const own = Object.getOwnPropertyDescriptor(DescribeClustersCommand, 'name')!;
    Object.defineProperty(DescribeClustersCommand, 'name', { value: '_DescribeClustersCommand', configurable: true });
    try {
      expect(DescribeClustersCommand.name).toBe('_DescribeClustersCommand');
      expect(threadedCommandName(new DescribeClustersCommand({}))).toBe('DescribeClustersCommand');
    } finally {
      Object.defineProperty(DescribeClustersCommand, 'name', own);
    }
  });

  it('round-trips every command in the table and refuses any other', () => {
    for (const [service, table] of Object.entries(THREADED_COMMANDS) as [keyof typeof THREADED_COMMANDS, Record<string, new (input: never) => object>][]) {
      for (const [name, cls] of Object.entries(table)) {
        expect(threadedCommandName(new cls({} as never))).toBe(name);
        expect(threadedCommand(service, name)).toBe(cls);
      }
    }
    expect(threadedCommandName(new ScheduleKeyDeletionCommand({ KeyId: 'k' }))).toBeNull();
    expect(threadedCommand('kms', 'ScheduleKeyDeletionCommand')).toBeUndefined();
    expect(threadedCommand('kms', 'constructor')).toBeUndefined();
    expect(threadedCommand('cloudhsmv2', 'DescribeCustomKeyStoresCommand')).toBeUndefined();
    expect(threadedCommandName(new DescribeCustomKeyStoresCommand({}))).toBe('DescribeCustomKeyStoresCommand');
  });
});
