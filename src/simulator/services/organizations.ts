// Organizations (AWSOrganizationsV20161128, AWS JSON 1.1): accounts, the root and OUs (from the
// accounts' `ou` paths), the tree top-down (ListRoots, ListOrganizationalUnitsForParent,
// ListAccountsForParent; shapes and errors from ../shared/reference/aws-models/organizations-2016-11-28.json),
// and account tags. Only the management account or a delegated administrator
// may read the organization's structure (AccessDeniedException otherwise); with organizations.enabled
// false every call answers AWSOrganizationsNotInUseException.
import { AwsError } from '../errors.js';
import type { Account } from '../fleet.js';
import { organizationId } from '../org-tree.js';
import { epochSeconds, optionalInt, optionalString, type Input, type Service, type ServiceContext } from './service.js';

export { organizationId } from '../org-tree.js';

/** Organizations' default (and maximum) page size for ListAccounts. */
const PAGE = 20;

const ACCOUNT_ID = /^\d{12}$/;
const OU_ID = /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;
const ROOT_ID = /^r-[0-9a-z]{4,32}$/;

// `Status` is the older field (no CLOSED, no PENDING_ACTIVATION); `State` is its successor.
const LEGACY_STATUS: Record<string, string> = { CLOSED: 'SUSPENDED', PENDING_ACTIVATION: 'ACTIVE' };

function accountEntry(partition: string, mgmt: string, orgId: string, a: Account) {
  return {
    Id: a.id,
    Arn: `arn:${partition}:organizations::${mgmt}:account/${orgId}/${a.id}`,
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

/** A required id member matching one of the patterns (InvalidInputException INVALID_PATTERN otherwise, as Organizations validates). */
function requiredId(input: Input, member: string, patterns: RegExp[]): string {
  const v = input[member];
  if (v === undefined || v === null) throw invalidInput(`You must specify a value for ${member}.`, 'INPUT_REQUIRED');
  if (typeof v !== 'string') throw new AwsError('SerializationException', `Unexpected value type for ${member}`);
  if (!patterns.some((p) => p.test(v))) throw invalidInput(`You provided a value that does not match the required pattern for ${member}.`, 'INVALID_PATTERN');
  return v;
}

/** MaxResults as Organizations validates it (1-20; InvalidInputException MAX_VALUE_EXCEEDED / MIN_VALUE_EXCEEDED). */
function pageSize(input: Input): number {
  const max = input.MaxResults;
  if (typeof max === 'number' && max > PAGE) throw invalidInput(`You provided a value that exceeds the maximum allowed value. MaxResults must be at most ${PAGE}.`, 'MAX_VALUE_EXCEEDED');
  if (typeof max === 'number' && max < 1) throw invalidInput('You provided a value that is below the minimum allowed value. MaxResults must be at least 1.', 'MIN_VALUE_EXCEEDED');
  return optionalInt(input, 'MaxResults', 1, PAGE, 'InvalidInputException') ?? PAGE;
}

/**
 * One page of `total` items under a NextToken of `scope`. With organizations.emptyPages an empty page
 * (NextToken still set) comes before each non-empty one, as every Organizations List* operation may answer.
 * Position encoded as 2*index + (empty page already served at this index ? 1 : 0).
 */
function page<T>(input: Input, ctx: ServiceContext, scope: string, total: number, slice: (start: number, end: number) => T[]): { items: T[]; NextToken?: string } {
  const size = pageSize(input);
  const token = optionalString(input, 'NextToken', 1, 100_000, 'InvalidInputException');
  let pos = 0;
  if (token !== undefined) {
    const p = ctx.fleet.readMarker(scope, token);
    if (p === undefined) throw invalidInput('The provided NextToken is not valid.', 'INVALID_PAGINATION_TOKEN');
    pos = p;
  }
  const index = Math.floor(pos / 2);
  if (ctx.fleet.scenario.organizations.emptyPages && pos % 2 === 0 && index < total) {
    return { items: [], NextToken: ctx.fleet.marker(scope, pos + 1) };
  }
  const items = slice(index, index + size);
  const next = index + items.length;
  return { items, ...(next < total && { NextToken: ctx.fleet.marker(scope, next * 2) }) };
}

function listAccounts(input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, true);
  const mgmt = ctx.fleet.managementAccountId;
  const orgId = organizationId(mgmt);
  const { items, NextToken } = page(input, ctx, `organizations/${ctx.account}`, ctx.fleet.accountCount(), (a, b) => ctx.fleet.listAccounts(a, b));
  return { Accounts: items.map((a) => accountEntry(ctx.partition, mgmt, orgId, a)), ...(NextToken && { NextToken }) };
}

/** A ParentId (root or OU) of this organization, or ParentNotFoundException. */
function requiredParent(input: Input, ctx: ServiceContext): string {
  const id = requiredId(input, 'ParentId', [ROOT_ID, OU_ID]);
  const tree = ctx.fleet.orgTree();
  if (id !== tree.rootId && !tree.ous.has(id)) throw new AwsError('ParentNotFoundException', "We can't find a root or OU with the ParentId that you specified.", 404);
  return id;
}

/** The OUs directly under a root or OU (ListOrganizationalUnitsForParent), in a stable order. */
function listOrganizationalUnitsForParent(input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, true);
  const parent = requiredParent(input, ctx);
  const mgmt = ctx.fleet.managementAccountId;
  const children = [...ctx.fleet.orgTree().ous.values()].filter((ou) => ou.parentId === parent);
  const { items, NextToken } = page(input, ctx, `organizations/${ctx.account}/ous/${parent}`, children.length, (a, b) => children.slice(a, b));
  return {
    OrganizationalUnits: items.map((ou) => ({ Id: ou.id, Arn: `arn:${ctx.partition}:organizations::${mgmt}:ou/${organizationId(mgmt)}/${ou.id}`, Name: ou.name })),
    ...(NextToken && { NextToken }),
  };
}

