// Maps items through an async function with at most `concurrency` calls in flight, in order of the
// items. Workers pull the next index as they finish, so only `concurrency` promises exist at a time:
// queueing every call up front (p-limit's map) would hold one closure and promise per item, 16,000 per
// poll at 1,000 accounts x 16 regions, long enough for them to reach the old generation.
export async function mapBounded<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return out;
}
