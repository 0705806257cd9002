// Reads what we need from a PEM certificate (expiry, fingerprint) so the PEM text itself never travels further.
//
// Every trust anchor and cluster certificate is read on every cold start, and node's X509Certificate (a
// full OpenSSL parse plus a JS object per certificate) cost 15 % of the main thread there although only
// notAfter is used (issue 14). The fast path decodes the PEM and walks the DER just far enough to reach
// TBSCertificate.validity (RFC 5280 4.1), checking the outline of the rest; anything it does not
// recognise as an ordinary certificate goes to X509Certificate, which decides as OpenSSL does. Neither
// path throws: text that is no certificate yields a null expiry.
import * as crypto from 'node:crypto';
import { createHash, X509Certificate } from 'node:crypto';

/** One-shot crypto.hash (Node >= 20.12, faster for small inputs), or createHash where it is missing (package.json allows any Node 20). */
const hash: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (crypto as unknown as { hash: (a: string, d: string | Uint8Array, e: 'hex') => string }).hash
    : (algorithm, data, encoding) => createHash(algorithm).update(data).digest(encoding);

export interface CertificateFacts {
  /**
   * SHA-256 of the trimmed PEM text, hex. Compared across polls to notice a changed trust anchor and kept
   * in the state files (StoreRecord.trustAnchorSha256), so it stays the text hash it has always been:
   * switching it to the DER fingerprint would report every trust anchor as changed once after an upgrade.
   */
  sha256: string;
  /** SHA-256 of the certificate's DER, lowercase hex: `openssl x509 -noout -fingerprint -sha256` without colons. Null when the text is no certificate. */
  fingerprint: string | null;
  /** notAfter, epoch ms; null when the text is not a parseable certificate. */
  notAfter: number | null;
}

/** What a reader found in a certificate. */
export interface CertificateReading {
  fingerprint: string;
  notAfter: number | null;
}

/**
 * Facts by text hash. The same trust anchors and cluster certificates come back every poll; bounded so a
 * churning fleet cannot grow it (about 250 bytes an entry). The value is keyed by the hash that is
 * computed anyway for `sha256`, so a hit costs nothing more.
 */
const cache = new Map<string, { fingerprint: string | null; notAfter: number | null }>();
const CACHE_LIMIT = 50_000;
/** Longer text is not parsed at all (a certificate is a few KB; AWS caps a trust anchor far below this). */
export const MAX_CERTIFICATE_TEXT = 1 << 20;

/** How each certificate was read (the benchmark and tests look; nothing else depends on them). */
export const certificateReads = { fast: 0, fallback: 0, unreadable: 0, cached: 0 };

export function certificateFacts(pem: string | undefined | null): CertificateFacts | null {
  if (typeof pem !== 'string' || pem === '') return null;
  const text = pem.trim();
  const sha256 = hash('sha256', text, 'hex');
  const hit = cache.get(sha256);
  if (hit) {
    certificateReads.cached++;
    return { sha256, ...hit };
  }
  let reading: CertificateReading | null = null;
  if (text.length <= MAX_CERTIFICATE_TEXT) {
    reading = readCertificateFast(text);
    if (reading) certificateReads.fast++;
    else {
      reading = readCertificateX509(text);
      if (reading) certificateReads.fallback++;
    }
  }
  if (!reading) certificateReads.unreadable++;
  const facts = { fingerprint: reading?.fingerprint ?? null, notAfter: reading?.notAfter ?? null };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(sha256, facts);
  return { sha256, ...facts };
}

/** Empties the cache (benchmarks measure the readers, not the cache). */
export function clearCertificateCache(): void {
  cache.clear();
}

// ---------- the slow, general reader ----------

/** node's X509Certificate (OpenSSL's PEM and DER readers): any form OpenSSL accepts; null when it refuses. */
export function readCertificateX509(text: string): CertificateReading | null {
  try {
    const x = new X509Certificate(text);
    return { fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase(), notAfter: parsePrintedTime(x.validTo) };
  } catch {
    return null;
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * OpenSSL's printed time ("Jun 30 12:00:00 2027 GMT", ASN1_TIME_print), which is what X509Certificate's
 * validTo gives on Node 20: fractional seconds as OpenSSL prints them ("00:00:00.5"), the year unpadded
 * ("50" for 0050). Parsed by hand: Date.parse of that form is V8's legacy heuristics (years below 100
 * become 19xx). Null for "Bad time value" and anything else.
 */
export function parsePrintedTime(s: string): number | null {
  const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))? (\d{1,4}) GMT$/.exec(s);
  if (!m) return null;
  const month = MONTHS.indexOf(m[1]!);
  if (month < 0) return null;
  const d = new Date(0);
  d.setUTCFullYear(Number(m[7]), month, Number(m[2]));
  d.setUTCHours(Number(m[3]), Number(m[4]), Number(m[5]), m[6] ? Number(m[6].slice(0, 3).padEnd(3, '0')) : 0);
  const t = d.getTime();
  return Number.isFinite(t) ? t : null;
}

