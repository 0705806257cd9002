// What IAM would refuse before a handler runs: service control policy denies (explicit, per account
// and region) and permissions an account's identities lack (implicit deny). Actions are IAM action
// names with `*` wildcards (kms:*, kms:Describe*, *). Patterns are compiled once, when set.
import type { ServiceName } from './scenario.js';

/** The IAM service prefix of each simulated service. */
export const IAM_PREFIX: Record<ServiceName, string> = { kms: 'kms', cloudhsm: 'cloudhsm', sts: 'sts', organizations: 'organizations', account: 'account', cloudwatch: 'cloudwatch', cloudtrail: 'cloudtrail' };

export interface ScpDeny { account: string; region?: string | undefined; action: string }

interface CompiledScp { account: string; region: string | undefined; action: RegExp }

const compile = (action: string) => new RegExp(`^${action.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');

export class Policies {
  private scp: CompiledScp[] = [];
  private missing = new Map<string, RegExp[]>();

  /** Nothing to check: the request path skips building the action name. */
  get empty(): boolean {
    return this.scp.length === 0 && this.missing.size === 0;
  }

  setScpDeny(list: readonly ScpDeny[]): void {
    this.scp = list.map((d) => ({ account: d.account, region: d.region, action: compile(d.action) }));
  }

  setMissingPermissions(account: string, actions: readonly string[]): void {
    if (actions.length === 0) this.missing.delete(account);
    else this.missing.set(account, actions.map(compile));
  }

  /**
   * Why IAM refuses `action` for a caller of `account` in `region`: an SCP's explicit deny (never for the
   * management account: SCPs do not apply to it), or no identity-based policy allowing it.
   */
  refusal(account: string, region: string, action: string, management: boolean): 'scp' | 'identity' | undefined {
    if (!management && this.scp.length > 0) {
      for (const d of this.scp) {
        if (d.account === account && (d.region === undefined || d.region === region) && d.action.test(action)) return 'scp';
      }
    }
    const missing = this.missing.get(account);
    if (missing && missing.some((r) => r.test(action))) return 'identity';
    return undefined;
  }
}

/**
 * The message AWS's authorization layer writes. "on resource: …" only for an action on a resource ARN
 * (sts:AssumeRole on the role); the KMS, CloudHSM, Organizations and Account reads take none.
 */
export function refusalMessage(callerArn: string, action: string, kind: 'scp' | 'identity', resource?: string): string {
  const what = `User: ${callerArn} is not authorized to perform: ${action}${resource ? ` on resource: ${resource}` : ''}`;
  return kind === 'scp' ? `${what} with an explicit deny in a service control policy` : `${what} because no identity-based policy allows the ${action} action`;
}
