// certificateFacts: the expiry and fingerprint of a PEM (the PEM itself never travels further).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { certificateFacts } from '../../src/collect/certificate.js';
import { selfSignedPem } from '../../src/simulator/certs.js';

const pem = (notAfter: number) => selfSignedPem({ commonName: 'certificate facts test', notBefore: Date.UTC(2026, 0, 1), notAfter });

describe('certificateFacts', () => {
  it('reads notAfter and fingerprints the trimmed PEM, the same on every call', () => {
    const notAfter = Date.UTC(2027, 5, 30, 12, 0, 0);
    const text = pem(notAfter);
    const facts = certificateFacts(text);
    expect(facts).toEqual({ sha256: createHash('sha256').update(text.trim()).digest('hex'), notAfter });
    // Served from the fingerprint cache the second time, with surrounding whitespace ignored.
    expect(certificateFacts(`\n  ${text}\n\n`)).toEqual(facts);
    // Another certificate is another entry.
    expect(certificateFacts(pem(notAfter + 1000))!.notAfter).toBe(notAfter + 1000);
  });

  it('answers a null expiry for text that is not a certificate, and null for no text', () => {
    for (let i = 0; i < 2; i++) {
      const f = certificateFacts('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
      expect(f!.notAfter).toBeNull();
      expect(f!.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(certificateFacts(undefined)).toBeNull();
    expect(certificateFacts('')).toBeNull();
  });
});
