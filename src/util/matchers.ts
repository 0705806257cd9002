// Label matchers with Alertmanager's syntax and semantics, for routes, silences and maintenance windows:
//
//   account_name="payments-prod"   account_id!="222222222222"   ou_path=~"/Prod/.*"   severity!~"info|warning"
//
// A list is comma-separated, optionally inside braces, a trailing comma allowed: `{a="b", c=~"d"}`,
// `a=b,c!=d`, `{}` (no matcher: matches everything). Pure: parse, format, match; no I/O.
//
// Rules, as Alertmanager's parser for the UTF-8 matchers (matcher/parse/parse.go and lexer.go, the default
// since Alertmanager 0.27; the classic one is pkg/labels/parse.go) and pkg/labels/matcher.go define them
// (read, not copied: https://github.com/prometheus/alertmanager/tree/main/matcher/parse):
//  - a name or a value is either a double-quoted string (Go escapes: \" \\ \n \t \r \xHH \uHHHH ...; a raw
//    line break inside quotes is an error) or an unquoted run of characters other than whitespace and
//    { } ! = ~ , \ " ' and the backtick; whitespace between tokens is ignored;
//  - the operators are = != =~ !~; a value is required (`a=""` for the empty string, not `a=`);
//  - a regex is fully anchored: `=~"payments-.*"` is ^(?:payments-.*)$ (matcher.go NewMatcher);
//  - a label the alert does not have matches as the empty string (matcher.go Matchers.Matches), so
//    `tag_team=""` selects accounts without the tag and `tag_team!=""` those with it; a list matches when
//    every matcher does.
// Errors name the column (1-based) and say what was expected, like Alertmanager's "0:12: unexpected ...".
//
// Regexes run on JavaScript's engine, not Go's RE2. Where the two differ this module refuses the pattern
// rather than silently meaning something else: backreferences and lookaround (RE2 has neither, Alertmanager
// would refuse them too) and nested quantifiers such as (a+)+ (valid in RE2, which runs in linear time, but
// exponential on a backtracking engine: a matcher in a silence posted through the API must not be able to
// stall the daemon). A leading RE2 flag group (?i), (?s) or (?is) becomes the JavaScript flag.

export type MatchType = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  type: MatchType;
  value: string;
}

/** A parsed matcher with its compiled regex (for =~ and !~). */
interface Compiled extends Matcher {
  re?: RegExp;
}

export type Labels = Readonly<Record<string, string | undefined>>;

/** A parse error: `column` is 1-based in the input. */
export class MatcherSyntaxError extends Error {
  constructor(readonly input: string, readonly column: number, readonly problem: string) {
    super(`column ${column}: ${problem} (in ${JSON.stringify(input.length > 200 ? `${input.slice(0, 200)}…` : input)})`);
    this.name = 'MatcherSyntaxError';
  }
}

/** Longest matcher list accepted (config, API and CLI inputs alike). */
export const MAX_MATCHERS_LENGTH = 4096;

const RESERVED = new Set(['{', '}', '!', '=', '~', ',', '\\', '"', "'", '`']);
const isSpace = (c: string): boolean => /\s/u.test(c);

type TokenKind = 'open' | 'close' | 'comma' | 'op' | 'quoted' | 'unquoted' | 'eof';
interface Token {
  kind: TokenKind;
  /** The text as written. */
  raw: string;
  /** The unquoted value (quoted/unquoted tokens) or the operator. */
  value: string;
  /** 0-based code-unit offset. */
  start: number;
}

