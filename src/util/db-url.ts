// The database URL (state.url) as a secret-bearing value: its password is a secret, every other part
// (host, port, database, user, sslmode) is not and is shown as it is. Pure; no database client here,
// so the configuration loads without one.

/** The URL's secrets for registration: the password (decoded and as written) and any password-like query parameter (?password=, ?sslpassword=). */
export function urlSecrets(url: string): string[] {
  const out: string[] = [];
  const pw = urlPassword(url);
  if (pw) out.push(pw, encodeURIComponent(pw));
  try {
    for (const [k, v] of new URL(url).searchParams) if (/pass|secret/i.test(k) && v) out.push(v, encodeURIComponent(v));
  } catch {
    // not a URL: the schema rejects it
  }
  return out;
}

/** The password of a postgres URL (decoded), for secret registration; null when it has none. */
export function urlPassword(url: string): string | null {
  try {
    const u = new URL(url);
    if (!u.password) return null;
    try {
      return decodeURIComponent(u.password);
    } catch {
      return u.password;
    }
  } catch {
    return null;
  }
}

/** A URL fit for a log line or check-config: the password replaced, every other part shown (non-secrets are never hidden). */
export function describeUrl(url: string | null | undefined): string {
  if (!url) return '(from the PG* environment)';
  try {
    const u = new URL(url);
    if (u.password) u.password = 'REDACTED';
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|key$/i.test(k) && k !== 'sslkey') u.searchParams.set(k, 'REDACTED');
    return u.toString().replace(':REDACTED@', ':[REDACTED]@');
  } catch {
    return '(an unparseable URL)';
  }
}
