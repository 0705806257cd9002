// Reads what we need from a PEM certificate (fingerprint, expiry) so the PEM text itself never travels further.
import { createHash, X509Certificate } from 'node:crypto';

export interface CertificateFacts {
  sha256: string;
  /** notAfter, epoch ms; null when the text is not a parseable certificate. */
  notAfter: number | null;
}

export function certificateFacts(pem: string | undefined | null): CertificateFacts | null {
  if (!pem) return null;
  const sha256 = createHash('sha256').update(pem.trim()).digest('hex');
  try {
    const notAfter = Date.parse(new X509Certificate(pem).validTo);
    return { sha256, notAfter: Number.isFinite(notAfter) ? notAfter : null };
  } catch {
    return { sha256, notAfter: null };
  }
}
