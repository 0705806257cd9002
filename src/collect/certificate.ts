// Reads what we need from a PEM certificate (fingerprint, expiry) so the PEM text itself never travels further.
import { createHash, X509Certificate } from 'node:crypto';

export interface CertificateFacts {
  sha256: string;
  /** notAfter, epoch ms; null when the text is not a parseable certificate. */
  notAfter: number | null;
}

/**
 * notAfter by certificate fingerprint. The same trust anchors and cluster certificates come back every
 * poll, and parsing X.509 costs far more than hashing; bounded so a churning fleet cannot grow it.
 */
const notAfterBySha = new Map<string, number | null>();
const CACHE_LIMIT = 50_000;

export function certificateFacts(pem: string | undefined | null): CertificateFacts | null {
  if (!pem) return null;
  const sha256 = createHash('sha256').update(pem.trim()).digest('hex');
  const cached = notAfterBySha.get(sha256);
  if (cached !== undefined) return { sha256, notAfter: cached };
  let notAfter: number | null = null;
  try {
    const t = Date.parse(new X509Certificate(pem).validTo);
    notAfter = Number.isFinite(t) ? t : null;
  } catch {
    notAfter = null;
  }
  if (notAfterBySha.size >= CACHE_LIMIT) notAfterBySha.delete(notAfterBySha.keys().next().value as string);
  notAfterBySha.set(sha256, notAfter);
  return { sha256, notAfter };
}
