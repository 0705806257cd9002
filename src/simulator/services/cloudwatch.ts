// CloudWatch (GraniteServiceVersion20100801): GetMetricData and ListMetrics over the metrics the fleet's
// stores and clusters publish (see ../metrics.ts). Spoken twice: AWS JSON 1.0 with awsQueryCompatible errors
// (the current @aws-sdk/client-cloudwatch) and the query protocol with XML answers (the Debian AWS CLI).
// Handlers throw query error codes (InvalidParameterValue, MissingParameter, ...); the server maps them to
// the JSON error types (InvalidParameterValueException, ...) for JSON clients.
import { createHash } from 'node:crypto';
import { AwsError } from '../errors.js';
import { STAT, statistic, type StatSet } from '../metrics.js';
import { CLOUDWATCH_NAMESPACE } from '../protocol/query.js';
import type { Input, Service, ServiceContext } from './service.js';

/** Hard limits from the GetMetricData API reference: 500 queries per call, 100,800 datapoints by default. */
export const MAX_QUERIES = 500;
export const DEFAULT_MAX_DATAPOINTS = 100_800;
const LIST_PAGE = 500;
const MINUTE = 60_000;
const DAY = 86_400_000;

const UNITS = new Set(['Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes', 'Bits', 'Kilobits', 'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second', 'Kilobytes/Second', 'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second', 'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second', 'Terabits/Second', 'Count/Second', 'None']);

const invalid = (message: string) => new AwsError('InvalidParameterValue', message);
const missing = (param: string) => new AwsError('MissingParameter', `The parameter ${param} is required.`);
const combination = (message: string) => new AwsError('InvalidParameterCombination', message);

/** JSON error type -> query code (the model's awsQueryError traits, plus the common errors). */
export const CLOUDWATCH_QUERY_CODES: Record<string, string> = {
  InvalidParameterValueException: 'InvalidParameterValue',
  MissingRequiredParameterException: 'MissingParameter',
  InvalidParameterCombinationException: 'InvalidParameterCombination',
  InvalidNextToken: 'InvalidNextToken',
  LimitExceededException: 'LimitExceededException',
  LimitExceededFault: 'LimitExceeded',
  InternalServiceFault: 'InternalServiceError',
  ThrottlingException: 'Throttling',
  AccessDeniedException: 'AccessDenied',
  UnrecognizedClientException: 'InvalidClientTokenId',
  MissingAuthenticationTokenException: 'MissingAuthenticationToken',
  IncompleteSignatureException: 'IncompleteSignature',
  ExpiredTokenException: 'ExpiredToken',
  UnknownOperationException: 'InvalidAction',
  SerializationException: 'MalformedInput',
};

// ---------- input coercion: JSON gives numbers and booleans, the query protocol strings ----------

function time(v: unknown, param: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v * 1000;
  if (typeof v === 'string' && v !== '') {
    const ms = /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : Date.parse(v);
    if (Number.isFinite(ms)) return ms;
  }
  if (v === undefined || v === null || v === '') throw missing(param);
  throw invalid(`The parameter ${param} must be a valid timestamp.`);
}

function int(v: unknown, param: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw invalid(`The parameter ${param} must be an integer.`);
  return n;
}

function bool(v: unknown, param: string): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw invalid(`The parameter ${param} must be a boolean.`);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function list(v: unknown): Record<string, unknown>[] {
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' && x !== null ? x as Record<string, unknown> : {}));
  return [];
}

function dimensions(v: unknown, path: string): { Name: string; Value: string }[] {
  const dims = list(v);
  if (dims.length > 30) throw invalid(`The collection ${path} must not have a size greater than 30.`);
  return dims.map((d, j) => {
    const Name = str(d.Name);
    const Value = str(d.Value);
    if (Name === undefined) throw missing(`${path}.member.${j + 1}.Name`);
    if (Value === undefined) throw missing(`${path}.member.${j + 1}.Value`);
    return { Name, Value };
  });
}

// ---------- GetMetricData ----------

interface ParsedQuery {
  id: string;
  label: string;
  returnData: boolean;
  namespace: string;
  metricName: string;
  dimensions: { Name: string; Value: string }[];
  period: number;
  stat: string;
  unit: string | undefined;
  accountId: string | undefined;
}

