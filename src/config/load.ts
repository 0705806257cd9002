// Reads, interpolates and validates the YAML configuration. Errors name the file, the key path and the problem.
import { existsSync, readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { registerSecret } from '../util/redact.js';

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
  if (issue.code === 'unrecognized_keys') return `${key === '(top level)' ? '' : key + '.'}${issue.keys.join(', ')}: unknown key${issue.keys.length > 1 ? 's' : ''}`;
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `${key}: is required`;
  return `${key}: ${issue.message}`;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${VAR} and ${VAR:-default} in every string of the document; unset variables are errors naming the key. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[] = [], problems: string[] = []): unknown {
  if (typeof value === 'string') {
    let usedEnv = false;
    const out = value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      usedEnv = true;
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return '';
    });
    // Anything that came from the environment may be a secret: never let it reach logs or errors.
    if (usedEnv && out !== value) registerSecret(out);
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
  const result = configSchema.safeParse(interpolated);
  if (!result.success || problems.length) {
    // Report unset variables once, not again as "empty value" schema errors for the same key.
    const envKeys = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))));
    const schemaProblems = result.success ? [] : result.error.issues.map(describeIssue).filter((p) => !envKeys.has(p.slice(0, p.indexOf(':'))));
    throw new ConfigError(source, [...problems, ...schemaProblems]);
  }
  const config = result.data;
  for (const ch of config.alerting.channels) {
    if (ch.type === 'slack') registerSecret(ch.webhookUrl);
    if (ch.type === 'pagerduty') registerSecret(ch.routingKey);
    if (ch.type === 'webhook' && ch.hmacSecret) registerSecret(ch.hmacSecret);
  }
  if (config.http.authToken) registerSecret(config.http.authToken);
  return config;
}

export function parseConfigText(text: string, source = '<config>', env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(source, doc.errors.map((e) => `YAML syntax (line ${e.linePos?.[0]?.line ?? '?'}): ${e.message.split('\n')[0]}`));
  }
  return parseConfig(doc.toJS(), source, env);
}

/** Resolves --config (or the default file) and loads it. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const file = path ?? DEFAULT_CONFIG_PATH;
  if (!existsSync(file)) {
    throw new ConfigError(file, [path ? 'file not found' : `no --config given and ${DEFAULT_CONFIG_PATH} does not exist`]);
  }
  return parseConfigText(readFileSync(file, 'utf8'), file, env);
}
