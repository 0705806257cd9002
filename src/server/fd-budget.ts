// How many file descriptors the daemon may need, against the process's limit (ulimit -n). The HTTP
// server's connection cap exists so clients cannot take the descriptors the daemon needs for its AWS
// connections and state writes (EMFILE); this says whether the limit leaves room for all of them.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';

export interface FdBudget {
  /** Twice http.maxConnections (the cap may be exceeded for one accept batch), plus the listening socket. */
  http: number;
  /** AWS: up to aws.concurrency requests in flight, as many kept-alive sockets, and STS/Organizations. */
  aws: number;
  /** Alert channels: one connection each, and one being replaced. */
  notify: number;
  /** State files being written (temp file + directory fsync), stdio, the event loop, DNS, the runtime. */
  reserve: number;
  total: number;
}

export function fdBudget(config: Pick<Config, 'http' | 'aws' | 'alerting'>): FdBudget {
  const http = 2 * config.http.maxConnections + 2;
  const aws = 2 * config.aws.concurrency + 16;
  const notify = 2 * config.alerting.channels.length;
  const reserve = 64;
  return { http, aws, notify, reserve, total: http + aws + notify + reserve };
}

/** The soft RLIMIT_NOFILE from /proc/self/limits (Linux); null where it cannot be read. */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s+/m.exec(text);
  if (!m) return null;
  return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

/** A warning when the limit is below the budget, else null. */
export function fdWarning(config: Pick<Config, 'http' | 'aws' | 'alerting'>, limit = openFileLimit()): string | null {
  if (limit === null) return null;
  const b = fdBudget(config);
  if (limit >= b.total) return null;
  return `the open-file limit (ulimit -n) is ${limit}, below the ${b.total} file descriptors keystore-watch may need (${b.http} for http.maxConnections ${config.http.maxConnections} + ${b.aws} for AWS at aws.concurrency ${config.aws.concurrency} + ${b.notify + b.reserve} for alert channels, state files and the runtime): raise the limit or lower http.maxConnections`;
}
