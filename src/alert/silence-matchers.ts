// Matchers of silences and maintenance windows, compiled once into a predicate over an alert's labels.
// The syntax is Alertmanager's (`name="value"`, `!=`, `=~`, `!~`; regexes anchored at both ends);
// the parser itself is src/util/matchers.ts (shared with routing), this file only adapts it.
import { matchesAll, parseMatcherList, type CompatMatcher } from '../util/matcher-compat.js';

export class MatcherInputError extends Error {}

/** Compiles matcher strings (each may hold several, comma-separated, as amtool accepts); throws MatcherInputError on bad syntax. */
export function compileMatchers(list: readonly string[]): (labels: Record<string, string>) => boolean {
  const all: CompatMatcher[] = [];
  for (const text of list) {
    try {
      all.push(...parseMatcherList(text));
    } catch (err) {
      throw new MatcherInputError(`bad matcher ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
  }
  return (labels) => matchesAll(all, labels);
}
