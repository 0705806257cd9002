// What a failed DescribeCustomKeyStores says about its target. Pure: error codes and messages in,
// decisions out (poller.ts acts on them).
import type { TargetError, TargetStatus } from '../model.js';

/**
 * Codes AWS answers with for a request signed for an opt-in region the account has not enabled: JSON
 * services (KMS, CloudHSM) "UnrecognizedClientException: The security token included in the request is
 * invalid", STS "InvalidClientTokenId". The same codes also mean credentials AWS does not accept, so they
 * only make a target a suspect (classifyUnanswered decides).
 */
const REGION_NOT_ENABLED_CODES = new Set(['UnrecognizedClientException', 'InvalidClientTokenId']);

/** Codes that say the session itself has expired: the only errors after which the role is assumed again. */
const EXPIRED_CODES = new Set(['ExpiredTokenException', 'ExpiredToken']);

export const mayBeRegionNotEnabled = (code: string): boolean => REGION_NOT_ENABLED_CODES.has(code);
export const isExpiredCredentials = (code: string): boolean => EXPIRED_CODES.has(code);

/**
 * An access denial that comes from a service control policy: AWS names the policy type in the message
 * ("... is not authorized to perform: kms:DescribeCustomKeyStores with an explicit deny in a service
 * control policy"). Other denials (a missing IAM permission) are failures with their own guidance.
 */
export function isScpDeny(e: TargetError): boolean {
  return /^AccessDenied(Exception)?$/.test(e.code) && /explicit deny in a service control policy/i.test(e.message);
}

/**
 * A suspect target (mayBeRegionNotEnabled): not_enabled when the account's enabled regions are known and
 * do not include the region; when they are unknown (ListRegions not permitted or failing), not_enabled when
 * the same credentials answered in another region of the account this poll (so they are valid); else the
 * credentials are bad: failed.
 */
export function classifyUnanswered(region: string, enabled: readonly string[] | null, answeredElsewhere: boolean): Extract<TargetStatus, 'failed' | 'not_enabled'> {
  if (enabled) return enabled.includes(region) ? 'failed' : 'not_enabled';
  return answeredElsewhere ? 'not_enabled' : 'failed';
}

/** The IAM action a "not authorized to perform: <action>" denial names, if any. */
export function deniedAction(message: string): string | null {
  const m = /not authorized to perform:? ([a-z0-9-]+:[A-Za-z0-9]+)/.exec(message);
  return m ? m[1]! : null;
}