function lex(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = input.length;
  while (i < n) {
    const c = input[i]!;
    if (isSpace(c)) { i++; continue; }
    const start = i;
    if (c === '{') { out.push({ kind: 'open', raw: c, value: c, start }); i++; continue; }
    if (c === '}') { out.push({ kind: 'close', raw: c, value: c, start }); i++; continue; }
    if (c === ',') { out.push({ kind: 'comma', raw: c, value: c, start }); i++; continue; }
    if (c === '=' || c === '!') {
      const next = input[i + 1];
      if (c === '=' && next === '~') { out.push({ kind: 'op', raw: '=~', value: '=~', start }); i += 2; continue; }
      if (c === '=') { out.push({ kind: 'op', raw: '=', value: '=', start }); i++; continue; }
      if (next === '=' || next === '~') { out.push({ kind: 'op', raw: c + next, value: c + next, start }); i += 2; continue; }
      throw new MatcherSyntaxError(input, start + 1, `"!" must be followed by "=" or "~" (operators: =, !=, =~, !~)`);
    }
    if (c === '"') {
      const { value, end } = unquote(input, i);
      out.push({ kind: 'quoted', raw: input.slice(start, end), value, start });
      i = end;
      continue;
    }
    if (RESERVED.has(c)) {
      throw new MatcherSyntaxError(input, start + 1, `unexpected ${JSON.stringify(c)}${c === "'" || c === '`' ? ' (quote values with double quotes)' : ''}`);
    }
    while (i < n && !RESERVED.has(input[i]!) && !isSpace(input[i]!)) i++;
    const raw = input.slice(start, i);
    out.push({ kind: 'unquoted', raw, value: raw, start });
  }
  out.push({ kind: 'eof', raw: '', value: '', start: n });
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };

/** A Go double-quoted string literal starting at `from` (strconv.Unquote's escapes); returns its value and the offset after it. */
function unquote(input: string, from: number): { value: string; end: number } {
  let out = '';
  let i = from + 1;
  while (i < input.length) {
    const c = input[i]!;
    if (c === '"') return { value: out, end: i + 1 };
    if (c === '\n' || c === '\r') throw new MatcherSyntaxError(input, i + 1, 'line break inside a quoted string (write \\n)');
    if (c !== '\\') { out += c; i++; continue; }
    const e = input[i + 1];
    if (e === undefined) break;
    if (e in SIMPLE_ESCAPES) { out += SIMPLE_ESCAPES[e]; i += 2; continue; }
    const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hex) {
      const digits = input.slice(i + 2, i + 2 + hex);
      if (digits.length !== hex || !/^[0-9a-fA-F]+$/.test(digits)) throw new MatcherSyntaxError(input, i + 1, `\\${e} needs ${hex} hexadecimal digits`);
      const cp = parseInt(digits, 16);
      if (e === 'x') {
        // Go: \xHH is one byte; only ASCII bytes make a valid UTF-8 string on their own.
        if (cp > 0x7f) throw new MatcherSyntaxError(input, i + 1, `\\x${digits} is not a whole UTF-8 character (use \\u${digits.padStart(4, '0')})`);
      } else if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        throw new MatcherSyntaxError(input, i + 1, `\\${e}${digits} is not a Unicode character`);
      }
      out += String.fromCodePoint(cp);
      i += 2 + hex;
      continue;
    }
    if (/[0-7]/.test(e)) {
      const digits = input.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(digits) || parseInt(digits, 8) > 0x7f) throw new MatcherSyntaxError(input, i + 1, 'an octal escape is three digits of an ASCII character (\\000 to \\177)');
      out += String.fromCharCode(parseInt(digits, 8));
      i += 4;
      continue;
    }
    throw new MatcherSyntaxError(input, i + 1, `unknown escape \\${e} in a quoted string (escape a backslash as \\\\)`);
  }
  throw new MatcherSyntaxError(input, from + 1, 'quoted string is not closed');
}

const describe = (t: Token): string => (t.kind === 'eof' ? 'the end of the input' : JSON.stringify(t.raw));

/**
 * Parses a matcher list: `{a="b", c=~"d"}`, `a=b, c!=d`, `{}` or '' (no matcher). Throws MatcherSyntaxError
 * naming the column; an invalid or refused regex is an error too.
 */
