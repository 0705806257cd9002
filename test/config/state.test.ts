// The state: block (file default, postgres with a URL whose password is a secret) and how check-config shows it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import { clearSecrets, redact } from '../../src/util/redact.js';
import { describeUrl } from '../../src/util/db-url.js';
import { runCli } from '../helpers/cli.js';

const base = `accounts: [{ id: "111111111111" }]\nregions: [us-east-1]\n`;
const PW = 'S3cr3t/pass@word%';
const URL_WITH_PW = `postgres://kw:${encodeURIComponent(PW)}@db.internal:5432/keystore?sslmode=verify-full`;

afterEach(() => clearSecrets());

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(text, 'cfg.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('state: configuration', () => {
  it('defaults to the file backend, and fills the postgres defaults', () => {
    const c = parseConfigText(base, 'cfg.yaml', {});
    expect(c.state).toEqual({ backend: 'file', url: null, schema: 'keystore_watch', leaseDuration: 15_000, renewInterval: 5_000, refreshInterval: 5_000, queryTimeout: 10_000, peers: [] });
    const pg = parseConfigText(`${base}state: { backend: postgres, url: "\${DATABASE_URL}", leaseDuration: 6s, renewInterval: 2s }\n`, 'cfg.yaml', { DATABASE_URL: URL_WITH_PW });
    expect(pg.state).toMatchObject({ backend: 'postgres', url: URL_WITH_PW, schema: 'keystore_watch', leaseDuration: 6000, renewInterval: 2000 });
  });

  it('names the key of each mistake', () => {
    expect(problems(`${base}state: { backend: mysql }\n`)).toEqual([expect.stringMatching(/^state\.backend: /)]);
    expect(problems(`${base}state: { backend: postgres, url: "http://db/x" }\n`)).toEqual(['state.url: expected a postgres:// or postgresql:// URL']);
    expect(problems(`${base}state: { backend: postgres, schema: "Bad-Name" }\n`)).toEqual([expect.stringMatching(/^state\.schema: expected a lower-case SQL identifier/)]);
    expect(problems(`${base}state: { backend: postgres, leaseDuration: 10s, renewInterval: 6s }\n`)).toEqual([expect.stringMatching(/^state\.renewInterval: must be at most half of state\.leaseDuration \(10s\)/)]);
    expect(problems(`${base}state: { url: "postgres://db/x" }\n`)).toEqual(['state.url: is only used with state.backend: postgres']);
    expect(problems(`${base}state: { backend: postgres, url: "\${DATABASE_URL}" }\n`)).toEqual(['state.url: environment variable DATABASE_URL is not set']);
    // state.peers: base URLs or dns+ names only, and only with postgres.
    expect(problems(`${base}state: { backend: postgres, peers: ["10.0.0.2:9464"] }\n`)).toEqual([expect.stringMatching(/^state\.peers\[0\]: expected http\(s\):\/\/host:port/)]);
    expect(problems(`${base}state: { backend: postgres, peers: ["http://b:9464/api"] }\n`)).toEqual([expect.stringMatching(/^state\.peers\[0\]: /)]);
    expect(problems(`${base}state: { peers: ["http://b:9464"] }\n`)).toEqual(['state.peers: is only used with state.backend: postgres']);
    expect(parseConfigText(`${base}state: { backend: postgres, peers: ["http://10.0.0.2:9464", "dns+http://kw-peers:9464"] }\n`, 'cfg.yaml', {}).state.peers).toEqual(['http://10.0.0.2:9464', 'dns+http://kw-peers:9464']);
  });

  it('registers the URL\'s password as a secret (raw and URL-encoded), and nothing else of the URL', () => {
    parseConfigText(`${base}state: { backend: postgres, url: "\${DATABASE_URL}" }\n`, 'cfg.yaml', { DATABASE_URL: URL_WITH_PW });
    expect(redact(`auth failed with ${PW} and ${encodeURIComponent(PW)}`)).toBe('auth failed with [REDACTED] and [REDACTED]');
    // Host, user, database and sslmode stay visible.
    expect(redact('host db.internal user kw database keystore')).toBe('host db.internal user kw database keystore');
    expect(describeUrl(URL_WITH_PW)).toBe('postgres://kw:[REDACTED]@db.internal:5432/keystore?sslmode=verify-full');
    expect(describeUrl(null)).toBe('(from the PG* environment)');
    // A password given as a query parameter (libpq's ?password=) is a secret too.
    parseConfigText(`${base}state: { backend: postgres, url: "postgres://kw@db/k?password=Qu3ryP4ssword" }\n`, 'cfg.yaml', {});
    expect(redact('x Qu3ryP4ssword y')).toBe('x [REDACTED] y');
    expect(describeUrl('postgres://kw@db/k?password=Qu3ryP4ssword&sslmode=require')).toBe('postgres://kw@db/k?password=REDACTED&sslmode=require');
  });

  it('check-config shows the backend with the password redacted, and a bad key exits 2 without the password', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ksw-state-cfg-'));
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, `${base}state: { backend: postgres, url: "\${DATABASE_URL}" }\n`);
    const r = await runCli(['check-config', '--offline', '--config', good], { env: { DATABASE_URL: URL_WITH_PW } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('state: PostgreSQL postgres://kw:[REDACTED]@db.internal:5432/keystore?sslmode=verify-full schema keystore_watch; leader lease 15s renewed every 5s');
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, `${base}state: { backend: postgres, url: "\${DATABASE_URL}", schema: "x;drop" }\n`);
    const b = await runCli(['check-config', '--offline', '--config', bad], { env: { DATABASE_URL: URL_WITH_PW } });
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/state\.schema/);
    for (const out of [r.stdout, r.stderr, b.stdout, b.stderr]) {
      expect(out).not.toContain(PW);
      expect(out).not.toContain(encodeURIComponent(PW));
    }
  });
});