function parseQueries(input: Input): ParsedQuery[] {
  const raw = input.MetricDataQueries;
  if (raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && raw.length === 0)) throw missing('MetricDataQueries');
  const queries = list(raw);
  if (queries.length > MAX_QUERIES) throw invalid(`The collection MetricDataQueries must not have a size greater than ${MAX_QUERIES}.`);
  const ids = new Set<string>();
  return queries.map((q, i) => {
    const at = `MetricDataQueries.member.${i + 1}`;
    const id = str(q.Id);
    if (id === undefined) throw missing(`${at}.Id`);
    if (!/^[a-z][a-zA-Z0-9_]*$/.test(id) || id.length > 255) throw invalid(`The value ${id} for parameter ${at}.Id is not valid. The Id must start with a lowercase letter and contain only letters, numbers and underscores.`);
    if (ids.has(id)) throw invalid(`The value ${id} for parameter ${at}.Id is duplicated.`);
    ids.add(id);
    const hasStat = q.MetricStat !== undefined && q.MetricStat !== null;
    const expression = str(q.Expression);
    if (hasStat === (expression !== undefined)) throw combination(`Exactly one of the parameters ${at}.MetricStat and ${at}.Expression must be specified.`);
    if (expression !== undefined) {
      // Metric math, SEARCH and Metrics Insights are not simulated: refuse visibly rather than answer wrongly.
      throw invalid(`The simulator does not evaluate expressions (${at}.Expression): use MetricStat with the metric's full dimension set (ListMetrics lists them).`);
    }
    const ms = q.MetricStat as Record<string, unknown>;
    const metric = ms.Metric as Record<string, unknown> | undefined;
    if (!metric || typeof metric !== 'object') throw missing(`${at}.MetricStat.Metric`);
    const namespace = str(metric.Namespace);
    const metricName = str(metric.MetricName);
    if (namespace === undefined) throw missing(`${at}.MetricStat.Metric.Namespace`);
    if (metricName === undefined) throw missing(`${at}.MetricStat.Metric.MetricName`);
    const period = int(ms.Period, `${at}.MetricStat.Period`);
    if (period === undefined) throw missing(`${at}.MetricStat.Period`);
    if (period < 1 || !([1, 5, 10, 20, 30].includes(period) || period % 60 === 0)) {
      throw invalid(`The parameter ${at}.MetricStat.Period must be 1, 5, 10, 20, 30, 60, or any multiple of 60.`);
    }
    const stat = str(ms.Stat);
    if (stat === undefined) throw missing(`${at}.MetricStat.Stat`);
    if (!STAT.test(stat) || (stat.startsWith('p') && Number(stat.slice(1)) > 100)) throw invalid(`The value ${stat} for parameter ${at}.MetricStat.Stat is not a valid statistic.`);
    const unit = str(ms.Unit);
    if (unit !== undefined && !UNITS.has(unit)) throw invalid(`The value ${unit} for parameter ${at}.MetricStat.Unit is not a valid unit.`);
    return {
      id,
      label: str(q.Label) ?? metricName,
      returnData: bool(q.ReturnData, `${at}.ReturnData`) ?? true,
      namespace,
      metricName,
      dimensions: dimensions(metric.Dimensions, `${at}.MetricStat.Metric.Dimensions`),
      period,
      stat,
      unit,
      accountId: str(q.AccountId),
    };
  });
}

/** CloudWatch rounds StartTime down: to the minute under 15 days ago, 5 minutes under 63 days, else the hour. */
function roundStart(start: number, now: number): number {
  const age = now - start;
  const step = age < 15 * DAY ? MINUTE : age < 63 * DAY ? 5 * MINUTE : 60 * MINUTE;
  return Math.floor(start / step) * step;
}

function getMetricData(input: Input, ctx: ServiceContext) {
  const queries = parseQueries(input);
  const startRaw = time(input.StartTime, 'StartTime');
  const end = time(input.EndTime, 'EndTime');
  if (startRaw >= end) throw invalid('The parameter StartTime must be less than the parameter EndTime.');
  const scanBy = str(input.ScanBy) ?? 'TimestampDescending';
  if (scanBy !== 'TimestampDescending' && scanBy !== 'TimestampAscending') throw invalid(`The value ${scanBy} for parameter ScanBy is not valid. Valid values: TimestampDescending, TimestampAscending.`);
  const maxDatapoints = int(input.MaxDatapoints, 'MaxDatapoints') ?? DEFAULT_MAX_DATAPOINTS;
  if (maxDatapoints < 1) throw invalid('The parameter MaxDatapoints must be greater than 0.');
  if (!queries.some((q) => q.returnData)) throw combination('At least one of the MetricDataQueries must have ReturnData set to true.');
  const now = ctx.fleet.now();
  const start = roundStart(startRaw, now);

  const scope = `cw/${ctx.account}/${ctx.region}/${createHash('sha256').update(JSON.stringify([queries, start, end, scanBy])).digest('base64url').slice(0, 16)}`;
  const offset = pageOffset(ctx, scope, str(input.NextToken));

  // Every datapoint of every returned query, in result order; then one page of at most MaxDatapoints.
  const series = queries.filter((q) => q.returnData).map((q) => {
    const forbidden = q.accountId !== undefined && q.accountId !== ctx.account;
    const points = forbidden ? [] : bucket(ctx.fleet.metrics.minutes({ account: ctx.account, region: ctx.region, namespace: q.namespace, metricName: q.metricName, dimensions: q.dimensions, unit: q.unit }, start, end, now), start, q.period, q.stat);
    if (scanBy === 'TimestampDescending') points.reverse();
    return { q, points, forbidden };
  });
  const total = series.reduce((n, s) => n + s.points.length, 0);
  let pos = 0;
  const pageEnd = offset + maxDatapoints;
  const results = series.map(({ q, points, forbidden }) => {
    const from = Math.min(Math.max(offset - pos, 0), points.length);
    const to = Math.min(Math.max(pageEnd - pos, 0), points.length);
    pos += points.length;
    const page = points.slice(from, to);
    return {
      Id: q.id,
      Label: q.label,
      Timestamps: page.map((p) => p.at / 1000),
      Values: page.map((p) => p.value),
      StatusCode: forbidden ? 'Forbidden' : to < points.length ? 'PartialData' : 'Complete',
      ...(forbidden && { Messages: [{ Code: 'Forbidden', Value: `Account ${q.accountId} has not shared its metrics with account ${ctx.account}.` }] }),
    };
  });
  return {
    MetricDataResults: results,
    ...(pageEnd < total && { NextToken: ctx.fleet.marker(scope, pageEnd) }),
    Messages: [],
  };
}

