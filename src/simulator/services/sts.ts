// STS (AWS query protocol, XML): AssumeRole issues credentials bound to the role's account;
// GetCallerIdentity says whose credentials a request carries.
import { createHash } from 'node:crypto';
import { AwsError } from '../errors.js';
import { BASE_USER, callerArn, type Input, type Service, type ServiceContext } from './service.js';

const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
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
  const [, partition, account, roleName] = m as unknown as [string, string, string, string];
  const chained = ctx.roleName !== undefined;
  const duration = input.DurationSeconds === undefined ? 3600 : Number(input.DurationSeconds);
  if (!Number.isInteger(duration) || duration < 900 || duration > 43200) {
    throw validation(`1 validation error detected: Value '${String(input.DurationSeconds)}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200`);
  }
  if (chained && duration > 3600) throw validation('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  const denied = () => new AwsError('AccessDenied', `User: ${callerArn(ctx)} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
  // A role ARN of another partition names no role this STS knows: AccessDenied, as STS answers it
  // (e.g. "User: arn:aws-cn:sts::…:assumed-role/… is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::…").
  if (partition !== ctx.partition) throw denied();
  const target = ctx.fleet.getAccount(account);
  if (!target || target.status !== 'ACTIVE') throw denied();
  if (target.denyAssumeRole === true || (Array.isArray(target.denyAssumeRole) && target.denyAssumeRole.includes(roleName))) throw denied();
  if (target.externalId !== null && input.ExternalId !== target.externalId) throw denied();
  // The role's own MaxSessionDuration (IAM default 1 hour) caps DurationSeconds too.
  if (duration * 1000 > ctx.fleet.maxSessionDuration(account, roleName)) throw validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  const creds = ctx.fleet.issueCredentials(account, roleName, duration, session);
  const roleId = roleUniqueId(partition, account, roleName);
  return {
    Credentials: {
      AccessKeyId: creds.accessKeyId,
      SecretAccessKey: creds.secretAccessKey,
      SessionToken: creds.sessionToken,
      Expiration: new Date(creds.expiresAt).toISOString(),
    },
    AssumedRoleUser: {
      AssumedRoleId: `${roleId}:${session}`,
      Arn: `arn:${partition}:sts::${account}:assumed-role/${roleName}/${session}`,
    },
  };
}

/** A stable unique id in AWS's format: a 4-letter prefix (AIDA user, AROA role) and 17 characters. */
export function uniqueId(prefix: string, of: string): string {
  return `${prefix}${createHash('sha256').update(of).digest('hex').slice(0, 17).toUpperCase()}`;
}
export const roleUniqueId = (partition: string, account: string, roleName: string) => uniqueId('AROA', `arn:${partition}:iam::${account}:role/${roleName}`);

/** Who the caller is: UserId is AIDA… for an IAM user, AROA…:<session> for a role session (as AWS answers). No permission needed. */
function getCallerIdentity(_input: Input, ctx: ServiceContext) {
  const userId = ctx.roleName
    ? `${roleUniqueId(ctx.partition, ctx.account, ctx.roleName)}:${ctx.sessionName ?? 'keystore-watch'}`
    : uniqueId('AIDA', `arn:${ctx.partition}:iam::${ctx.account}:user/${BASE_USER}`);
  return { UserId: userId, Account: ctx.account, Arn: callerArn(ctx) };
}

export const sts: Service = {
  name: 'sts',
  messageKey: 'Message',
  operations: { AssumeRole: assumeRole, GetCallerIdentity: getCallerIdentity },
};
