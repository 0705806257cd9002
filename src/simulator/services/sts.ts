// STS (AWS query protocol, XML): AssumeRole issues credentials bound to the role's account;
// GetCallerIdentity says whose credentials a request carries.
import { createHash } from 'node:crypto';
import { AwsError } from '../errors.js';
import { callerArn, type Input, type Service, type ServiceContext } from './service.js';

const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

const validation = (message: string) => new AwsError('ValidationError', message, 400);


function assumeRole(input: Input, ctx: ServiceContext) {
  const roleArn = input.RoleArn;
  const session = input.RoleSessionName;
  if (typeof roleArn !== 'string') throw validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
  if (typeof session !== 'string') throw validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
  if (!SESSION_NAME.test(session)) throw validation(`1 validation error detected: Value '${session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64`);
  const m = ROLE_ARN.exec(roleArn);
  if (!m) throw validation(`${roleArn} is invalid`);
  const [, account, roleName] = m as unknown as [string, string, string];
  const chained = ctx.roleName !== undefined;
  const duration = input.DurationSeconds === undefined ? 3600 : Number(input.DurationSeconds);
  if (!Number.isInteger(duration) || duration < 900 || duration > 43200) {
    throw validation(`1 validation error detected: Value '${String(input.DurationSeconds)}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200`);
  }
  if (chained && duration > 3600) throw validation('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  const denied = () => new AwsError('AccessDenied', `User: ${callerArn(ctx)} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
  const target = ctx.fleet.getAccount(account);
  if (!target || target.status !== 'ACTIVE') throw denied();
  if (target.denyAssumeRole === true || (Array.isArray(target.denyAssumeRole) && target.denyAssumeRole.includes(roleName))) throw denied();
  if (target.externalId !== null && input.ExternalId !== target.externalId) throw denied();
  const creds = ctx.fleet.issueCredentials(account, roleName, duration, session);
  const roleId = `AROA${createHash('sha256').update(roleArn).digest('hex').slice(0, 17).toUpperCase()}`;
  return {
    Credentials: {
      AccessKeyId: creds.accessKeyId,
      SecretAccessKey: creds.secretAccessKey,
      SessionToken: creds.sessionToken,
      Expiration: new Date(creds.expiresAt).toISOString(),
    },
    AssumedRoleUser: {
      AssumedRoleId: `${roleId}:${session}`,
      Arn: `arn:aws:sts::${account}:assumed-role/${roleName}/${session}`,
    },
  };
}

function getCallerIdentity(_input: Input, ctx: ServiceContext) {
  return { UserId: ctx.accessKeyId, Account: ctx.account, Arn: callerArn(ctx) };
}

export const sts: Service = {
  name: 'sts',
  messageKey: 'Message',
  operations: { AssumeRole: assumeRole, GetCallerIdentity: getCallerIdentity },
};
