// The delivery log of one channel: the ids it has finished with for good (delivered, dead-lettered,
// dropped), newest last and bounded, so a re-enqueued id (a poll replayed after a crash) is recognised
// and not sent twice. An id that has aged out of the bound is treated as new.
import type { DeliveryRecord } from './outbox-records.js';

export class DeliveryLog {
  private readonly records: DeliveryRecord[] = [];
  /** Ids in `records` with how many records each has (an id can end more than once: dropped, re-queued, delivered). */
  private readonly ids = new Map<string, number>();

  constructor(private readonly limit: number) {}

  /** Appends a record; the oldest beyond the limit are forgotten. */
  remember(rec: DeliveryRecord): void {
    this.records.push(rec);
    this.ids.set(rec.id, (this.ids.get(rec.id) ?? 0) + 1);
    while (this.records.length > this.limit) {
      const old = this.records.shift()!;
      const n = (this.ids.get(old.id) ?? 1) - 1;
      if (n <= 0) this.ids.delete(old.id); else this.ids.set(old.id, n);
    }
  }

  /** Whether the channel has finished with this id (within the bound). */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Oldest first. */
  list(): DeliveryRecord[] {
    return this.records.slice();
  }

  get size(): number {
    return this.records.length;
  }
}
