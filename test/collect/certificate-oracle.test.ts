// The certificate reader against OpenSSL: every certificate of the corpus (real roots, openssl-made,
// built at the edges of RFC 5280, the simulator's, PEM variants) must get the notAfter and SHA-256
// fingerprint that `openssl x509 -noout -enddate -fingerprint -sha256` prints, from the fast DER path,
// from the X509Certificate fallback, and from certificateFacts that combines them.
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateFacts, clearCertificateCache, readCertificateFast, readCertificateX509 } from '../../src/collect/certificate.js';
import { builtCorpus, opensslCorpus, opensslFactsAll, pemVariants, realCorpus, simulatorCorpus, type CorpusEntry, type OpenSslAnswer } from './certificate-corpus.js';
import { mustRun } from '../helpers/tools.js';

describe.skipIf(!mustRun('openssl'))('certificate reader vs openssl x509', () => {
  let corpus: (CorpusEntry & { openssl: OpenSslAnswer })[] = [];

  beforeAll(() => {
    const made = opensslCorpus();
    const entries = [...realCorpus(), ...simulatorCorpus(), ...builtCorpus(), ...made, ...pemVariants(made)];
    const answers = opensslFactsAll(entries.map((e) => e.text));
    corpus = entries.map((e, i) => ({ ...e, openssl: answers[i]! }));
  }, 300_000);

  it('the corpus is what it claims: varied keys, both time types, far dates, readable by openssl', () => {
    expect(corpus.length).toBeGreaterThan(200);
    const years = corpus.filter((e) => e.openssl.notAfter !== null).map((e) => new Date(e.openssl.notAfter!).getUTCFullYear());
    expect(years.filter((y) => y >= 2050).length).toBeGreaterThan(10); // GeneralizedTime notAfter
    expect(years.filter((y) => y < 2050).length).toBeGreaterThan(150); // UTCTime notAfter
    expect(years).toContain(9999);
    expect(years).toContain(1999);
    // Every ordinary certificate is one openssl reads.
    expect(corpus.filter((e) => e.ordinary && (e.openssl.notAfter === null || e.openssl.fingerprint === null)).map((e) => e.name)).toEqual([]);
    // The unusual ones include some openssl reads (the fallback must get those right) and some it refuses.
    const unusual = corpus.filter((e) => !e.ordinary);
    expect(unusual.filter((e) => e.openssl.notAfter !== null).length).toBeGreaterThan(3);
    expect(unusual.filter((e) => e.openssl.fingerprint === null).length).toBeGreaterThan(3);
  });

  it('certificateFacts agrees with openssl on every certificate of the corpus, fresh and from its cache', () => {
    clearCertificateCache();
    for (const pass of ['fresh', 'cached']) {
      const disagree = corpus
        .map((e) => ({ name: `${pass}: ${e.name}`, openssl: e.openssl, ours: certificateFacts(e.text) }))
        .filter((r) => r.ours?.notAfter !== r.openssl.notAfter || r.ours?.fingerprint !== r.openssl.fingerprint);
      expect(disagree).toEqual([]);
    }
  });

  it('the fast path reads every ordinary certificate itself, agreeing with openssl, and leaves the unusual ones to the fallback', () => {
    const wrong: unknown[] = [];
    for (const e of corpus) {
      const fast = readCertificateFast(e.text);
      if (e.ordinary && fast === null) wrong.push({ name: e.name, problem: 'left to the fallback' });
      if (!e.ordinary && fast !== null) wrong.push({ name: e.name, problem: 'read by the fast path', fast, openssl: e.openssl });
      if (fast && (fast.notAfter !== e.openssl.notAfter || fast.fingerprint !== e.openssl.fingerprint)) wrong.push({ name: e.name, fast, openssl: e.openssl });
    }
    expect(wrong).toEqual([]);
  });

  it('the X509Certificate fallback agrees with openssl on every certificate of the corpus', () => {
    const wrong = corpus
      .map((e) => ({ name: e.name, openssl: e.openssl, x509: readCertificateX509(e.text) }))
      .filter((r) => (r.x509?.notAfter ?? null) !== r.openssl.notAfter || (r.x509?.fingerprint ?? null) !== r.openssl.fingerprint);
    expect(wrong).toEqual([]);
  });
});