/** The accounts directly in a root or OU (ListAccountsForParent: the root lists only the accounts in no OU). */
function listAccountsForParent(input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, true);
  const parent = requiredParent(input, ctx);
  const mgmt = ctx.fleet.managementAccountId;
  const orgId = organizationId(mgmt);
  const tree = ctx.fleet.orgTree();
  const children = ctx.fleet.listAccounts().filter((a) => tree.accountParent.get(a.id) === parent);
  const { items, NextToken } = page(input, ctx, `organizations/${ctx.account}/accounts/${parent}`, children.length, (a, b) => children.slice(a, b));
  return { Accounts: items.map((a) => accountEntry(ctx.partition, mgmt, orgId, a)), ...(NextToken && { NextToken }) };
}

function describeOrganization(_input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, false);
  const mgmt = ctx.fleet.managementAccountId;
  const id = organizationId(mgmt);
  return {
    Organization: {
      Id: id,
      Arn: `arn:${ctx.partition}:organizations::${mgmt}:organization/${id}`,
      FeatureSet: 'ALL',
      MasterAccountArn: `arn:${ctx.partition}:organizations::${mgmt}:account/${id}/${mgmt}`,
      MasterAccountId: mgmt,
      MasterAccountEmail: ctx.fleet.getAccount(mgmt)?.email,
      AvailablePolicyTypes: [],
    },
  };
}

function listRoots(_input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, true);
  const mgmt = ctx.fleet.managementAccountId;
  const { rootId } = ctx.fleet.orgTree();
  return { Roots: [{ Id: rootId, Arn: `arn:${ctx.partition}:organizations::${mgmt}:root/${organizationId(mgmt)}/${rootId}`, Name: 'Root', PolicyTypes: [] }] };
}

/** The one parent of an account or OU (the root or an OU): every child has exactly one, so one page. */
function listParents(input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, true);
  const child = requiredId(input, 'ChildId', [ACCOUNT_ID, OU_ID]);
  optionalInt(input, 'MaxResults', 1, PAGE, 'InvalidInputException');
  const tree = ctx.fleet.orgTree();
  const parentId = ACCOUNT_ID.test(child) ? tree.accountParent.get(child) : tree.ous.get(child)?.parentId;
  if (parentId === undefined) throw new AwsError('ChildNotFoundException', "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.", 404);
  return { Parents: [{ Id: parentId, Type: parentId === tree.rootId ? 'ROOT' : 'ORGANIZATIONAL_UNIT' }] };
}

function describeOrganizationalUnit(input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, true);
  const id = requiredId(input, 'OrganizationalUnitId', [OU_ID]);
  const ou = ctx.fleet.orgTree().ous.get(id);
  if (!ou) throw new AwsError('OrganizationalUnitNotFoundException', "We can't find an OU with the OrganizationalUnitId that you specified.", 404);
  const mgmt = ctx.fleet.managementAccountId;
  return { OrganizationalUnit: { Id: ou.id, Arn: `arn:${ctx.partition}:organizations::${mgmt}:ou/${organizationId(mgmt)}/${ou.id}`, Name: ou.name } };
}

/** Tags of an account (from the scenario); the root and OUs exist but carry none. */
function listTagsForResource(input: Input, ctx: ServiceContext) {
  requireOrganization(ctx, true);
  const id = requiredId(input, 'ResourceId', [ACCOUNT_ID, OU_ID, ROOT_ID]);
  const tree = ctx.fleet.orgTree();
  const account = ACCOUNT_ID.test(id) ? ctx.fleet.getAccount(id) : undefined;
  if (!account && !tree.ous.has(id) && id !== tree.rootId) {
    throw new AwsError('TargetNotFoundException', "We can't find a root, OU, account, or policy with the TargetId that you specified.", 404);
  }
  return { Tags: Object.entries(account?.tags ?? {}).map(([Key, Value]) => ({ Key, Value })) };
}

export const organizations: Service = {
  name: 'organizations',
  messageKey: 'Message',
  global: true,
  operations: {
    ListAccounts: listAccounts,
    DescribeOrganization: describeOrganization,
    ListRoots: listRoots,
    ListParents: listParents,
    ListOrganizationalUnitsForParent: listOrganizationalUnitsForParent,
    ListAccountsForParent: listAccountsForParent,
    DescribeOrganizationalUnit: describeOrganizationalUnit,
    ListTagsForResource: listTagsForResource,
  },
};
