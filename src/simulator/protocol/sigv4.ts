// Who a request is from and for: the SigV4 credential scope carries the access key id, the
// region and the service. Signatures are not verified (the simulator has no secrets to check).

export interface CredentialScope { accessKeyId: string; date: string; region: string; service: string }

const SCOPE = /Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request/;

/** undefined: no authorization at all; null: present but not a parseable SigV4 header. */
export function parseAuthorization(header: string | undefined): CredentialScope | null | undefined {
  if (header === undefined || header === '') return undefined;
  if (!header.startsWith('AWS4-HMAC-SHA256 ')) return null;
  const m = SCOPE.exec(header);
  if (!m) return null;
  return { accessKeyId: m[1]!, date: m[2]!, region: m[3]!, service: m[4]! };
}
