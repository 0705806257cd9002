// What a strict receiver checks in a payload it is sent: raw bytes that are valid UTF-8, JSON without
// lone-surrogate escapes (JSON.parse accepts "\ud800"; strict parsers, Slack among them, do not),
// every decoded string well-formed, and no live bidi override or isolate character.

/** \uD800-\uDFFF written as an escape: JSON.stringify only writes these for lone surrogates. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;

/** Problems a strict receiver would have with this raw body (empty when it would accept it). */
export function strictTextProblems(raw: Buffer | string, opts: { json: boolean }): string[] {
  const problems: string[] = [];
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return ['raw bytes are not valid UTF-8'];
  }
  if (LONE_SURROGATE.test(text)) problems.push('lone surrogate in the text');
  if (BIDI_CONTROL.test(text)) problems.push('live bidi override/isolate in the text');
  if (opts.json) {
    if (SURROGATE_ESCAPE.test(text)) problems.push(`surrogate escape in the JSON: ${SURROGATE_ESCAPE.exec(text)![0]}`);
    try {
      const walk = (v: unknown): void => {
        if (typeof v === 'string') {
          if (LONE_SURROGATE.test(v)) problems.push('lone surrogate in a decoded JSON string');
          if (BIDI_CONTROL.test(v)) problems.push('live bidi override in a decoded JSON string');
        } else if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { walk(k); walk(x); }
      };
      walk(JSON.parse(text));
    } catch (err) {
      problems.push(`not JSON: ${(err as Error).message}`);
    }
  }
  return problems;
}
