// The organization's root and OUs, built from the accounts' `ou` paths (/Prod/Payments): ids are
// derived deterministically in the real formats (r-xxxx, ou-xxxx-xxxxxxxx), so the same scenario
// always yields the same ids. Pure: the Fleet rebuilds it only after an account changes.
import { createHash } from 'node:crypto';

export interface OrgUnit {
  id: string;
  name: string;
  /** /Prod/Payments */
  path: string;
  /** The root id or the parent OU's id. */
  parentId: string;
}

export interface OrgTree {
  rootId: string;
  ous: ReadonlyMap<string, OrgUnit>;
  /** Account id -> the id of the root or OU it sits in. */
  accountParent: ReadonlyMap<string, string>;
}

/** The organization id (o-…) of a management account, stable across runs. */
export const organizationId = (mgmt: string) => `o-${createHash('sha256').update(mgmt).digest('hex').slice(0, 10)}`;

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

function hashChars(seed: string, length: number): string {
  const digest = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < length; i++) out += LOWER_ALNUM[digest[i]! % LOWER_ALNUM.length];
  return out;
}

/** The path's segments: "/Prod/Payments" -> ["Prod", "Payments"]; "/" -> []. */
export function ouSegments(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

export function buildOrgTree(organizationId: string, accounts: Iterable<{ id: string; ou: string }>): OrgTree {
  const rootSuffix = hashChars(`root/${organizationId}`, 4);
  const rootId = `r-${rootSuffix}`;
  const ous = new Map<string, OrgUnit>();
  const byPath = new Map<string, OrgUnit>();
  const accountParent = new Map<string, string>();
  const ensure = (segments: string[]): string => {
    let parentId = rootId;
    let path = '';
    for (const name of segments) {
      path += `/${name}`;
      let ou = byPath.get(path);
      if (!ou) {
        ou = { id: `ou-${rootSuffix}-${hashChars(`ou/${organizationId}${path}`, 8)}`, name, path, parentId };
        byPath.set(path, ou);
        ous.set(ou.id, ou);
      }
      parentId = ou.id;
    }
    return parentId;
  };
  for (const a of accounts) accountParent.set(a.id, ensure(ouSegments(a.ou)));
  return { rootId, ous, accountParent };
}
