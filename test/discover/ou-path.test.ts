import { describe, expect, it } from 'vitest';
import { formatOuPath, ouMatches, parseOuSelector, selectByOu, type OuPlacement, type OuSelector } from '../../src/discover/ou-path.js';

const payments: OuPlacement = { ouPath: '/Prod/Payments', ouIds: ['r-ab12', 'ou-ab12-11111111', 'ou-ab12-22222222'] };
const paymentsEu: OuPlacement = { ouPath: '/Prod/Payments/EU', ouIds: ['r-ab12', 'ou-ab12-11111111', 'ou-ab12-22222222', 'ou-ab12-33333333'] };
const paymentsOps: OuPlacement = { ouPath: '/Prod/PaymentsOps', ouIds: ['r-ab12', 'ou-ab12-11111111', 'ou-ab12-44444444'] };
const underRoot: OuPlacement = { ouPath: '/', ouIds: ['r-ab12'] };
const sel = (s: string) => parseOuSelector(s) as OuSelector;

describe('formatOuPath', () => {
  it('joins names from the root down; the root itself is /', () => {
    expect(formatOuPath([])).toBe('/');
    expect(formatOuPath(['Prod', 'Payments'])).toBe('/Prod/Payments');
  });

  it('escapes / and % inside a name, so a name cannot fake a deeper path', () => {
    expect(formatOuPath(['Prod/Payments'])).toBe('/Prod%2FPayments');
    expect(formatOuPath(['100%', 'a%2Fb'])).toBe('/100%25/a%252Fb');
    const faked: OuPlacement = { ouPath: formatOuPath(['Prod/Payments']), ouIds: ['r-ab12', 'ou-ab12-99999999'] };
    expect(ouMatches(sel('/Prod/Payments'), faked)).toBe(false);
    expect(ouMatches(sel('/Prod'), faked)).toBe(false);
  });
});

describe('parseOuSelector', () => {
  it('takes OU ids, root ids and paths; drops a trailing slash', () => {
    expect(parseOuSelector('ou-ab12-11111111')).toEqual({ kind: 'id', id: 'ou-ab12-11111111' });
    expect(parseOuSelector('r-ab12')).toEqual({ kind: 'id', id: 'r-ab12' });
    expect(parseOuSelector('/Prod/Payments/')).toEqual({ kind: 'path', path: '/Prod/Payments' });
    expect(parseOuSelector('/')).toEqual({ kind: 'path', path: '/' });
  });

  it('refuses anything else with a reason', () => {
    for (const bad of ['Prod/Payments', 'ou-AB12-1', '', '/Prod//Payments', 'ou-ab12', '//']) expect(typeof parseOuSelector(bad), bad).toBe('string');
  });
});

describe('ouMatches', () => {
  it('a path matches itself and its subtree, never a sibling sharing a prefix', () => {
    expect(ouMatches(sel('/Prod/Payments'), payments)).toBe(true);
    expect(ouMatches(sel('/Prod/Payments'), paymentsEu)).toBe(true);
    expect(ouMatches(sel('/Prod/Payments'), paymentsOps)).toBe(false);
    expect(ouMatches(sel('/Prod'), paymentsOps)).toBe(true);
    expect(ouMatches(sel('/prod'), payments)).toBe(false); // names are case-sensitive
    expect(ouMatches(sel('/'), underRoot)).toBe(true);
    expect(ouMatches(sel('/Prod'), underRoot)).toBe(false);
  });

  it('an id matches the OU and everything below it', () => {
    expect(ouMatches(sel('ou-ab12-22222222'), paymentsEu)).toBe(true);
    expect(ouMatches(sel('ou-ab12-22222222'), paymentsOps)).toBe(false);
    expect(ouMatches(sel('r-ab12'), underRoot)).toBe(true);
  });
});

describe('selectByOu', () => {
  const inc = [sel('/Prod/Payments')];
  const exc = [sel('ou-ab12-33333333')];
  it('include narrows, exclude removes, exclude wins inside an included subtree', () => {
    expect(selectByOu(payments, inc, exc)).toBe('keep');
    expect(selectByOu(paymentsEu, inc, exc)).toBe('skip');
    expect(selectByOu(paymentsOps, inc, [])).toBe('skip');
    expect(selectByOu(paymentsOps, [], exc)).toBe('keep');
    expect(selectByOu(payments, [], [])).toBe('keep');
  });

  it('an unknown placement is skipped only when include is set', () => {
    expect(selectByOu(null, inc, [])).toBe('skip');
    expect(selectByOu(null, [], exc)).toBe('keep');
    expect(selectByOu(null, [], [])).toBe('keep');
  });
});
