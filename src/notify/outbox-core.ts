// Kept for imports written before the split: the outbox's pure policy is outbox-policy.ts, its
// persisted records outbox-records.ts.
export * from './outbox-policy.js';
export * from './outbox-records.js';