export function parseMatchers(input: string): Matcher[] {
  if (typeof input !== 'string') throw new MatcherSyntaxError(String(input), 1, 'expected a string of matchers');
  if (input.length > MAX_MATCHERS_LENGTH) throw new MatcherSyntaxError(input, MAX_MATCHERS_LENGTH + 1, `longer than ${MAX_MATCHERS_LENGTH} characters`);
  const tokens = lex(input);
  let p = 0;
  const peek = (): Token => tokens[p]!;
  const take = (): Token => tokens[p++]!;
  const fail = (t: Token, expected: string): never => {
    throw new MatcherSyntaxError(input, t.start + 1, `expected ${expected}, got ${describe(t)}`);
  };
  const out: Matcher[] = [];
  const braced = peek().kind === 'open';
  if (braced) take();
  for (;;) {
    const t = peek();
    if (t.kind === 'eof' || t.kind === 'close') break;
    const name = take();
    if (name.kind !== 'quoted' && name.kind !== 'unquoted') fail(name, out.length ? 'a label name after the comma' : 'a label name');
    if (name.value === '') fail(name, 'a non-empty label name');
    const op = take();
    if (op.kind !== 'op') fail(op, `an operator such as =, !=, =~ or !~ after the label name ${JSON.stringify(name.value)}`);
    const value = take();
    if (value.kind !== 'quoted' && value.kind !== 'unquoted') fail(value, `a value after ${op.value} (write "" for the empty string)`);
    const m: Matcher = { name: name.value, type: op.value as MatchType, value: value.value };
    if (m.type === '=~' || m.type === '!~') {
      const problem = regexProblem(m.value);
      if (problem) throw new MatcherSyntaxError(input, value.start + 1, `${problem} in the regex ${JSON.stringify(m.value)}`);
    }
    out.push(m);
    const sep = peek();
    if (sep.kind === 'comma') { take(); continue; }
    if (sep.kind === 'eof' || sep.kind === 'close') break;
    fail(sep, braced ? 'a comma or a closing brace' : 'a comma or the end of the input');
  }
  const end = take();
  if (braced && end.kind !== 'close') fail(end, 'a closing brace "}"');
  if (!braced && end.kind === 'close') throw new MatcherSyntaxError(input, end.start + 1, 'closing brace "}" without an opening one');
  const rest = take();
  if (braced && rest.kind !== 'eof') fail(rest, 'the end of the input after "}"');
  return out;
}

/** One matcher: like parseMatchers but exactly one. */
export function parseMatcher(input: string): Matcher {
  const ms = parseMatchers(input);
  if (ms.length !== 1) throw new MatcherSyntaxError(input, 1, `expected exactly one matcher, found ${ms.length}`);
  return ms[0]!;
}

