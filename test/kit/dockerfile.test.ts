// Properties of the Dockerfile, read from the file. CI also runs scripts/docker-steps.sh, which
// performs the same install-and-start steps outside Docker and starts the daemon the way the image does.
import { describe, expect, it } from 'vitest';
import { read } from './lib.js';

interface Instruction { op: string; args: string; stage: number }

function parseDockerfile(text: string): { instructions: Instruction[]; stages: { name: string | null; from: string }[] } {
  const lines = text.replace(/\\\r?\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const instructions: Instruction[] = [];
  const stages: { name: string | null; from: string }[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2]!)!;
      stages.push({ from: f[1]!, name: f[2] ?? null });
    }
    instructions.push({ op, args: m[2]!, stage: stages.length - 1 });
  }
  return { instructions, stages };
}

const text = read('Dockerfile');
const { instructions, stages } = parseDockerfile(text);
const args = Object.fromEntries(instructions.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]));
const resolve = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? _);
const last = stages.length - 1;
const inStage = (stage: number, op: string) => instructions.filter((i) => i.stage === stage && i.op === op);
const json = (op: string): string[] => {
  const i = instructions.filter((x) => x.op === op).at(-1);
  expect(i, op).toBeDefined();
  return JSON.parse(i!.args);
};

describe('Dockerfile', () => {
  it('is multi-stage on a current Node LTS slim image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(resolve(s.from)).toMatch(/^node:(22|24)(\.\d+)*-(bookworm|trixie)-slim(@sha256:[0-9a-f]{64})?$/);
    expect(stages[0]!.name).toBe('build');
  });

  it('build stage: npm ci, then npm run build', () => {
    const runs = inStage(0, 'RUN').map((r) => r.args);
    const ci = runs.findIndex((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r));
    const build = runs.findIndex((r) => /\bnpm run build\b/.test(r));
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(build).toBeGreaterThan(ci);
  });

  it('runtime stage: npm ci --omit=dev and the compiled dist/ from the build stage', () => {
    const runs = inStage(last, 'RUN').map((r) => r.args);
    expect(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /npm (install|i)\b/.test(r))).toBe(false);
    const copies = inStage(last, 'COPY').map((c) => c.args);
    expect(copies.some((c) => /^--from=build\s+\/app\/dist\s+/.test(c))).toBe(true);
    expect(copies.some((c) => /^(\.|src)\b/.test(c)), 'no source tree in the runtime stage').toBe(false);
  });

  it('runs as a non-root user', () => {
    const users = inStage(last, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0]!;
    expect(user).not.toMatch(/^(root|0)$/);
    // numeric, so Kubernetes runAsNonRoot can verify it
    expect(user).toMatch(/^\d+$/);
  });

  it('keeps state only under VOLUME /var/lib/keystore-watch (read-only root filesystem friendly)', () => {
    const volumes = inStage(last, 'VOLUME').map((v) => v.args.replace(/[[\]"]/g, '').trim());
    expect(volumes).toEqual(['/var/lib/keystore-watch']);
    const user = inStage(last, 'USER').at(-1)!.args;
    expect(text).toMatch(new RegExp(`chown ${user.replace(':', '\\:')}\\s+/var/lib/keystore-watch`));
  });

  it('HEALTHCHECK calls /healthz on 127.0.0.1:9464 with node (no curl in slim images)', () => {
    const hc = instructions.filter((i) => i.op === 'HEALTHCHECK').at(-1)!;
    expect(hc).toBeDefined();
    expect(hc.args).toMatch(/--interval=\d+s/);
    expect(hc.args).toMatch(/--timeout=\d+s/);
    const cmd = JSON.parse(/CMD\s+(\[.*\])\s*$/.exec(hc.args)![1]!) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.join(' ')).toContain('http://127.0.0.1:9464/healthz');
    expect(cmd.join(' ')).not.toMatch(/curl|wget/);
  });

  it('handles signals as PID 1 through tini installed in the image', () => {
    expect(inStage(last, 'RUN').some((r) => /apt-get install\b.*\btini\b/.test(r.args))).toBe(true);
    expect(json('ENTRYPOINT')).toEqual(['tini', '--', 'node', 'dist/cli/main.js']);
    expect(json('CMD')).toEqual(['run', '--config', '/etc/keystore-watch/config.yaml']);
  });

  it('sets a V8 heap ceiling under 2 GiB through NODE_OPTIONS (overridable), and npm start uses the same', () => {
    const env = inStage(last, 'ENV').map((i) => i.args).join(' ');
    const m = /NODE_OPTIONS=(\S+)/.exec(env);
    expect(m, 'ENV NODE_OPTIONS in the runtime stage').not.toBeNull();
    const size = /^--max-old-space-size=(\d+)$/.exec(m![1]!);
    expect(size).not.toBeNull();
    // At 2048 MB and above V8 grows the heap up to 4x between full GCs again (the reason for the ceiling).
    expect(Number(size![1])).toBeGreaterThanOrEqual(512);
    expect(Number(size![1])).toBeLessThan(2048);
    expect(JSON.parse(read('package.json')).scripts.start).toContain(m![1]);
  });

  it('exposes the metrics port 9464', () => {
    expect(inStage(last, 'EXPOSE').map((e) => e.args)).toEqual(['9464']);
  });

  it('carries OCI labels', () => {
    const labels = inStage(last, 'LABEL').map((l) => l.args).join(' ');
    for (const key of ['title', 'description', 'source', 'licenses', 'version', 'revision']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
  });

  it('.dockerignore keeps node_modules, dist, .git and local configs out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', 'dist', '.git', 'config/keystore-watch.yaml', '.env']) expect(ignored).toContain(p);
    // and nothing the Dockerfile copies
    for (const p of ['src', 'bin', 'config', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(ignored).not.toContain(p);
  });

  it('.dockerignore lets through every file the Dockerfile copies from the context (last matching pattern wins, as in Docker)', () => {
    const patterns = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const glob = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}(/.*)?$`);
    const ignored = (path: string) => {
      let out = false;
      for (const raw of patterns) {
        const negate = raw.startsWith('!');
        if (glob(negate ? raw.slice(1) : raw).test(path)) out = !negate;
      }
      return out;
    };
    const sources = instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['src', 'package.json']));
    for (const src of sources) expect(ignored(src), src).toBe(false);
    // the matcher itself: what the file excludes is excluded
    expect(ignored('scripts/docker-steps.sh')).toBe(true);
    expect(ignored('test/kit/dockerfile.test.ts')).toBe(true);
    expect(ignored('dist')).toBe(true);
  });

  it('scripts/docker-steps.sh performs the same steps', () => {
    const script = read('scripts', 'docker-steps.sh');
    for (const step of ['npm ci --no-audit', 'npm run build', 'npm ci --omit=dev', 'dockerfile_json ENTRYPOINT', 'dockerfile_json CMD', 'dockerfile_json HEALTHCHECK', '/healthz', '/readyz', 'kill -TERM']) {
      expect(script).toContain(step);
    }
  });
});