/** Period buckets aligned on the (rounded) StartTime; only buckets with data appear. */
function bucket(minutes: { at: number; set: StatSet }[], start: number, periodSeconds: number, stat: string): { at: number; value: number }[] {
  const period = periodSeconds * 1000;
  const out: { at: number; value: number }[] = [];
  let cur: { at: number; sets: StatSet[] } | undefined;
  for (const m of minutes) {
    const b = start + Math.floor((m.at - start) / period) * period;
    if (!cur || cur.at !== b) {
      if (cur) out.push({ at: cur.at, value: statistic(stat, cur.sets) });
      cur = { at: b, sets: [] };
    }
    cur.sets.push(m.set);
  }
  if (cur) out.push({ at: cur.at, value: statistic(stat, cur.sets) });
  return out;
}

// ---------- ListMetrics ----------

function listMetrics(input: Input, ctx: ServiceContext) {
  const namespace = str(input.Namespace);
  const metricName = str(input.MetricName);
  const filters = list(input.Dimensions);
  if (filters.length > 10) throw invalid('The collection Dimensions must not have a size greater than 10.');
  const dimFilters = filters.map((d, j) => {
    const Name = str(d.Name);
    if (Name === undefined) throw missing(`Dimensions.member.${j + 1}.Name`);
    return { Name, Value: str(d.Value) };
  });
  const recently = str(input.RecentlyActive);
  if (recently !== undefined && recently !== 'PT3H') throw invalid(`The value ${recently} for parameter RecentlyActive is not valid. The only valid value is PT3H.`);
  const owning = str(input.OwningAccount);
  const now = ctx.fleet.now();
  let metrics = owning !== undefined && owning !== ctx.account ? [] : ctx.fleet.metrics.list(ctx.account, ctx.region, now, recently ? now - 3 * 3_600_000 : undefined);
  metrics = metrics.filter((m) => (namespace === undefined || m.namespace === namespace) && (metricName === undefined || m.metricName === metricName)
    && dimFilters.every((f) => m.dimensions.some((d) => d.Name === f.Name && (f.Value === undefined || d.Value === f.Value))));
  const scope = `cwlist/${ctx.account}/${ctx.region}/${createHash('sha256').update(JSON.stringify([namespace, metricName, dimFilters, recently])).digest('base64url').slice(0, 16)}`;
  const offset = pageOffset(ctx, scope, str(input.NextToken));
  const page = metrics.slice(offset, offset + LIST_PAGE);
  return {
    Metrics: page.map((m) => ({ Namespace: m.namespace, MetricName: m.metricName, Dimensions: m.dimensions })),
    ...(offset + LIST_PAGE < metrics.length && { NextToken: ctx.fleet.marker(scope, offset + LIST_PAGE) }),
  };
}

const isoSeconds = (s: number) => new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The query protocol's XML wants ISO timestamps where JSON has epoch seconds. */
function toQueryResult(operation: string, result: unknown): unknown {
  if (operation !== 'GetMetricData') return result;
  const r = result as ReturnType<typeof getMetricData>;
  return { ...r, MetricDataResults: r.MetricDataResults.map((m) => ({ ...m, Timestamps: m.Timestamps.map(isoSeconds) })) };
}

export const cloudwatch: Service = {
  name: 'cloudwatch',
  messageKey: 'message',
  jsonVersion: '1.0',
  queryCompatible: CLOUDWATCH_QUERY_CODES,
  errorTypePrefix: 'com.amazonaws.cloudwatch#',
  query: { namespace: CLOUDWATCH_NAMESPACE, version: '2010-08-01', result: toQueryResult },
  operations: { GetMetricData: getMetricData, ListMetrics: listMetrics },
};


/**
 * Where a page starts: 0 without a NextToken, else the offset the token was issued for. A token is
 * bound to the request's parameters (scope): reused with other parameters, or unknown, it is
 * InvalidNextToken, as CloudWatch answers.
 */
function pageOffset(ctx: { fleet: { readMarker(scope: string, token: string): number | undefined } }, scope: string, token: string | undefined): number {
  if (token === undefined) return 0;
  const at = ctx.fleet.readMarker(scope, token);
  if (at === undefined) throw new AwsError('InvalidNextToken', 'The service couldn\'t process the NextToken; it is invalid or expired, or the request parameters changed.');
  return at;
}
