// Organizational unit paths and the includeOUs / excludeOUs selectors. Pure.
//
// A path is the OU names from the root down, "/Prod/Payments"; an account directly under the root has
// the path "/". OU names may hold any character, "/" included (the Organizations model's
// OrganizationalUnitName is [\s\S]{1,128}), so within a name "%" is written "%25" and "/" is written
// "%2F": a name can never fake a deeper path. Names are compared exactly (AWS OU names are
// case-sensitive; two OUs under one parent cannot share a name, DuplicateOrganizationalUnitException).

/** Where an account sits: its OU path and the ids of the root and every OU above it (root first). */
export interface OuPlacement {
  ouPath: string;
  /** Root id (r-…) and OU ids (ou-…), from the root down to the account's parent. */
  ouIds: string[];
}

export const OU_ID = /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;
export const ROOT_ID = /^r-[0-9a-z]{4,32}$/;

export const escapeOuName = (name: string): string => name.replace(/%/g, '%25').replace(/\//g, '%2F');

/** "/" + the escaped names joined by "/"; "/" for the root itself. */
export function formatOuPath(names: readonly string[]): string {
  return `/${names.map(escapeOuName).join('/')}`;
}

export type OuSelector = { kind: 'id'; id: string } | { kind: 'path'; path: string };

/**
 * A configured selector: an OU or root id, or a path. Returns an error text for anything else. Paths
 * are taken as written (escaped as above); a trailing "/" is dropped, empty segments are refused.
 */
export function parseOuSelector(text: string): OuSelector | string {
  if (OU_ID.test(text) || ROOT_ID.test(text)) return { kind: 'id', id: text };
  if (!text.startsWith('/')) return 'expected an OU id (ou-xxxx-xxxxxxxx), a root id (r-xxxx) or a path such as /Prod/Payments';
  if (text === '/') return { kind: 'path', path: text };
  const path = text.endsWith('/') ? text.slice(0, -1) : text;
  if (path.slice(1).split('/').some((seg) => seg === '')) return 'a path has no empty segments (//)';
  return { kind: 'path', path };
}

/** A selector matches the OU it names and everything below it. */
export function ouMatches(selector: OuSelector, placement: OuPlacement): boolean {
  if (selector.kind === 'id') return placement.ouIds.includes(selector.id);
  const p = selector.path;
  return p === '/' || placement.ouPath === p || placement.ouPath.startsWith(`${p}/`);
}

export type OuVerdict = 'keep' | 'skip';

/**
 * Applies includeOUs and excludeOUs to one account. An account whose placement is unknown (ListParents
 * failed and no earlier answer exists) cannot be shown to sit in an included OU, so with a non-empty
 * includeOUs it is skipped; it cannot be shown to sit in an excluded OU either, so excludeOUs alone keeps
 * it: the daemon would rather poll one account too many than stop watching one silently.
 */
export function selectByOu(placement: OuPlacement | null, include: readonly OuSelector[], exclude: readonly OuSelector[]): OuVerdict {
  if (include.length > 0 && (!placement || !include.some((s) => ouMatches(s, placement)))) return 'skip';
  if (placement && exclude.some((s) => ouMatches(s, placement))) return 'skip';
  return 'keep';
}
