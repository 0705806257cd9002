// Account Management (REST-JSON, `POST /listRegions`): ListRegions answers from the scenario's
// partition and each account's optInRegions. Model: aws-models/account-2021-02-01.json.
import { AwsError } from '../errors.js';
import { regionInfo, regionsOf } from '../regions.js';
import { callerArn, optionalInt, optionalString, type Input, type Service, type ServiceContext } from './service.js';

/** REST-JSON routes: request path -> operation. */
export const ACCOUNT_ROUTES: Readonly<Record<string, string>> = { '/listRegions': 'ListRegions' };

/** AWS documents no default page size; a smaller one than the region count makes a client that ignores NextToken miss regions. */
const DEFAULT_PAGE = 20;
const STATUSES = new Set(['ENABLED', 'ENABLING', 'DISABLING', 'DISABLED', 'ENABLED_BY_DEFAULT']);

const validation = (message: string, field: string) => new AwsError('ValidationException', message, 400, { reason: 'fieldValidationFailed', fieldList: [{ name: field, message }] });

function listRegions(input: Input, ctx: ServiceContext) {
  const max = optionalInt(input, 'MaxResults', 1, 50) ?? DEFAULT_PAGE;
  const token = optionalString(input, 'NextToken', 0, 1000);
  const target = optionalString(input, 'AccountId', 12, 12) ?? ctx.account;
  const filter = input.RegionOptStatusContains;
  if (filter !== undefined && filter !== null && (!Array.isArray(filter) || filter.some((f) => typeof f !== 'string' || !STATUSES.has(f)))) {
    throw validation('Invalid RegionOptStatusContains: each value must be one of ENABLED, ENABLING, DISABLING, DISABLED, ENABLED_BY_DEFAULT.', 'RegionOptStatusContains');
  }
  const fleet = ctx.fleet;
  if (target !== ctx.account) {
    // Another account: only the management account or a delegated administrator, for a member of its organization.
    const org = fleet.scenario.organizations;
    const admin = ctx.account === fleet.managementAccountId || org.delegatedAdministrators.includes(ctx.account);
    if (!admin || !fleet.getAccount(target)) {
      throw new AwsError('AccessDeniedException', `User: ${callerArn(ctx)} is not authorized to perform: account:ListRegions on resource: arn:${ctx.partition}:account::${target}:account`, 403);
    }
  } else if (input.AccountId !== undefined && ctx.account === fleet.managementAccountId) {
    // As AWS answers it (aws-samples/data-perimeter-helper#8): the management account must omit its own AccountId.
    throw new AwsError('AccessDeniedException', `User: ${callerArn(ctx)} is not authorized to perform: account:ListRegions (The management account can only be managed using the standalone context from the management account)`, 403);
  }
  const account = fleet.getAccount(target)!;
  const enabled = new Set(account.optInRegions);
  const wanted = Array.isArray(filter) && filter.length > 0 ? new Set(filter as string[]) : null;
  const regions: { RegionName: string; RegionOptStatus: string }[] = [];
  for (const name of regionsOf(account.partition)) {
    const status = !regionInfo(name)!.optIn ? 'ENABLED_BY_DEFAULT' : enabled.has(name) ? 'ENABLED' : 'DISABLED';
    if (!wanted || wanted.has(status)) regions.push({ RegionName: name, RegionOptStatus: status });
  }
  const scope = `account/${ctx.account}/${target}`;
  let start = 0;
  if (token) {
    const pos = fleet.readMarker(scope, token);
    if (pos === undefined) throw validation('The NextToken is not valid.', 'NextToken');
    start = pos;
  }
  const page = regions.slice(start, start + max);
  const next = start + page.length;
  return { Regions: page, ...(next < regions.length && { NextToken: fleet.marker(scope, next) }) };
}

export const account: Service = {
  name: 'account',
  messageKey: 'message',
  global: true,
  operations: { ListRegions: listRegions },
};
