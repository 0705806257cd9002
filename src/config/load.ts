// Reads, interpolates and validates the YAML configuration. Errors name the file, the key path and the problem:
// every way the file can be unreadable or unparsable, and every file or directory it refers to that is
// unusable, is a ConfigError (exit 2), never a bare JavaScript error.
import { isMap, isScalar, LineCounter, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { isSecretKey, registerSecret } from '../util/redact.js';
import { checkReferencedPaths, readConfigFile } from './files.js';
import { urlSecrets } from '../util/db-url.js';

export const DEFAULT_CONFIG_PATH = 'config/keystore-watch.yaml';

export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(readonly source: string, readonly problems: string[]) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Renders a zod path as operators write keys: alerting.channels[0].webhookUrl */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out || '(top level)';
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const shown = issue.keys.slice(0, 20).join(', ') + (issue.keys.length > 20 ? ` and ${issue.keys.length - 20} more` : '');
    return `${key === '(top level)' ? '' : key + '.'}${shown}: unknown key${issue.keys.length > 1 ? 's' : ''}`;
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `${key}: is required`;
  return `${key}: ${issue.message}`;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${VAR} and ${VAR:-default} in every string of the document; unset variables are errors naming the key. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[] = [], problems: string[] = []): unknown {
  if (typeof value === 'string') {
    const out = value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return '';
    });
    // Whether a value is a secret depends on its key, not on where it came from (secretConfigValues):
    // a region or account id from ${REGION} is shown as it is.
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, [...path, i], problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, [...path, k], problems)]));
  }
  return value;
}

/** Validates an already-parsed document. */
export function parseConfig(doc: unknown, source = '<config>', env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  if (doc === null || doc === undefined) throw new ConfigError(source, ['(top level): the file is empty']);
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(source, ['(top level): expected a mapping of keys']);
  const interpolated = interpolateEnv(doc, env, [], problems);
  // Registered before validation, so the messages of a config that fails cannot carry a secret either.
  for (const v of secretConfigValues(interpolated)) registerSecret(v);
  const result = configSchema.safeParse(interpolated);
  if (!result.success || problems.length) {
    // Report unset variables once, not again as "empty value" schema errors for the same key.
    const envKeys = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))));
    const schemaProblems = result.success ? [] : result.error.issues.map(describeIssue).filter((p) => !envKeys.has(p.slice(0, p.indexOf(':'))));
    throw new ConfigError(source, [...problems, ...schemaProblems]);
  }
  return result.data;
}

/**
 * The configuration's secrets, by key (util/redact.ts isSecretKey: routingKey, hmacSecret, authToken,
 * webhookUrl, header names such as Authorization or X-Api-Key, any *secret*, *token*, *password* key a
 * later version adds) plus the URL of a generic webhook channel, which is a capability URL like Slack's.
 */
export function secretConfigValues(config: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string | undefined, parent: Record<string, unknown> | null): void => {
    if (typeof v === 'string') {
      // state.url: the database URL's password (the rest of the URL is not a secret and is shown).
      if (key === 'url' && parent !== null && 'backend' in parent) {
        out.push(...urlSecrets(v));
        return;
      }
      if (key !== undefined && (isSecretKey(key) || (key === 'url' && parent?.type === 'webhook'))) {
        out.push(v);
        // "Bearer xyz" / "Basic xyz": the credential alone may show up too (a receiver echoing it).
        const scheme = /^(?:Bearer|Basic|Token)\s+(\S+)$/i.exec(v);
        if (scheme) out.push(scheme[1]!);
      }
      return;
    }
    if (Array.isArray(v)) return v.forEach((x) => walk(x, key, parent));
    if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(x, k, v as Record<string, unknown>);
    }
  };
  walk(config, undefined, null);
  return out;
}

/** Where an alias leads back into its own anchor (a: &a { b: *a }): the key path of the loop, else null. */
function findCycle(value: unknown, path: PropertyKey[] = [], onPath = new Set<object>()): string | null {
  if (!value || typeof value !== 'object') return null;
  if (onPath.has(value)) return formatPath(path);
  onPath.add(value);
  for (const [k, v] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
    const found = findCycle(v, [...path, k], onPath);
    if (found) return found;
  }
  onPath.delete(value);
  return null;
}

/** Aliases a file may expand, counted by the yaml package: far above what a config needs, far below an alias bomb. */
const MAX_ALIAS_COUNT = 100;

export function parseConfigText(text: string, source = '<config>', env: NodeJS.ProcessEnv = process.env): Config {
  // Duplicate keys are found below in one pass: the yaml package's uniqueKeys compares every key with
  // every other (quadratic: minutes for a 1 MB file of keys).
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, lineCounter });
  if (doc.errors.length) {
    throw new ConfigError(source, doc.errors.map((e) => `YAML syntax (line ${e.linePos?.[0]?.line ?? '?'}): ${e.message.split('\n')[0]}`));
  }
  const duplicates: string[] = [];
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return;
      const seen = new Set<string>();
      for (const item of map.items) {
        const k = isScalar(item.key) ? `s:${String(item.key.value)}` : `j:${JSON.stringify(item.key)}`;
        if (seen.has(k)) {
          const at = isScalar(item.key) && item.key.range ? lineCounter.linePos(item.key.range[0]).line : '?';
          duplicates.push(`YAML syntax (line ${at}): Map keys must be unique (${isScalar(item.key) ? String(item.key.value) : 'a complex key'} appears twice)`);
        }
        seen.add(k);
      }
    },
  });
  if (duplicates.length) throw new ConfigError(source, duplicates.slice(0, 20));
  // An unknown tag (!vault, !!js/function) would silently become a plain string: refuse it instead.
  const tags = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (tags.length) {
    throw new ConfigError(source, tags.map((w) => `YAML (line ${w.linePos?.[0]?.line ?? '?'}): ${w.message.split(' at line')[0].split('\n')[0]}; keystore-watch expands no YAML tags (use \${VAR} for values from the environment)`));
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const msg = (err as Error).message;
    throw new ConfigError(source, [/Excessive alias count/.test(msg)
      ? `YAML aliases: the document expands aliases more than ${MAX_ALIAS_COUNT} times (an alias bomb?); write the values out`
      : `YAML aliases: ${msg}`]);
  }
  const cycle = findCycle(data);
  if (cycle) throw new ConfigError(source, [`${cycle}: YAML alias cycle (an alias refers to a node that contains it)`]);
  return parseConfig(data, source, env);
}

/**
 * Resolves --config (or the default file) and loads it: the file must be a readable regular file of
 * valid UTF-8 under the size limit, and the files and directories it names must be usable.
 */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const file = path ?? DEFAULT_CONFIG_PATH;
  const read = readConfigFile(file, path === undefined ? `no --config given and ${DEFAULT_CONFIG_PATH} does not exist` : undefined);
  if (!read.ok) throw new ConfigError(file, [read.problem]);
  const config = parseConfigText(read.text, file, env);
  const problems = checkReferencedPaths(config);
  if (problems.length) throw new ConfigError(file, problems);
  return config;
}
