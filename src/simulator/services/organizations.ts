// Organizations (AWSOrganizationsV20161128, AWS JSON 1.1): ListAccounts and DescribeOrganization.
import { createHash } from 'node:crypto';
import { AwsError } from '../errors.js';
import type { Account } from '../fleet.js';
import { epochSeconds, optionalInt, optionalString, type Input, type Service, type ServiceContext } from './service.js';

/** Organizations' default (and maximum) page size for ListAccounts. */
const PAGE = 20;

export const organizationId = (mgmt: string) => `o-${createHash('sha256').update(mgmt).digest('hex').slice(0, 10)}`;

// `Status` is the older field (no CLOSED, no PENDING_ACTIVATION); `State` is its successor.
const LEGACY_STATUS: Record<string, string> = { CLOSED: 'SUSPENDED', PENDING_ACTIVATION: 'ACTIVE' };

function accountEntry(mgmt: string, orgId: string, a: Account) {
  return {
    Id: a.id,
    Arn: `arn:aws:organizations::${mgmt}:account/${orgId}/${a.id}`,
    Email: a.email,
    Name: a.name,
    Status: LEGACY_STATUS[a.status] ?? a.status,
    State: a.status,
    JoinedMethod: a.id === mgmt ? 'CREATED' : 'INVITED',
    JoinedTimestamp: epochSeconds(a.joinedAt),
  };
}

function requireOrganization(ctx: ServiceContext, managementOnly: boolean) {
  const org = ctx.fleet.scenario.organizations;
  if (!org.enabled) throw new AwsError('AWSOrganizationsNotInUseException', "Your account is not a member of an organization.", 404);
  if (managementOnly && ctx.account !== ctx.fleet.managementAccountId && !org.delegatedAdministrators.includes(ctx.account)) {
    throw new AwsError('AccessDeniedException', "You don't have permissions to access this resource.", 403);
  }
}

function invalidInput(message: string, reason: string) {
  return new AwsError('InvalidInputException', message, 400, { Reason: reason });
}

function listAccounts(input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, true);
  const max = input.MaxResults;
  if (typeof max === 'number' && max > PAGE) throw invalidInput(`You provided a value that exceeds the maximum allowed value. MaxResults must be at most ${PAGE}.`, 'MAX_VALUE_EXCEEDED');
  if (typeof max === 'number' && max < 1) throw invalidInput('You provided a value that is below the minimum allowed value. MaxResults must be at least 1.', 'MIN_VALUE_EXCEEDED');
  const size = optionalInt(input, 'MaxResults', 1, PAGE, 'InvalidInputException') ?? PAGE;
  const token = optionalString(input, 'NextToken', 1, 100_000, 'InvalidInputException');
  const total = ctx.fleet.accountCount();
  const scope = `organizations/${ctx.account}`;
  // Position encoded as 2*index + (empty page already served at this index ? 1 : 0).
  let pos = 0;
  if (token !== undefined) {
    const p = ctx.fleet.readMarker(scope, token);
    if (p === undefined) throw invalidInput('The provided NextToken is not valid.', 'INVALID_PAGINATION_TOKEN');
    pos = p;
  }
  const index = Math.floor(pos / 2);
  if (ctx.fleet.scenario.organizations.emptyPages && pos % 2 === 0 && index < total) {
    return { Accounts: [], NextToken: ctx.fleet.marker(scope, pos + 1) };
  }
  const page = ctx.fleet.listAccounts(index, index + size);
  const next = index + page.length;
  const mgmt = ctx.fleet.managementAccountId;
  const orgId = organizationId(mgmt);
  return {
    Accounts: page.map((a) => accountEntry(mgmt, orgId, a)),
    ...(next < total && { NextToken: ctx.fleet.marker(scope, next * 2) }),
  };
}

function describeOrganization(_input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, false);
  const mgmt = ctx.fleet.managementAccountId;
  const id = organizationId(mgmt);
  return {
    Organization: {
      Id: id,
      Arn: `arn:aws:organizations::${mgmt}:organization/${id}`,
      FeatureSet: 'ALL',
      MasterAccountArn: `arn:aws:organizations::${mgmt}:account/${id}/${mgmt}`,
      MasterAccountId: mgmt,
      MasterAccountEmail: ctx.fleet.getAccount(mgmt)?.email,
      AvailablePolicyTypes: [],
    },
  };
}

export const organizations: Service = {
  name: 'organizations',
  messageKey: 'Message',
  global: true,
  operations: { ListAccounts: listAccounts, DescribeOrganization: describeOrganization },
};
