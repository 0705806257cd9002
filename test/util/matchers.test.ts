// Alertmanager matcher syntax and semantics (src/util/matchers.ts), table-driven. The expectations follow
// Alertmanager's matcher/parse and pkg/labels tests (what parses, to what, and what is refused).
import { describe, expect, it } from 'vitest';
import {
  MatcherSyntaxError, compileRegex, formatMatcher, formatMatchers, matches, parseMatcher, parseMatcherList, parseMatchers, regexProblem, type Matcher,
} from '../../src/util/matchers.js';

const m = (name: string, type: Matcher['type'], value: string): Matcher => ({ name, type, value });

describe('parseMatchers: accepted input', () => {
  const cases: [string, Matcher[]][] = [
    ['', []],
    ['{}', []],
    ['  {  }  ', []],
    ['foo=bar', [m('foo', '=', 'bar')]],
    ['{foo="bar"}', [m('foo', '=', 'bar')]],
    ['foo!=bar', [m('foo', '!=', 'bar')]],
    ['foo=~bar', [m('foo', '=~', 'bar')]],
    ['foo!~bar', [m('foo', '!~', 'bar')]],
    ['foo = "bar" ,  dings != "bums" ,', [m('foo', '=', 'bar'), m('dings', '!=', 'bums')]],
    ['{foo="bar", dings!="bums",}', [m('foo', '=', 'bar'), m('dings', '!=', 'bums')]],
    ['account_name=~"payments-.*"', [m('account_name', '=~', 'payments-.*')]],
    ['account_name=~payments-.*', [m('account_name', '=~', 'payments-.*')]],
    ['statuscode=~"5.."', [m('statuscode', '=~', '5..')]],
    ['foo=""', [m('foo', '=', '')]],
    ['{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}', [m('quote', '=', 'She said: "Hi, ladies! That\'s gender-neutral…"')]],
    ['foo="a,b}c{"', [m('foo', '=', 'a,b}c{')]],
    ['foo="line\\nbreak\\ttab\\\\slash"', [m('foo', '=', 'line\nbreak\ttab\\slash')]],
    ['foo="\\u00e9\\x41\\101\\U0001F600"', [m('foo', '=', 'éAA😀')]],
    ['"tag with space"="x"', [m('tag with space', '=', 'x')]],
    ['foo=日本語', [m('foo', '=', '日本語')]],
    ['ou_path=~"/Prod(/.*)?"', [m('ou_path', '=~', '/Prod(/.*)?')]],
    ['a=b,c=d,e=f', [m('a', '=', 'b'), m('c', '=', 'd'), m('e', '=', 'f')]],
    ['severity=~"(?i)CRITICAL"', [m('severity', '=~', '(?i)CRITICAL')]],
  ];
  it.each(cases)('%j', (input, expected) => {
    expect(parseMatchers(input)).toEqual(expected);
  });
});