/** Names Alertmanager prints without quotes (the classic label-name syntax). */
const PLAIN_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The value escaped as Alertmanager prints it (OpenMetrics: \\ \n \"), quoted. */
const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`;

/** `name="value"`; parseMatcher(formatMatcher(m)) gives m back. */
export const formatMatcher = (m: Matcher): string => `${PLAIN_NAME.test(m.name) ? m.name : quote(m.name)}${m.type}${quote(m.value)}`;

/** `{a="b", c=~"d"}`. */
export const formatMatchers = (ms: readonly Matcher[]): string => `{${ms.map(formatMatcher).join(', ')}}`;

// ---------------------------------------------------------------------------------------------
// Regexes

const compiled = new WeakMap<Matcher, RegExp>();

/** The anchored regex of a =~ / !~ matcher: ^(?:value)$, with a leading (?i)/(?s) as flags. */
export function compileRegex(value: string): RegExp {
  const problem = regexProblem(value);
  if (problem) throw new Error(`${problem} in the regex ${JSON.stringify(value)}`);
  const { body, flags } = splitFlags(value);
  return new RegExp(`^(?:${body})$`, `u${flags}`);
}

function splitFlags(value: string): { body: string; flags: string } {
  const m = /^\(\?([is]+)\)/.exec(value);
  if (!m) return { body: value, flags: '' };
  return { body: value.slice(m[0].length), flags: [...new Set(m[1]!)].join('') };
}

/**
 * Variable repetitions (*, +, ?, {n,m}) allowed in one regex: on a backtracking engine each one can
 * multiply the worst-case time by the value's length, so three bound it to O(n³) steps (label values
 * from AWS are at most a few hundred characters: an OU path of five levels is the longest).
 */
export const MAX_VARIABLE_REPETITIONS = 3;

/** Why a regex is refused (null: accepted). See the header for the reasons. */
export function regexProblem(value: string): string | null {
  const { body, flags } = splitFlags(value);
  try {
    new RegExp(`^(?:${body})$`, `u${flags}`);
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  // A small scan of the pattern's structure: groups, classes, escapes and quantifiers. A backtracking
  // engine goes exponential when a repeated group can match the same text in more than one way (a
  // repetition or an alternation inside it), and polynomial in the number of variable repetitions.
  const stack: { quantified: boolean; alternation: boolean }[] = [{ quantified: false, alternation: false }];
  let inClass = false;
  let variable = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\') {
      const e = body[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(e)) return 'a backreference (RE2, which Alertmanager uses, has none)';
      if (!inClass && e === 'k') return 'a named backreference (RE2 has none)';
      i++;
      continue;
    }
    if (inClass) { if (c === ']') inClass = false; continue; }
    if (c === '[') { inClass = true; continue; }
    if (c === '|') { stack[stack.length - 1]!.alternation = true; continue; }
    if (c === '(') {
      if (body.startsWith('(?=', i) || body.startsWith('(?!', i) || body.startsWith('(?<=', i) || body.startsWith('(?<!', i)) return 'a lookaround (RE2, which Alertmanager uses, has none)';
      stack.push({ quantified: false, alternation: false });
      continue;
    }
    if (c === ')') {
      const inner = stack.length > 1 ? stack.pop()! : { quantified: false, alternation: false };
      const after = quantifierAt(body, i + 1);
      if (after && after.max > 1) {
        if (inner.quantified) return 'a nested repetition such as (a+)+ (exponential time on JavaScript\'s regex engine; repeat either the group or its content)';
        if (inner.alternation) return 'a repeated alternation such as (a|b)+ (exponential time on JavaScript\'s regex engine; use a character class such as [ab]+)';
      }
      if (after || inner.quantified) stack[stack.length - 1]!.quantified = true;
      continue;
    }
    const q = quantifierAt(body, i);
    if (q) {
      if (q.variable) stack[stack.length - 1]!.quantified = true;
      if (q.variable && ++variable > MAX_VARIABLE_REPETITIONS) {
        return `more than ${MAX_VARIABLE_REPETITIONS} variable repetitions (*, +, ?, {n,m}): each one multiplies the worst-case matching time`;
      }
    }
  }
  return null;
}

/** The quantifier starting at i, with its largest count and whether it varies; "?" as the lazy suffix of another quantifier is none. */
function quantifierAt(s: string, i: number): { max: number; variable: boolean } | null {
  const c = s[i];
  if (c === '*' || c === '+') return { max: Infinity, variable: true };
  if (c === '?') return s[i - 1] === '*' || s[i - 1] === '+' || s[i - 1] === '?' || s[i - 1] === '}' || s[i - 1] === '(' ? null : { max: 1, variable: true };
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(i));
    if (!m) return null;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    return { max, variable: max !== min };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Matching

function regexOf(m: Compiled): RegExp {
  let re = compiled.get(m);
  if (!re) {
    re = compileRegex(m.value);
    compiled.set(m, re);
  }
  return re;
}

/** One matcher against a label set; a missing label is the empty string. */
export function matchesOne(m: Matcher, labels: Labels): boolean {
  const v = Object.hasOwn(labels, m.name) ? labels[m.name] ?? '' : '';
  switch (m.type) {
    case '=': return v === m.value;
    case '!=': return v !== m.value;
    case '=~': return regexOf(m).test(v);
    case '!~': return !regexOf(m).test(v);
  }
}

/** True when every matcher matches (an empty list matches everything). */
export const matches = (ms: readonly Matcher[], labels: Labels): boolean => ms.every((m) => matchesOne(m, labels));

/**
 * Parses a list given as one string or as an array of strings (each a matcher or a list, as in
 * Alertmanager's `matchers:`): the union of the matchers.
 */
export function parseMatcherList(input: string | readonly string[]): Matcher[] {
  return typeof input === 'string' ? parseMatchers(input) : input.flatMap((s) => parseMatchers(s));
}
