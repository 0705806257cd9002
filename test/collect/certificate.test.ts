// certificateFacts: the expiry and fingerprint of a PEM (the PEM itself never travels further).
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificateFacts, clearCertificateCache, MAX_CERTIFICATE_TEXT, readCertificateFast, readCertificateX509 } from '../../src/collect/certificate.js';
import { selfSignedPem } from '../../src/simulator/certs.js';

const pem = (notAfter: number) => selfSignedPem({ commonName: 'certificate facts test', notBefore: Date.UTC(2026, 0, 1), notAfter });

describe('certificateFacts', () => {
  it('reads notAfter and fingerprints the trimmed PEM, the same on every call', () => {
    const notAfter = Date.UTC(2027, 5, 30, 12, 0, 0);
    const text = pem(notAfter);
    const facts = certificateFacts(text);
    expect(facts).toEqual({ sha256: createHash('sha256').update(text.trim()).digest('hex'), fingerprint: createHash('sha256').update(Buffer.from(text.replace(/-----[^-]+-----/g, ''), 'base64')).digest('hex'), notAfter });
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

// Hostile input: whatever text AWS (or a man in the middle of a misconfigured proxy) hands over, the reader
// answers, never throws, never hangs, and whenever the fast path answers it answers what X509Certificate
// (OpenSSL in-process) answers; certificateFacts always ends with X509Certificate's answer.
describe('certificate reader on hostile input', () => {
  const ec = selfSignedPem({ commonName: 'hostile base', notBefore: Date.UTC(2025, 0, 1), notAfter: Date.UTC(2055, 0, 1) });
  const rsaRoot = rootCertificates.find((p) => p.length > 1800)!; // an RSA 4096 root: 2-octet lengths
  const derOf = (p: string) => Buffer.from(p.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const pemOf = (d: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(d).toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;

  /** Checks one text and says which reader answered. */
  function check(text: string): 'fast' | 'x509' | 'none' {
    let fast: ReturnType<typeof readCertificateFast> = null;
    let facts: ReturnType<typeof certificateFacts> = null;
    expect(() => { fast = readCertificateFast(text); }).not.toThrow();
    expect(() => { facts = certificateFacts(text); }).not.toThrow();
    const x509 = readCertificateX509(text);
    if (fast) expect(fast, text.slice(0, 200)).toEqual(x509);
    expect({ notAfter: facts!.notAfter, fingerprint: facts!.fingerprint }).toEqual({ notAfter: x509?.notAfter ?? null, fingerprint: x509?.fingerprint ?? null });
    return fast ? 'fast' : x509 ? 'x509' : 'none';
  }

  it('truncated at every length, and with trailing bytes: never the fast path, never an answer OpenSSL would not give', () => {
    clearCertificateCache();
    for (const base of [ec, rsaRoot]) {
      const d = derOf(base);
      const seen = new Set<string>();
      for (let n = 0; n < d.length; n++) seen.add(check(pemOf(d.subarray(0, n))));
      expect(seen.has('fast')).toBe(false);
      for (const extra of [[0], [0x30, 0], [0xff, 0xff, 0xff]]) expect(check(pemOf(Buffer.concat([d, Buffer.from(extra)])))).not.toBe('fast');
      expect(check(base)).toBe('fast');
    }
  });

  it('every byte of the outline replaced by a hostile length or tag: the fast path never gives another date', () => {
    clearCertificateCache();
    const d = derOf(ec);
    const notAfter = Date.UTC(2055, 0, 1);
    // Where the validity's two times sit: a mutation there may change the date, so there the fast path must agree with OpenSSL.
    const at = d.indexOf(Buffer.from('180f3230353530313031', 'hex'));
    const validity = [at - 17, at + 17];
    expect(at).toBeGreaterThan(0);
    const counts = { fast: 0, x509: 0, none: 0, outlineOnly: 0 };
    for (let i = 0; i < Math.min(200, d.length); i++) {
      for (const v of [0x00, 0x7f, 0x80, 0x81, 0x84, 0x85, 0x89, 0xff, 0x1f, 0x30, 0x17, 0x18]) {
        const m = Buffer.from(d);
        m[i] = v;
        const text = pemOf(m);
        const fast = readCertificateFast(text);
        const x509 = readCertificateX509(text);
        const facts = certificateFacts(text)!;
        if (x509) {
          // OpenSSL reads it: every path gives OpenSSL's answer.
          if (fast) expect(fast).toEqual(x509);
          expect({ notAfter: facts.notAfter, fingerprint: facts.fingerprint }).toEqual(x509);
          counts[fast ? 'fast' : 'x509']++;
        } else if (fast) {
          // OpenSSL refuses contents the fast path does not interpret (a name's OID or UTF8String, key bytes):
          // the date is still the one written in the certificate, and never from a mutated validity.
          expect(i < validity[0]! || i >= validity[1]!, `mutation at ${i} inside the validity`).toBe(true);
          expect(fast.notAfter).toBe(notAfter);
          expect(facts.notAfter).toBe(notAfter);
          counts.outlineOnly++;
        } else {
          expect(facts).toMatchObject({ notAfter: null, fingerprint: null });
          counts.none++;
        }
      }
    }
    // Most mutations break the certificate; some (inside names, signature values) still read, through either path.
    expect(counts.none).toBeGreaterThan(100);
    expect(counts.fast).toBeGreaterThan(10);
  });

  it('indefinite, huge and overlong lengths', () => {
    const d = derOf(ec);
    const body = d.subarray(4); // the outer SEQUENCE has a 2-octet length (0x82 xx xx)
    expect(d[1]).toBe(0x82);
    for (const head of [[0x30, 0x80], [0x30, 0x84, 0xff, 0xff, 0xff, 0xff], [0x30, 0x84, 0x7f, 0xff, 0xff, 0xff], [0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9], [0x30, 0x83, 0x00, d[2]!, d[3]!], [0x30, 0x81, 0x05]]) {
      expect(check(pemOf(Buffer.concat([Buffer.from(head), body, Buffer.from([0, 0])])))).not.toBe('fast');
    }
  });

  it('garbage, non-PEM strings, several certificates, huge text: an answer (usually null), quickly', () => {
    const hostile = Object.values(JSON.parse(readFileSync('test/fixtures/hostile-strings.json', 'utf8')) as Record<string, string>);
    const texts = [
      ...hostile, ...hostile.map((h) => `-----BEGIN CERTIFICATE-----\n${h}\n-----END CERTIFICATE-----\n`),
      'not a certificate', '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n',
      '-----BEGIN CERTIFICATE-----\n====\n-----END CERTIFICATE-----\n', '-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n',
      pemOf(randomBytes(700)), pemOf(Buffer.concat([Buffer.from([0x30, 0x82, 0x02, 0xbc]), randomBytes(700)])),
      ec + ec, ec + 'garbage', 'garbage\n' + ec, ec.replace('CERTIFICATE', 'PRIVATE KEY'), ec.replace(/\n/g, '\n\n'),
      `-----BEGIN CERTIFICATE-----\n${'A'.repeat(900_000)}\n-----END CERTIFICATE-----\n`,
      `-----BEGIN CERTIFICATE-----\n${'MIIB'.repeat(1_000_000)}\n-----END CERTIFICATE-----\n`, // past MAX_CERTIFICATE_TEXT: not parsed
      '-----BEGIN CERTIFICATE-----\n'.repeat(50_000),
    ];
    const seen = texts.map((t) => check(t));
    // Only the texts that hold an intact certificate are read: two certificates by OpenSSL (the fast path
    // leaves a second block to it), one among explanatory text by the fast path.
    expect(seen.filter((s) => s !== 'none')).toEqual(['x509', 'fast', 'fast']);
    // Two certificates in one text: the first, as OpenSSL reads it (through the fallback).
    expect(check(ec + pem(Date.UTC(2030, 0, 1)))).toBe('x509');
    expect(certificateFacts(ec + pem(Date.UTC(2030, 0, 1)))!.notAfter).toBe(Date.UTC(2055, 0, 1));
    // Text past MAX_CERTIFICATE_TEXT is hashed but not parsed, even when it holds a certificate.
    const padded = `${'x'.repeat(MAX_CERTIFICATE_TEXT)}\n${ec}`;
    expect(certificateFacts(padded)).toMatchObject({ notAfter: null, fingerprint: null });
  });

  it('values that are not strings', () => {
    for (const v of [123, {}, [], Buffer.from(ec)] as unknown as string[]) {
      expect(() => certificateFacts(v)).not.toThrow();
      expect(certificateFacts(v)).toBeNull();
    }
  });
});
