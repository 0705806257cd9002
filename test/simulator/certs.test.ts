// The simulator's certificates must parse for every validity: the serial is a hash, so about one
// in 512 starts with a zero byte and then a byte below 0x80, which the encoder once kept (OpenSSL:
// "illegal padding") and the daemon then saw no trust anchor expiry at all.
import { X509Certificate } from 'node:crypto';
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
  it('parses with the requested validity for every serial, including serials that start with zero bytes', () => {
    const commonName = 'keystore-watch simulator trust anchor cks-4d5e6f7a8b9c00004';
    const notBefore = Date.UTC(2026, 0, 1);
    // Walk validities until three certificates carry a serial whose 16 hashed bytes began with 0x00
    // and then a byte below 0x80 (the parsed serial is then at most 15 bytes with a top bit clear).
    const zeroLed: string[] = [];
    let tried = 0;
    for (; zeroLed.length < 3 && tried < 20_000; tried++) {
      const notAfter = Date.UTC(2027, 0, 1) + tried * 1000;
      const cert = new X509Certificate(selfSignedPem({ commonName, notBefore, notAfter }));
      expect(Date.parse(cert.validTo)).toBe(notAfter);
      if (cert.serialNumber.length <= 30 && parseInt(cert.serialNumber[0]!, 16) < 8) zeroLed.push(cert.serialNumber);
    }
    expect(zeroLed, `zero-led serials among ${tried} certificates`).toHaveLength(3);
    // RFC 5280 switches from UTCTime to GeneralizedTime in 2050.
    for (const notAfter of [Date.UTC(2049, 11, 31), Date.UTC(2050, 0, 1) + 20 * DAY]) {
      const cert = new X509Certificate(selfSignedPem({ commonName, notBefore, notAfter }));
      expect(Date.parse(cert.validTo)).toBe(notAfter);
      expect(Date.parse(cert.validFrom)).toBe(notBefore);
    }
  });
});