// ---------- the fast path: PEM -> DER -> TBSCertificate.validity ----------

const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';
/** Base64 lines (RFC 7468 "strict" form, any line length, LF or CRLF), padding only at the end. */
const BASE64_BODY = /^(?:[A-Za-z0-9+/]+\r?\n)*[A-Za-z0-9+/]*={0,2}\r?\n$/;

/**
 * notAfter and the DER fingerprint, or null when the text is not one ordinary PEM certificate (then
 * X509Certificate decides). Linear in the text, never throws.
 */
export function readCertificateFast(text: string): CertificateReading | null {
  const der = pemToDer(text);
  if (!der) return null;
  const notAfter = derNotAfter(der);
  if (notAfter === null) return null;
  return { fingerprint: hash('sha256', der, 'hex'), notAfter };
}

/**
 * The DER of the only CERTIFICATE block of a PEM text. Explanatory text before and after is allowed
 * (RFC 7468 section 2, as OpenSSL skips it); encapsulated headers, other labels and a second block are
 * left to OpenSSL (which reads the first block of several).
 */
export function pemToDer(text: string): Buffer | null {
  const begin = text.indexOf(BEGIN);
  // OpenSSL looks for the boundary at the start of a line.
  if (begin < 0 || (begin > 0 && text.charCodeAt(begin - 1) !== 10)) return null;
  let bodyStart = begin + BEGIN.length;
  if (text.charCodeAt(bodyStart) === 13) bodyStart++;
  if (text.charCodeAt(bodyStart) !== 10) return null;
  bodyStart++;
  const end = text.indexOf(END, bodyStart);
  if (end < 0 || text.indexOf('-----BEGIN', end) >= 0) return null;
  const body = text.slice(bodyStart, end);
  if (!BASE64_BODY.test(body)) return null;
  // Whole 4-character groups (OpenSSL refuses a remainder; Buffer.from would quietly drop it).
  let newlines = 0;
  for (let i = 0; i < body.length; i++) if (body.charCodeAt(i) === 10 || body.charCodeAt(i) === 13) newlines++;
  if ((body.length - newlines) % 4 !== 0) return null;
  const der = Buffer.from(body, 'base64');
  return der.length > 0 ? der : null;
}

/** One DER element: its tag and the bounds of its content. */
interface Element {
  tag: number;
  start: number;
  end: number;
}

/**
 * The element at `pos`, which must fit before `limit`. DER only: definite, minimal lengths of at most
 * 4 octets (a certificate is far below 4 GB), low tag numbers. Null for anything else.
 */
