// Real, parseable self-signed X.509 certificates with a chosen validity, built with a
// minimal DER encoder over node:crypto (Node has no certificate generator). One EC P-256
// key per process signs everything: the certificates only need to parse and carry dates.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

const der = (tag: number, body: Buffer): Buffer => {
  const len = body.length;
  let head: Buffer;
  if (len < 0x80) head = Buffer.from([tag, len]);
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    head = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([head, body]);
};
const seq = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => der(0x31, Buffer.concat(parts));
/**
 * A non-negative DER INTEGER: minimal octets (DER forbids a leading 0x00 before a byte below 0x80,
 * and OpenSSL rejects it as "illegal padding"), with one 0x00 added when the top bit is set.
 */
export const derInteger = (bytes: Buffer): Buffer => {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const minimal = bytes.subarray(start);
  return der(0x02, minimal[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
};
const utf8 = (s: string) => der(0x0c, Buffer.from(s, 'utf8'));
const oid = (dotted: string): Buffer => {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
};
const time = (ms: number): Buffer => {
  const iso = new Date(ms).toISOString(); // 2025-01-01T00:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = new Date(ms).getUTCFullYear();
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050 && year >= 1950 ? der(0x17, Buffer.from(digits.slice(2) + 'Z')) : der(0x18, Buffer.from(digits + 'Z'));
};
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

let signingKey: { privateKey: KeyObject; spki: Buffer } | undefined;
function key() {
  if (!signingKey) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    signingKey = { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
  }
  return signingKey;
}

export interface CertSpec { commonName: string; notBefore: number; notAfter: number }

/** A PEM certificate valid from notBefore to notAfter (epoch ms). */
export function selfSignedPem(spec: CertSpec): string {
  const { privateKey, spki } = key();
  const serial = createHash('sha256').update(`${spec.commonName}|${spec.notBefore}|${spec.notAfter}`).digest().subarray(0, 16);
  const tbs = seq(
    der(0xa0, derInteger(Buffer.from([2]))),
    derInteger(serial),
    ECDSA_SHA256,
    name(spec.commonName),
    seq(time(spec.notBefore), time(spec.notAfter)),
    name(spec.commonName),
    spki,
  );
  const signature = sign('sha256', tbs, privateKey);
  const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = cert.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}
