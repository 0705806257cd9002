// The StateBackend contract (test/state/backend-contract.ts) over every backend, plus what is
// particular to the file backend (its journal, its checkpoint, reading a previous version's stateDir).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { backendContract } from './backend-contract.js';

backendContract('file (small checkpoint threshold: checkpoints inside the runs)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ksw-backend-'));
  return { spec: { kind: 'file', dir, checkpointBytes: 150_000 }, lead: async () => {}, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

backendContract('file (default threshold: journal only)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ksw-backend-'));
  return { spec: { kind: 'file', dir }, lead: async () => {}, cleanup: () => rm(dir, { recursive: true, force: true }) };
});
