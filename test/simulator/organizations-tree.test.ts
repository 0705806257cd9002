// The simulator's Organizations tree operations (ListOrganizationalUnitsForParent, ListAccountsForParent),
// added for the top-down discovery walk (issue 14), through the real SDK client: the walk finds every
// account ListAccounts lists, each under the parent ListParents names; errors as the model lists them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ListAccountsForParentCommand, ListOrganizationalUnitsForParentCommand, ListParentsCommand, ListRootsCommand, OrganizationsClient,
  paginateListAccounts, paginateListAccountsForParent, paginateListOrganizationalUnitsForParent,
} from '@aws-sdk/client-organizations';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server.js';
import { BASE_CREDENTIALS, fixtureScenario } from '../helpers/sim.js';

let sim: RunningSimulator;
let client: OrganizationsClient;
beforeAll(async () => {
  sim = await startSimulator({ scenario: fixtureScenario('org-fleet.yaml'), port: 0 });
  client = new OrganizationsClient({ endpoint: sim.url, region: 'us-east-1', credentials: BASE_CREDENTIALS, maxAttempts: 1 });
});
afterAll(async () => { client?.destroy(); await sim?.close(); });

async function walk(c: OrganizationsClient, pageSize?: number): Promise<Map<string, string>> {
  const parentOf = new Map<string, string>();
  const { Roots } = await c.send(new ListRootsCommand({}));
  const queue = [Roots![0]!.Id!];
  while (queue.length > 0) {
    const id = queue.shift()!;
    for await (const p of paginateListAccountsForParent({ client: c, pageSize }, { ParentId: id })) for (const a of p.Accounts ?? []) parentOf.set(a.Id!, id);
    for await (const p of paginateListOrganizationalUnitsForParent({ client: c, pageSize }, { ParentId: id })) for (const ou of p.OrganizationalUnits ?? []) queue.push(ou.Id!);
  }
  return parentOf;
}

describe('Organizations tree operations', () => {
  it('a top-down walk finds every account, each under the parent ListParents names', async () => {
    const listed: string[] = [];
    for await (const p of paginateListAccounts({ client }, {})) for (const a of p.Accounts ?? []) listed.push(a.Id!);
    const found = await walk(client, 1); // one item per page: every NextToken is followed
    expect([...found.keys()].sort()).toEqual(listed.sort());
    for (const [account, parent] of found) {
      const { Parents } = await client.send(new ListParentsCommand({ ChildId: account }));
      expect(Parents![0]!.Id).toBe(parent);
    }
  });

  it('answers OUs with their names and the root lists only accounts in no OU', async () => {
    const { Roots } = await client.send(new ListRootsCommand({}));
    const top = await client.send(new ListOrganizationalUnitsForParentCommand({ ParentId: Roots![0]!.Id! }));
    expect(top.OrganizationalUnits!.map((o) => o.Name).sort()).toEqual(['Infra', 'Prod', 'Sandbox']);
    expect(top.OrganizationalUnits![0]!.Arn).toMatch(/^arn:aws:organizations::111111111111:ou\/o-[0-9a-f]{10}\/ou-/);
    const atRoot = await client.send(new ListAccountsForParentCommand({ ParentId: Roots![0]!.Id! }));
    expect(atRoot.Accounts!.map((a) => a.Id).sort()).toEqual(['111111111111', '666666666666']); // the two with ou: / (or none)
  });

  it('follows empty pages with a NextToken, as Organizations may answer', async () => {
    const empty = await startSimulator({ scenario: { ...{ accounts: [{ id: '111111111111', ou: '/A' }, { id: '222222222222', ou: '/A/B' }] }, organizations: { emptyPages: true } }, port: 0 });
    const c = new OrganizationsClient({ endpoint: empty.url, region: 'us-east-1', credentials: BASE_CREDENTIALS, maxAttempts: 1 });
    try {
      const { Roots } = await c.send(new ListRootsCommand({}));
      const first = await c.send(new ListOrganizationalUnitsForParentCommand({ ParentId: Roots![0]!.Id! }));
      expect(first.OrganizationalUnits).toEqual([]);
      expect(first.NextToken).toBeTruthy();
      expect([...(await walk(c)).keys()].sort()).toEqual(['111111111111', '222222222222']);
    } finally {
      c.destroy();
      await empty.close();
    }
  });

  it('refuses an unknown parent, a malformed id, a page size over 20 and a foreign NextToken, as the model says', async () => {
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { name: string; Reason?: string }) => `${e.name}${e.Reason ? `/${e.Reason}` : ''}`);
    expect(await code(client.send(new ListAccountsForParentCommand({ ParentId: 'ou-zzzz-zzzzzzzz' })))).toBe('ParentNotFoundException');
    expect(await code(client.send(new ListOrganizationalUnitsForParentCommand({ ParentId: 'r-zzzz' })))).toBe('ParentNotFoundException');
    expect(await code(client.send(new ListAccountsForParentCommand({ ParentId: '111111111111' })))).toBe('InvalidInputException/INVALID_PATTERN');
    const { Roots } = await client.send(new ListRootsCommand({}));
    expect(await code(client.send(new ListAccountsForParentCommand({ ParentId: Roots![0]!.Id!, MaxResults: 21 })))).toBe('InvalidInputException/MAX_VALUE_EXCEEDED');
    const page = await client.send(new ListOrganizationalUnitsForParentCommand({ ParentId: Roots![0]!.Id!, MaxResults: 1 }));
    expect(await code(client.send(new ListAccountsForParentCommand({ ParentId: Roots![0]!.Id!, NextToken: page.NextToken! })))).toBe('InvalidInputException/INVALID_PAGINATION_TOKEN');
  });
});
