// Matchers of silences and maintenance windows, compiled once into a predicate over an alert's labels.
// The syntax and parser are Alertmanager's, shared with routing: src/util/matchers.ts.
import { matches, parseMatcherList } from '../util/matchers.js';

export class MatcherInputError extends Error {}

/** Compiles matcher strings (each may hold several, comma-separated, as amtool accepts); throws MatcherInputError on bad syntax. */
export function compileMatchers(list: readonly string[]): (labels: Record<string, string>) => boolean {
  let all;
  try {
    all = parseMatcherList(list);
  } catch (err) {
    throw new MatcherInputError(`bad matcher: ${(err as Error).message}`);
  }
  return (labels) => matches(all, labels);
}
