// What every simulated service handler sees, and the input checks AWS's front end performs.
import { AwsError } from '../errors.js';
import type { Fleet } from '../fleet.js';
import type { MessageKey } from '../protocol/json.js';
import type { ServiceName } from '../scenario.js';

export interface ServiceContext {
  fleet: Fleet;
  operation: string;
  /** The account the access key id belongs to. */
  account: string;
  /** From the SigV4 credential scope. */
  region: string;
  accessKeyId: string;
  /** The caller's account's partition (aws, aws-cn, aws-us-gov): ARNs in answers use it. */
  partition: string;
  /** Set when the caller uses credentials issued by AssumeRole. */
  roleName?: string;
  /** The RoleSessionName of those credentials. */
  sessionName?: string;
  /** This read sees the state from before recent changes (eventual consistency). */
  stale: boolean;
  /** The client's address and User-Agent (CloudTrail records them for KMS calls). */
  sourceIp?: string | undefined;
  userAgent?: string | undefined;
}

export type Input = Record<string, unknown>;
export type Operation = (input: Input, ctx: ServiceContext) => unknown;

export interface Service {
  name: ServiceName;
  messageKey: MessageKey;
  /**
   * A global service (one endpoint per partition: Organizations, Account): the SDK reaches it from a
   * client configured for any region, so neither the region's existence nor its opt-in status applies.
   */
  global?: boolean;
  operations: Record<string, Operation>;
  /** AWS JSON version of the SDK's wire (default 1.1). */
  jsonVersion?: '1.0' | '1.1';
  /**
   * awsQueryCompatible JSON (CloudWatch): errors also carry `x-amzn-query-error: <query code>;Sender|Receiver`,
   * and handlers throw the query code. Maps JSON error type -> query code.
   */
  queryCompatible?: Record<string, string>;
  /** For a service also spoken in the query protocol: the XML namespace, the API version and the result converter. */
  query?: { namespace: string; version: string; result?: (operation: string, result: unknown) => unknown };
  /** The JSON error __type prefix (awsQueryCompatible services send namespaced types). */
  errorTypePrefix?: string;
}

const camel = (member: string) => member[0]!.toLowerCase() + member.slice(1);

/** The message AWS's request validation uses (Coral ValidationException). */
export function validationError(member: string, value: unknown, constraint: string, code = 'ValidationException'): AwsError {
  return new AwsError(code, `1 validation error detected: Value '${String(value)}' at '${camel(member)}' failed to satisfy constraint: ${constraint}`);
}

export function optionalString(input: Input, member: string, min: number, max: number, code?: string): string | undefined {
  const v = input[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new AwsError('SerializationException', `Unexpected value type for ${member}`);
  if (v.length < min) throw validationError(member, v, `Member must have length greater than or equal to ${min}`, code);
  if (v.length > max) throw validationError(member, v, `Member must have length less than or equal to ${max}`, code);
  return v;
}

export function optionalInt(input: Input, member: string, min: number, max: number, code?: string): number | undefined {
  const v = input[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new AwsError('SerializationException', `Unexpected value type for ${member}`);
  if (v < min) throw validationError(member, v, `Member must have value greater than or equal to ${min}`, code);
  if (v > max) throw validationError(member, v, `Member must have value less than or equal to ${max}`, code);
  return v;
}

/** Copies `overrides` over a wire entry; a null override removes the member. */
export function applyOverrides(entry: Record<string, unknown>, overrides: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!overrides) return entry;
  for (const [k, v] of Object.entries(overrides)) {
    if (v === null) delete entry[k];
    else entry[k] = v;
  }
  return entry;
}

export const epochSeconds = (ms: number) => ms / 1000;

/** The IAM user of an account's base (AKIA) credentials: what GetCallerIdentity and error messages name. */
export const BASE_USER = 'keystore-watch-simulator';

/** The caller's ARN as AWS writes it in GetCallerIdentity and in AccessDenied messages. */
export function callerArn(ctx: Pick<ServiceContext, 'account' | 'partition' | 'roleName' | 'sessionName'>): string {
  return ctx.roleName
    ? `arn:${ctx.partition}:sts::${ctx.account}:assumed-role/${ctx.roleName}/${ctx.sessionName ?? 'keystore-watch'}`
    : `arn:${ctx.partition}:iam::${ctx.account}:user/${BASE_USER}`;
}
