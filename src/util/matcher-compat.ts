// Adapter over the Alertmanager matcher parser for silences and maintenance windows.
// TEMPORARY own parser until src/util/matchers.ts (helper "route") is merged; then this file delegates.
export interface CompatMatcher { name: string; op: '=' | '!=' | '=~' | '!~'; value: string; re?: RegExp }

const ONE = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^",{}\s]*))\s*$/;

export function parseMatcherList(text: string): CompatMatcher[] {
  let t = text.trim();
  if (t.startsWith('{') && t.endsWith('}')) t = t.slice(1, -1);
  const parts: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (c === '\\' && q) { cur += c + (t[i + 1] ?? ''); i++; continue; }
    if (c === '"') q = !q;
    if (c === ',' && !q) { parts.push(cur); cur = ''; continue; }
    cur += c;
  }
  if (q) throw new Error('unterminated quote');
  parts.push(cur);
  return parts.filter((p) => p.trim() !== '').map((p) => {
    const m = ONE.exec(p);
    if (!m) throw new Error(`expected name="value" (or !=, =~, !~), got ${JSON.stringify(p.trim())}`);
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, (_s, ch: string) => (ch === 'n' ? '\n' : ch)) : m[4]!;
    const op = m[2] as CompatMatcher['op'];
    const out: CompatMatcher = { name: m[1]!, op, value };
    if (op === '=~' || op === '!~') {
      try { out.re = new RegExp(`^(?:${value})$`); } catch (err) { throw new Error(`bad regex ${JSON.stringify(value)}: ${(err as Error).message}`); }
    }
    return out;
  });
}

export function matchesAll(ms: readonly CompatMatcher[], labels: Record<string, string>): boolean {
  return ms.every((m) => {
    const v = labels[m.name] ?? '';
    switch (m.op) {
      case '=': return v === m.value;
      case '!=': return v !== m.value;
      case '=~': return m.re!.test(v);
      case '!~': return !m.re!.test(v);
    }
  });
}