function element(b: Uint8Array, pos: number, limit: number): Element | null {
  if (pos + 2 > limit) return null;
  const tag = b[pos]!;
  if ((tag & 0x1f) === 0x1f) return null; // high tag number form: never in a certificate's outline
  let len = b[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // 0x80 is BER's indefinite length; DER forbids it.
    if (n === 0 || n > 4 || p + n > limit) return null;
    if (b[p] === 0) return null; // leading zero octet: not minimal
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
    if (len < 0x80) return null; // long form for a short length: not minimal
  }
  if (len > limit - p) return null;
  return { tag, start: p, end: p + len };
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const VERSION = 0xa0; // [0] EXPLICIT
const ISSUER_UID = 0x81; // [1] IMPLICIT
const SUBJECT_UID = 0x82; // [2] IMPLICIT
const EXTENSIONS = 0xa3; // [3] EXPLICIT

/**
 * TBSCertificate.validity.notAfter of a DER certificate (RFC 5280 section 4.1), epoch ms; null when the
 * outline is not exactly that of a certificate:
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, signature SEQUENCE,
 *     issuer SEQUENCE, validity SEQUENCE { notBefore Time, notAfter Time }, subject SEQUENCE,
 *     subjectPublicKeyInfo SEQUENCE, [1] issuerUID OPTIONAL, [2] subjectUID OPTIONAL, [3] extensions OPTIONAL }
 * Every length must fit its parent and every SEQUENCE end exactly where its last element does. This is
 * the outline, not a validation of the contents: names, keys and extensions are skipped, so a certificate
 * whose outline is intact but whose contents OpenSSL refuses (a broken OID or UTF8String in a name) still
 * yields the notAfter written in it. AWS only stores certificates it could parse, so such text can only
 * come from a corrupted answer, and the date in it is still the date in it.
 */
export function derNotAfter(der: Uint8Array): number | null {
  const cert = element(der, 0, der.length);
  if (!cert || cert.tag !== SEQUENCE || cert.end !== der.length) return null;
  const tbs = element(der, cert.start, cert.end);
  if (!tbs || tbs.tag !== SEQUENCE) return null;
  const sigAlg = element(der, tbs.end, cert.end);
  if (!sigAlg || sigAlg.tag !== SEQUENCE) return null;
  const sig = element(der, sigAlg.end, cert.end);
  if (!sig || sig.tag !== BIT_STRING || sig.end !== cert.end) return null;
  // The unused-bits octet of a BIT STRING is 0-7.
  if (sig.end === sig.start || der[sig.start]! > 7) return null;
  if (!startsWithOid(der, sigAlg)) return null;

  let e = element(der, tbs.start, tbs.end);
  if (e?.tag === VERSION) {
    // Version ::= INTEGER { v1(0), v2(1), v3(2) }; DER omits v1 (the DEFAULT), so an explicit one is unusual.
    const v = element(der, e.start, e.end);
    if (!v || v.tag !== INTEGER || v.end !== e.end || v.end - v.start !== 1 || (der[v.start] !== 1 && der[v.start] !== 2)) return null;
    e = element(der, e.end, tbs.end);
  }
  const serial = e;
  if (!serial || serial.tag !== INTEGER || !minimalInteger(der, serial)) return null;
  const signature = element(der, serial.end, tbs.end);
  if (!signature || signature.tag !== SEQUENCE || !startsWithOid(der, signature)) return null;
  const issuer = element(der, signature.end, tbs.end);
  if (!issuer || issuer.tag !== SEQUENCE) return null;
  const validity = element(der, issuer.end, tbs.end);
  if (!validity || validity.tag !== SEQUENCE) return null;
  const subject = element(der, validity.end, tbs.end);
  if (!subject || subject.tag !== SEQUENCE) return null;
  const spki = element(der, subject.end, tbs.end);
  if (!spki || spki.tag !== SEQUENCE) return null;
  // The optional trailers, each at most once and in order.
  let pos = spki.end;
  for (const tag of [ISSUER_UID, SUBJECT_UID, EXTENSIONS]) {
    if (pos === tbs.end) break;
    const t = element(der, pos, tbs.end);
    if (!t) return null;
    if (t.tag === tag) pos = t.end;
  }
  if (pos !== tbs.end) return null;

  const notBefore = element(der, validity.start, validity.end);
  if (!notBefore) return null;
  const notAfter = element(der, notBefore.end, validity.end);
  if (!notAfter || notAfter.end !== validity.end) return null;
  // Both must read: OpenSSL refuses a certificate whose notBefore is malformed just the same.
  if (derTime(der, notBefore) === null) return null;
  return derTime(der, notAfter);
}

/** DER INTEGER content: at least one octet, no redundant leading 0x00 or 0xff (OpenSSL: "illegal padding"). */
function minimalInteger(b: Uint8Array, e: Element): boolean {
  if (e.end === e.start) return false;
  if (e.end - e.start === 1) return true;
  const first = b[e.start]!;
  const second = b[e.start + 1]!;
  return !((first === 0x00 && second < 0x80) || (first === 0xff && second >= 0x80));
}

/** An AlgorithmIdentifier: SEQUENCE { OBJECT IDENTIFIER, parameters OPTIONAL }. */
function startsWithOid(b: Uint8Array, e: Element): boolean {
  const id = element(b, e.start, e.end);
  return id !== null && id.tag === 0x06 && id.end > id.start;
}

/** Two ASCII digits as a number, or -1. */
function digits2(b: Uint8Array, i: number): number {
  const hi = b[i]! - 48;
  const lo = b[i + 1]! - 48;
  return hi >= 0 && hi <= 9 && lo >= 0 && lo <= 9 ? hi * 10 + lo : -1;
}

/**
 * A certificate Time (RFC 5280 4.1.2.5): UTCTime YYMMDDHHMMSSZ, where YY >= 50 is 19YY and YY < 50 is
 * 20YY; GeneralizedTime YYYYMMDDHHMMSSZ. Both in UTC with seconds and without fractions, as RFC 5280
 * requires. Anything else (offsets, fractions, missing seconds, impossible dates) is null: OpenSSL
 * decides those on the fallback path.
 */
function derTime(b: Uint8Array, t: Element): number | null {
  const n = t.end - t.start;
  let i = t.start;
  let year: number;
  if (t.tag === UTC_TIME && n === 13) {
    const yy = digits2(b, i);
    if (yy < 0) return null;
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    i += 2;
  } else if (t.tag === GENERALIZED_TIME && n === 15) {
    const hi = digits2(b, i);
    const lo = digits2(b, i + 2);
    if (hi < 0 || lo < 0) return null;
    year = hi * 100 + lo;
    // Date.UTC reads years 0-99 as 19xx; such certificates are OpenSSL's to read.
    if (year < 100) return null;
    i += 4;
  } else {
    return null;
  }
  if (b[t.end - 1] !== 0x5a) return null; // 'Z'
  const month = digits2(b, i);
  const day = digits2(b, i + 2);
  const hour = digits2(b, i + 4);
  const minute = digits2(b, i + 6);
  const second = digits2(b, i + 8);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return null;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
