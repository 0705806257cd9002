// Two views of a StateBackend the replicated daemon needs (src/daemon.ts, state.backend: postgres):
//
//   readOnlyView   a follower's: reads go to the backend, writes resolve WITHOUT writing. A follower
//                  opens the alert pipeline and the outbox only to serve /api/v1/* from the leader's
//                  committed state; the outbox may want to write at open (it marks interrupted sends
//                  for re-sending), which is the leader's business, never a follower's.
//   termView       one leader term's: every write goes to the shared backend; a NotLeaderError (the
//                  database says another replica holds the lease, or ours expired by the database's
//                  clock) is reported once through onNotLeader (the daemon steps down) and rethrown,
//                  never absorbed; close() ends the term without closing the shared backend.
import { isNotLeaderError, type Fence, type LoadOptions, type LoadedState, type OnCallChanges, type OutboxChanges, type PartParser, type PollCommit, type Retention, type StateBackend } from './backend.js';

export function readOnlyView(inner: StateBackend): StateBackend {
  return {
    load: (opts?: LoadOptions) => inner.load(opts),
    latestSnapshot: (parse?: PartParser) => inner.latestSnapshot(parse),
    commit: async () => {},
    applyOutbox: async () => {},
    // An operator's action on a follower must fail visibly, not vanish: the leader writes on-call records.
    applyOnCall: async () => { throw new Error('this replica follows; silences and acknowledgements are written by the leader (see /api/v1/replica)'); },
    close: async () => {},
  };
}

export function termView(inner: StateBackend, onNotLeader: (err: Error) => void): StateBackend {
  let closed = false;
  let told = false;
  const fenced = <T>(p: Promise<T>): Promise<T> => p.catch((err: unknown) => {
    if (isNotLeaderError(err) && !told) {
      told = true;
      onNotLeader(err as Error);
    }
    throw err;
  });
  const ended = () => Promise.reject(new Error('this leader term has ended: its state backend is closed'));
  return {
    load: (opts?: LoadOptions): Promise<LoadedState> => inner.load(opts),
    latestSnapshot: (parse?: PartParser) => inner.latestSnapshot(parse),
    commit: (fence: Fence, poll: PollCommit, retention: Retention) => {
      if (closed) return ended();
      return fenced(inner.commit(fence, poll, retention));
    },
    applyOutbox: (fence: Fence, changes: OutboxChanges, retention: Retention) => {
      if (closed) return ended();
      return fenced(inner.applyOutbox(fence, changes, retention));
    },
    applyOnCall: (fence: Fence, changes: OnCallChanges) => {
      if (closed) return ended();
      if (!inner.applyOnCall) return Promise.reject(new Error('this state backend keeps no on-call records'));
      return fenced(inner.applyOnCall(fence, changes));
    },
    close: async () => { closed = true; },
  };
}
