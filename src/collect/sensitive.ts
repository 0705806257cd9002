// Members of the AWS answers keystore-watch reads that the service models mark `@sensitive`
// (smithy.api#sensitive), and what the daemon keeps of each. test/collect/sensitive.test.ts derives the
// list from the Smithy models in ../shared/reference/aws-models for every operation src/ calls, so a
// member AWS newly marks sensitive (or a new operation with one) fails that test until it is decided here.

export type SensitiveHandling = 'masked' | 'discarded' | 'sdk-only' | 'shown';

export const SENSITIVE_MEMBERS: Record<string, { handling: SensitiveHandling; why: string }> = {
  'kms#XksProxyConfigurationType.AccessKeyId': {
    handling: 'masked',
    why: 'The XKS proxy authentication credential id: only its last 4 characters are kept (xks.accessKeyIdLast4), so an operator can tell which credential is configured; the full id never reaches the snapshot, state files, API, metrics, logs or notifications.',
  },
  'kms#GenerateRandomResponse.Plaintext': {
    handling: 'discarded',
    why: 'The probe only needs GenerateRandom to succeed; the random bytes are never read.',
  },
  'sts#Credentials.SecretAccessKey': {
    handling: 'sdk-only',
    why: 'AssumeRole credentials live inside the SDK credential provider for request signing; no record copies them, and the redactor scrubs SecretAccessKey/SessionToken shapes from any text.',
  },
  'organizations#Account.Email': {
    handling: 'discarded',
    why: 'Discovery keeps only the account id, name and state.',
  },
  'organizations#Account.Name': {
    handling: 'shown',
    why: 'The account name is the label operators read in metrics, the API and alerts (account_name); it is the organisation\'s own naming, not a credential. AWS marks it sensitive so its SDKs keep it out of their own debug logs.',
  },
};

/**
 * What the daemon keeps of an XKS proxy access key id: its last 4 characters (the model allows 20-30
 * characters of [A-Z2-7], so 4 reveal 20 of at least 100 bits), or null when there is none.
 */
export function accessKeyIdLast4(id: string | null | undefined): string | null {
  if (typeof id !== 'string' || id === '') return null;
  return id.length >= 16 ? id.slice(-4) : '';
}
