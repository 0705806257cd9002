// The simulator's certificates must parse for every validity: the serial is a hash, so about one
// in 512 starts with a zero byte, which the encoder once kept (OpenSSL: "illegal padding") and the
// daemon then saw no trust anchor expiry at all.
import { createHash, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derInteger, selfSignedPem } from '../../src/simulator/certs.js';

const DAY = 86_400_000;

describe('derInteger', () => {
  it.each([
    ['05', '020105'],
    ['0005', '020105'],
    ['000080', '02020080'],
    ['80', '02020080'],
    ['00', '020100'],
    ['0000', '020100'],
    ['7fff', '02027fff'],
  ])('%s -> %s', (input, expected) => {
    expect(derInteger(Buffer.from(input, 'hex')).toString('hex')).toBe(expected);
  });
});

describe('selfSignedPem', () => {
  it('parses, with the requested expiry, also when the hashed serial starts with zero bytes', () => {
    const commonName = 'keystore-watch simulator trust anchor cks-4d5e6f7a8b9c00004';
    const notBefore = Date.UTC(2026, 0, 1);
    // Find validities whose serial (first 16 bytes of this hash) starts with 0x00 then a byte < 0x80.
    const padded: number[] = [];
    for (let i = 0; padded.length < 3; i++) {
      const notAfter = Date.UTC(2027, 0, 1) + i * 1000;
      const serial = createHash('sha256').update(`${commonName}|${notBefore}|${notAfter}`).digest();
      if (serial[0] === 0 && serial[1]! < 0x80) padded.push(notAfter);
    }
    for (const notAfter of [...padded, Date.UTC(2049, 11, 31), Date.UTC(2050, 0, 1) + 20 * DAY]) {
      const cert = new X509Certificate(selfSignedPem({ commonName, notBefore, notAfter }));
      expect(Date.parse(cert.validTo), `notAfter ${new Date(notAfter).toISOString()}`).toBe(notAfter);
      expect(Date.parse(cert.validFrom)).toBe(notBefore);
      expect(cert.serialNumber).not.toMatch(/^00/);
    }
  });
});
