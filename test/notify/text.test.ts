// Outbound text hygiene (src/notify/text.ts): pure functions, no I/O.
import { describe, expect, it } from 'vitest';
import { cleanDeep, cleanNotification, cleanText, wellFormed, wellFormedDeep } from '../../src/notify/text.js';
import { alert, digest } from './fixtures.js';
import { strictTextProblems } from '../helpers/strict-text.js';

describe('cleanText', () => {
  it('replaces lone surrogates (high, low, reversed pair) with U+FFFD and keeps real pairs', () => {
    expect(cleanText('a\uD800b')).toBe('a\uFFFDb');
    expect(cleanText('a\uDFFFb')).toBe('a\uFFFDb');
    expect(cleanText('\uDC00\uD800')).toBe('\uFFFD\uFFFD');
    expect(cleanText('end\uD83D')).toBe('end\uFFFD');
    expect(cleanText('key 🔑 ключ 鍵')).toBe('key 🔑 ключ 鍵');
    expect(cleanText('\uD83D\uDD11')).toBe('🔑');
  });

  it('shows bidi overrides, isolates and other invisible format characters escaped', () => {
    expect(cleanText('prod\u202Eexe.gnp')).toBe('prod<U+202E>exe.gnp');
    expect(cleanText('\u202A\u202B\u202C\u202D\u202E')).toBe('<U+202A><U+202B><U+202C><U+202D><U+202E>');
    expect(cleanText('\u2066x\u2067y\u2068z\u2069')).toBe('<U+2066>x<U+2067>y<U+2068>z<U+2069>');
    expect(cleanText('zero\u200Bwidth\u200C\u200D\u2060\uFEFF\u00AD\u200E\u200F\u061C')).toBe('zero<U+200B>width<U+200C><U+200D><U+2060><U+FEFF><U+00AD><U+200E><U+200F><U+061C>');
    // Astral format characters (tag characters) are escaped whole, not as two halves.
    expect(cleanText('flag\u{E0041}')).toBe('flag<U+E0041>');
  });

  it('leaves ordinary text, control characters and newlines to the notifiers (they flatten and drop those)', () => {
    const plain = 'payments-hsm <!channel> *bold* `code` "q" \\ \n\t \u0000';
    expect(cleanText(plain)).toBe(plain);
  });

  it('is idempotent and its output is strict-clean', () => {
    const nasty = '\uD800x\u202Ey\u2066\uDFFF\u200B';
    expect(cleanText(cleanText(nasty))).toBe(cleanText(nasty));
    expect(strictTextProblems(JSON.stringify({ s: cleanText(nasty) }), { json: true })).toEqual([]);
    expect(strictTextProblems(JSON.stringify({ s: nasty }), { json: true }).length).toBeGreaterThan(0);
  });
});

describe('cleanDeep / cleanNotification / wellFormedDeep', () => {
  it('cleans every string of a notification, keys included, and leaves numbers, nulls and booleans', () => {
    const n = alert({}, { storeName: 'a\uD800\u202Eb', details: { 'k\u2066': 'v\uDFFF' }, clusterId: null });
    const c = cleanNotification(n);
    expect(c.subject.storeName).toBe('a\uFFFD<U+202E>b');
    expect(c.subject.details).toEqual({ 'k<U+2066>': 'v\uFFFD' });
    expect(c.subject.clusterId).toBeNull();
    expect(c.since).toBe(n.since);
    expect(n.subject.storeName).toBe('a\uD800\u202Eb'); // the input is not mutated
    const d = cleanNotification(digest([n]));
    expect(d.items[0]!.subject.storeName).toBe('a\uFFFD<U+202E>b');
    expect(cleanDeep([1, true, null, 'x\u202E'])).toEqual([1, true, null, 'x<U+202E>']);
  });

  it('wellFormed keeps the length (so a payload clamped to a channel limit stays within it)', () => {
    const s = 'ab\uD800cd\uDC00';
    expect(wellFormed(s)).toBe('ab\uFFFDcd\uFFFD');
    expect(wellFormed(s)).toHaveLength(s.length);
    expect(wellFormedDeep({ 'x\uD800': ['\uDFFF'] })).toEqual({ 'x\uFFFD': ['\uFFFD'] });
  });
});
