// SDK clients lent to one target at a time. A client's credentials and abort signal are whatever its
// current borrower set, so one client per region serves every account in turn: no client is built (and
// thrown away) per account x region per poll, and no client ever has two borrowers at once.
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { NodeHttpHandler } from '@smithy/node-http-handler';

export interface Lease<C> {
  client: C;
  /** The borrower's credentials; null between borrowers (a call then fails instead of signing as someone). */
  current: AwsCredentialIdentityProvider | null;
  /** The borrower's abort signal (target deadline, shutdown), applied to every HTTP attempt. */
  signal: AbortSignal | undefined;
}

const abortError = () => Object.assign(new Error('Request aborted'), { name: 'AbortError' });

/** p, or an AbortError as soon as the signal fires (p itself goes on and settles on its own). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/** A credential provider that asks the lease whose turn it is, on every request. */
export function leaseCredentials(lease: Lease<unknown>, service: string): () => Promise<AwsCredentialIdentity> {
  return async () => {
    if (!lease.current) throw new Error(`${service} client used outside its lease (AwsClients.with*)`);
    return lease.current();
  };
}

type HandlerOptions = Parameters<NodeHttpHandler['handle']>[1];

/**
 * The shared keep-alive handler with the borrower's signal on every attempt. Destroying one client
 * must not close the shared sockets, so destroy() does nothing.
 */
export function leaseRequestHandler(lease: Lease<unknown>, shared: NodeHttpHandler) {
  return {
    metadata: shared.metadata,
    handle: (request: Parameters<NodeHttpHandler['handle']>[0], options?: HandlerOptions) =>
      shared.handle(request, lease.signal ? { ...options, abortSignal: lease.signal } : options),
    updateHttpClientConfig: shared.updateHttpClientConfig.bind(shared),
    httpHandlerConfigs: shared.httpHandlerConfigs.bind(shared),
    destroy: () => {},
  };
}

export class LendingPool<C> {
  private readonly free = new Map<string, Lease<C>[]>();
  private built = 0;

  /** `maxIdle`: idle clients kept per key (more than the concurrency can never be in use at once). */
  constructor(private readonly build: (key: string, lease: Lease<C>) => C, private readonly maxIdle: number) {}

  /** Clients built since the pool was created (for tests and the benchmark). */
  get created(): number {
    return this.built;
  }

  /**
   * Runs fn with a client of `key` that signs as `credentials` and aborts on `signal`. Answers an
   * AbortError as soon as the signal fires, even while the SDK sleeps between retries; the client goes
   * back to the pool only once fn has settled, so it never has two borrowers.
   */
  lend<T>(key: string, credentials: AwsCredentialIdentityProvider, fn: (client: C) => Promise<T>, signal?: AbortSignal): Promise<T> {
    let free = this.free.get(key);
    if (!free) this.free.set(key, (free = []));
    let lease = free.pop();
    if (!lease) {
      const fresh: Lease<C> = { client: undefined as C, current: null, signal: undefined };
      fresh.client = this.build(key, fresh);
      this.built++;
      lease = fresh;
    }
    const l = lease;
    l.current = credentials;
    l.signal = signal;
    const release = () => {
      l.current = null;
      l.signal = undefined;
      if (free.length < this.maxIdle) free.push(l);
    };
    // A fn that throws synchronously (before returning its promise) must release the lease too, or the
    // client stays marked as lent to a borrower that is gone and is never reused.
    let run: Promise<T>;
    try {
      run = fn(l.client);
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then(release, release);
    return signal ? abortable(run, signal) : run;
  }

  clear(): void {
    this.free.clear();
  }
}
