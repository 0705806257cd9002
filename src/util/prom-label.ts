// Prometheus label names for account tags. Tag keys come from the configuration (organizations.tags,
// accounts[].tags), so a collision between two keys is caught when the config is loaded; the renderer
// still refuses to write one label twice, because a duplicate label name makes the whole exposition invalid.

/** Label names Prometheus accepts: [a-zA-Z_][a-zA-Z0-9_]*, and names starting with __ are reserved. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The label of a tag key, in the snake_case Prometheus asks of label names (promtool's lint): `tag_`
 * followed by the key with a "_" between a lower-case letter or digit and an upper-case letter,
 * lower-cased, and every character outside [a-z0-9_] (one per code point: ":", "-", "/", spaces,
 * letters outside ASCII) replaced by "_". So CostCenter, cost-center and cost:center all export as
 * tag_cost_center (the config refuses two keys that meet like that). The prefix keeps the result a valid
 * name that is never reserved (__name__) and never clashes with account_id, account_name or ou_path.
 */
export function tagLabelName(key: string): string {
  let out = 'tag_';
  for (const ch of key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()) out += /[a-z0-9_]/.test(ch) ? ch : '_';
  return out;
}

/** Pairs of configured tag keys that would export as the same label: [label, first key, second key]. */
export function tagLabelCollisions(keys: Iterable<string>): [string, string, string][] {
  const byLabel = new Map<string, string>();
  const out: [string, string, string][] = [];
  for (const k of keys) {
    const label = tagLabelName(k);
    const first = byLabel.get(label);
    if (first === undefined) byLabel.set(label, k);
    else if (first !== k) out.push([label, first, k]);
  }
  return out;
}
