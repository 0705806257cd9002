// Certificate reader benchmark (issue 14 item 2): certificates per second through the fast DER path
// (collect/certificate.ts) against node's X509Certificate, over real certificates (node's bundled
// Mozilla roots: RSA and EC, 1-4 KB) and the simulator's (EC P-256, about 400 bytes), in this process.
//   npx tsx bench/certificates.ts [--seconds 2] [--repeat 5]
import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { parseArgs } from 'node:util';
import { certificateFacts, clearCertificateCache, readCertificateFast, readCertificateX509 } from '../src/collect/certificate.js';
import { selfSignedPem } from '../src/simulator/certs.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, repeat: { type: 'string', default: '5' } } });
const SECONDS = Number(values.seconds);
const REPEAT = Number(values.repeat);

const day = 86_400_000;
const simulator = Array.from({ length: 200 }, (_, i) => selfSignedPem({ commonName: `cluster-${i}`, notBefore: Date.UTC(2026, 0, 1), notAfter: Date.UTC(2026, 0, 1) + (i + 1) * 30 * day }));
const corpora = { [`Mozilla roots (${rootCertificates.length})`]: rootCertificates, [`simulator (${simulator.length})`]: simulator };

/** Certificates per second of fn over the corpus, for about SECONDS. */
function rate(corpus: readonly string[], fn: (pem: string) => unknown): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < SECONDS * 1000) {
    for (const pem of corpus) fn(pem);
    n += corpus.length;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

const readers: [string, (pem: string) => unknown][] = [
  ['X509Certificate (validTo + fingerprint256)', readCertificateX509],
  ['X509Certificate validTo only (the code before)', (pem) => Date.parse(new X509Certificate(pem).validTo)],
  ['fast DER path (notAfter + DER SHA-256)', readCertificateFast],
  ['certificateFacts, cache cleared each pass', (pem) => certificateFacts(pem)],
  ['certificateFacts, cached (steady-state polls)', (pem) => certificateFacts(pem)],
];

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
for (const [label, corpus] of Object.entries(corpora)) {
  console.log(`\n${label}`);
  const results: Record<string, number[]> = {};
  for (let r = 0; r < REPEAT; r++) {
    for (const [name, fn] of readers) {
      const cached = name.includes('cached (');
      if (!cached) clearCertificateCache();
      const run = cached ? fn : (pem: string) => { const v = fn(pem); if (name.includes('cleared')) clearCertificateCache(); return v; };
      (results[name] ??= []).push(rate(corpus, run));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(results[readers[0]![0]]!);
  for (const [name] of readers) {
    const xs = results[name]!;
    console.log(`  ${name.padEnd(48)} ${fmt(median(xs)).padStart(10)} certs/s  (${REPEAT} runs: ${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})  x${(median(xs) / base).toFixed(1)}`);
  }
}
