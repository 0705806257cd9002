// CloudTrail (com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101, AWS JSON 1.1): LookupEvents over the
// key store events the fleet recorded (../trail.ts). Per the API reference: one lookup attribute at most,
// MaxResults 1-50 (default 50), the last 90 days, newest first, NextToken paging; 2 requests per second per
// account and region (the server's FIXED_QUOTAS), ThrottlingException 400 beyond.
import { createHash } from 'node:crypto';
import { AwsError } from '../errors.js';
import type { TrailEvent } from '../trail.js';
import type { Input, Service, ServiceContext } from './service.js';

const DAY = 86_400_000;
const KEYS = ['EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId'] as const;
type Key = (typeof KEYS)[number];

const lookupError = (message: string) => new AwsError('InvalidLookupAttributesException', message);

function time(v: unknown, member: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v * 1000;
  if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  throw new AwsError('SerializationException', `Unexpected value type for ${member}`);
}

function matches(e: TrailEvent, key: Key, value: string): boolean {
  switch (key) {
    case 'EventId': return e.eventId === value;
    case 'EventName': return e.eventName === value;
    case 'ReadOnly': return String(e.readOnly) === value;
    case 'Username': return e.username === value;
    case 'ResourceType': return e.resources.some((r) => r.ResourceType === value);
    case 'ResourceName': return e.resources.some((r) => r.ResourceName === value);
    case 'EventSource': return e.eventSource === value;
    case 'AccessKeyId': return e.accessKeyId === value;
  }
}

function lookupEvents(input: Input, ctx: ServiceContext) {
  const attrs = input.LookupAttributes;
  if (attrs !== undefined && attrs !== null && !Array.isArray(attrs)) throw new AwsError('SerializationException', 'Unexpected value type for LookupAttributes');
  const list = (attrs ?? []) as Record<string, unknown>[];
  // "Currently the list can contain only one item" (LookupEvents API reference).
  if (list.length > 1) throw lookupError('You cannot specify more than one lookup attribute.');
  let filter: { key: Key; value: string } | undefined;
  if (list.length === 1) {
    const key = list[0]!.AttributeKey;
    const value = list[0]!.AttributeValue;
    if (typeof key !== 'string' || !(KEYS as readonly string[]).includes(key)) throw lookupError(`The attribute key ${String(key)} is not valid. Valid keys: ${KEYS.join(', ')}.`);
    if (typeof value !== 'string' || value.length < 1 || value.length > 2000) throw lookupError('The attribute value must be between 1 and 2000 characters.');
    filter = { key: key as Key, value };
  }
  const maxResults = input.MaxResults ?? 50;
  if (typeof maxResults !== 'number' || !Number.isInteger(maxResults) || maxResults < 1 || maxResults > 50) throw new AwsError('InvalidMaxResultsException', 'MaxResults must be between 1 and 50.');
  const category = input.EventCategory;
  if (category !== undefined && category !== 'insight') throw new AwsError('InvalidEventCategoryException', `The event category ${String(category)} is not valid. The only valid value is insight.`);
  const now = ctx.fleet.now();
  const start = time(input.StartTime, 'StartTime');
  const end = time(input.EndTime, 'EndTime');
  if (start !== undefined && end !== undefined && start > end) throw new AwsError('InvalidTimeRangeException', 'Start time must be before end time.');
  if (start !== undefined && start > now) throw new AwsError('InvalidTimeRangeException', 'Start time must not be in the future.');

  // Event history holds the last 90 days of management events; insight events are not simulated.
  const from = Math.max(start ?? 0, now - 90 * DAY);
  const to = end ?? now;
  let events = category === 'insight' ? [] : ctx.fleet.trail.list(ctx.account, ctx.region, now)
    .filter((e) => e.eventTime >= from && e.eventTime <= to && (!filter || matches(e, filter.key, filter.value)));

  const scope = `ct/${ctx.account}/${ctx.region}/${createHash('sha256').update(JSON.stringify([filter, start, end, category])).digest('base64url').slice(0, 16)}`;
  const token = input.NextToken;
  if (token !== undefined && token !== null) {
    const after = typeof token === 'string' ? ctx.fleet.readMarker(scope, token) : undefined;
    if (after === undefined) throw new AwsError('InvalidNextTokenException', 'Invalid NextToken.');
    const i = events.findIndex((e) => e.seq === after);
    events = i < 0 ? [] : events.slice(i + 1);
  }
  const page = events.slice(0, maxResults);
  return {
    Events: page.map((e) => ({
      EventId: e.eventId,
      EventName: e.eventName,
      ReadOnly: String(e.readOnly),
      ...(e.accessKeyId && { AccessKeyId: e.accessKeyId }),
      EventTime: e.eventTime / 1000,
      EventSource: e.eventSource,
      ...(e.username && { Username: e.username }),
      Resources: e.resources,
      CloudTrailEvent: JSON.stringify(e.record),
    })),
    ...(events.length > maxResults && { NextToken: ctx.fleet.marker(scope, page[page.length - 1]!.seq) }),
  };
}

export const cloudtrail: Service = {
  name: 'cloudtrail',
  messageKey: 'Message',
  operations: { LookupEvents: lookupEvents },
};
