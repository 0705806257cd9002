// State backends for daemon tests (DaemonOptions.backend): the real FileStateBackend under a stateDir,
// wrapped to inject the failures a disk or a bug produces, or to observe writes under way.
import { FileStateBackend } from '../../src/state/file-backend.js';
import type { Fence, LoadOptions, OutboxChanges, PartParser, PollCommit, Retention, StateBackend } from '../../src/state/backend.js';

/** The real file backend under `dir` (fsync as in production). */
export const fileBackend = (dir: string): Promise<FileStateBackend> => FileStateBackend.open({ dir });

const enospc = (what: string) => Object.assign(new Error(`cannot write state file ${what}: ENOSPC: no space left on device`), { code: 'ENOSPC' });

/**
 * A backend whose writes can be made to fail:
 *   full      every write fails with ENOSPC (an I/O error: ResilientStateBackend holds it);
 *   broken    every commit fails with a programming error (not held: the poll fails visibly);
 *   failNext  the next commit fails with that error, once.
 * `writing` counts writes under way (virtual-time tests wait for 0).
 */
export class BreakableBackend implements StateBackend {
  full = false;
  broken = false;
  failNext: Error | null = null;
  writing = 0;
  commits = 0;
  constructor(readonly inner: StateBackend) {}
  load(opts?: LoadOptions) { return this.inner.load(opts); }
  latestSnapshot(parse?: PartParser) { return this.inner.latestSnapshot(parse); }
  async commit(fence: Fence, poll: PollCommit, retention: Retention): Promise<void> {
    if (this.full) throw enospc('journal.log (poll commit)');
    if (this.broken) throw new Error('alert state cannot be recorded (injected)');
    const e = this.failNext;
    if (e) {
      this.failNext = null;
      throw e;
    }
    this.writing++;
    try {
      await this.inner.commit(fence, poll, retention);
      this.commits++;
    } finally {
      this.writing--;
    }
  }
  async applyOutbox(fence: Fence, changes: OutboxChanges, retention: Retention): Promise<void> {
    if (this.full) throw enospc('journal.log (outbox write)');
    this.writing++;
    try {
      await this.inner.applyOutbox(fence, changes, retention);
    } finally {
      this.writing--;
    }
  }
  close() { return this.inner.close(); }
}
