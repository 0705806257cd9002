// Lists the member accounts of the AWS Organization (management account or delegated administrator only).
import { paginateListAccounts, type OrganizationsClient } from '@aws-sdk/client-organizations';

export interface OrgAccount {
  id: string;
  name: string;
  /** ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED (State or the older Status field). */
  status: string;
}

export async function listOrganizationAccounts(client: OrganizationsClient, signal?: AbortSignal): Promise<OrgAccount[]> {
  const out: OrgAccount[] = [];
  // Pages may be empty while NextToken is still set; the paginator follows the token regardless.
  for await (const page of paginateListAccounts({ client, pageSize: 20 }, {}, { abortSignal: signal })) {
    for (const a of page.Accounts ?? []) {
      if (!a.Id) continue;
      const state = (a as { State?: string }).State;
      out.push({ id: a.Id, name: a.Name ?? a.Id, status: state ?? a.Status ?? 'UNKNOWN' });
    }
  }
  return out;
}
