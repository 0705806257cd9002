// The registry of condition sources, in evaluation order (the order new alerts, and so their first
// notifications, are created in within one poll). To add conditions: a new file in this folder exporting
// a ConditionSource (see context.ts), and one line here.
import type { ConditionSource } from './context.js';
import { accountConditions } from './account.js';
import { clusterConditions } from './cluster.js';
import { storeConditions } from './store.js';
import { targetConditions } from './target.js';
import { cloudWatchConditions } from './cloudwatch.js';

export const CONDITION_SOURCES: readonly ConditionSource[] = [
  storeConditions,
  clusterConditions,
  targetConditions,
  accountConditions,
  cloudWatchConditions,
];

export type { ConditionSource, EvalContext, Observation, RecordObservation } from './context.js';