describe('parseMatchers: refused input names the column', () => {
  const cases: [string, number, RegExp][] = [
    ['foo', 4, /expected an operator/],
    ['foo=', 5, /expected a value after = \(write "" for the empty string\)/],
    ['=bar', 1, /expected a label name/],
    ['{foo=bar', 9, /closing brace/],
    ['foo=bar}', 8, /without an opening one/],
    ['{foo=bar}x', 10, /end of the input after "}"/],
    ['foo=bar baz=qux', 9, /expected a comma or the end of the input/],
    ['{foo=bar baz=qux}', 10, /expected a comma or a closing brace/],
    ['foo="bar', 5, /quoted string is not closed/],
    ['foo="bar\\"', 5, /quoted string is not closed/],
    ['foo="a\nb"', 7, /line break inside a quoted string/],
    ['foo="\\q"', 6, /unknown escape \\q/],
    ['foo="\\xff"', 6, /not a whole UTF-8 character/],
    ['foo="\\ud800"', 6, /not a Unicode character/],
    ["foo='bar'", 5, /double quotes/],
    ['foo==bar', 5, /expected a value after =/],
    ['foo!bar', 4, /"!" must be followed by "=" or "~"/],
    ['foo=~"("', 6, /invalid regular expression/],
    ['a=b,,c=d', 5, /expected a label name after the comma/],
    ['""="x"', 1, /non-empty label name/],
    ['foo=b\\ar', 6, /unexpected "\\\\"/],
  ];
  it.each(cases)('%j -> column %i', (input, column, problem) => {
    let err: unknown;
    try {
      parseMatchers(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MatcherSyntaxError);
    expect((err as MatcherSyntaxError).column).toBe(column);
    expect((err as Error).message).toMatch(problem);
    expect((err as Error).message).toContain(`column ${column}`);
  });
});

describe('hostile regexes: refused before they can stall the daemon', () => {
  const refused: [string, RegExp][] = [
    ['(a+)+', /nested repetition/],
    ['(a*)*b', /nested repetition/],
    ['((a+))+', /nested repetition/],
    ['(a|aa)+', /repeated alternation/],
    ['(x+x+)+y', /nested repetition/],
    ['(.*a){20}', /nested repetition/],
    ['.*.*.*.*x', /more than 3 variable repetitions/],
    ['a?a?a?a?a?aaaaa', /more than 3 variable repetitions/],
    ['a{1,9}b{1,9}c{1,9}d{0,9}', /more than 3 variable repetitions/],
    ['(a|b){2}', /repeated alternation/],
    ['(a)\\1', /backreference/],
    ['(?<n>a)\\k<n>', /named backreference/],
    ['(?=a)a', /lookaround/],
    ['(?<!a)b', /lookaround/],
    ['[', /invalid regular expression/],
  ];
  it.each(refused)('%j', (re, why) => {
    expect(regexProblem(re)).toMatch(why);
    expect(() => parseMatchers(`x=~${JSON.stringify(re)}`)).toThrow(why);
  });

  const accepted = ['payments-.*', '/Prod(/.*)?', '(foo|bar)', '.*prod.*', '[0-9]{12}', 'a{2}b', '(?:ab)+', '\\(x\\)+', '[(]+a+', '(?i)prod', 'a+?b*?', '(ab){3}', '[a|b]+'];
  it.each(accepted)('accepts %j', (re) => {
    expect(regexProblem(re)).toBeNull();
  });

  it('a long hostile value against the worst accepted patterns still answers', () => {
    // Longer than any label value AWS gives (an OU path of five 128-character levels is ~650).
    const value = `${'a'.repeat(1000)}!`;
    const ms = parseMatchers('x=~".*a.*a.*b", y=~"(a|b)", z=~"a+b", w=~"a?a*a+b"');
    // Each matcher alone (matches() stops at the first failure).
    for (const one of ms) expect(matches([one], { x: value, y: value, z: value })).toBe(false);
  });
});

describe('matching', () => {
  const labels = { alertname: 'KmsCustomKeyStoreFailed', account_name: 'payments-prod', severity: 'critical', ou_path: '/Prod/Payments', empty: '' };
  const cases: [string, boolean][] = [
    ['', true],
    ['account_name="payments-prod"', true],
    ['account_name="payments"', false],
    ['account_name=~"payments-.*"', true],
    ['account_name=~"payments"', false], // anchored: a substring is not a match
    ['account_name=~"prod"', false],
    ['account_name=~".*prod"', true],
    ['account_name!~"payments-.*"', false],
    ['account_name!="x"', true],
    ['missing=""', true], // a missing label is the empty string
    ['missing!=""', false],
    ['missing=~".*"', true],
    ['missing=~".+"', false],
    ['missing!~".+"', true],
    ['empty=""', true],
    ['tag_team!="payments"', true],
    ['severity=~"critical|warning"', true],
    ['severity=~"(?i)CRITICAL"', true],
    ['severity=~"CRITICAL"', false],
    ['ou_path=~"/Prod(/.*)?"', true],
    ['ou_path=~"/Pro"', false],
    ['account_name="payments-prod", severity="warning"', false],
    ['account_name="payments-prod", severity="critical"', true],
    ['alertname=~"KmsCustomKeyStore(Failed|Disconnected)"', true],
    // Alternation binds inside the anchors: ^(?:a|b)$, never ^a|b$.
    ['account_name=~"x|payments-prod"', true],
    ['account_name=~"payments|zzz"', false],
    ['constructor=""', true], // prototype names are not labels
    ['__proto__=""', true],
  ];
  it.each(cases)('%j -> %s', (input, expected) => {
    expect(matches(parseMatchers(input), labels)).toBe(expected);
  });

  it('a regex is compiled anchored', () => {
    expect(compileRegex('a|b').source).toBe('^(?:a|b)$');
    expect(compileRegex('(?i)a').flags).toContain('i');
  });
});

describe('format', () => {
  const cases: Matcher[] = [
    m('foo', '=', 'bar'),
    m('foo', '!=', 'a"b\\c\nd'),
    m('tag with space', '=~', '.*'),
    m('x', '!=', ''),
    m('unicode', '=', 'é😀'),
    m('commas', '=', 'a,b}{'),
  ];
  it.each(cases)('round-trips %j', (x) => {
    expect(parseMatcher(formatMatcher(x))).toEqual(x);
    expect(parseMatchers(formatMatchers([x, x]))).toEqual([x, x]);
  });
  it('prints like Alertmanager', () => {
    expect(formatMatchers([m('a', '=', 'b'), m('c', '=~', 'd"e')])).toBe('{a="b", c=~"d\\"e"}');
    expect(formatMatcher(m('a b', '=', 'c'))).toBe('"a b"="c"');
  });
  it('parseMatcher wants exactly one, parseMatcherList joins lists', () => {
    expect(() => parseMatcher('a=b,c=d')).toThrow(/exactly one matcher, found 2/);
    expect(parseMatcherList(['a=b', '{c=~"d", e!=f}'])).toEqual([m('a', '=', 'b'), m('c', '=~', 'd'), m('e', '!=', 'f')]);
  });
  it('refuses inputs beyond the length cap', () => {
    expect(() => parseMatchers(`a="${'x'.repeat(5000)}"`)).toThrow(/longer than 4096/);
  });
});
