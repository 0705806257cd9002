// A Prometheus whose scrape job attaches its own `region` target label (EC2/ECS service discovery,
// relabelling): with the default honor_labels: false it renames keystore-watch's `region` to
// `exported_region` (what breaks the dashboard and the alert rules); the two set-ups the README and
// config/prometheus/prometheus.example.yml document keep it: honor_labels: true, or relabel_configs
// moving the target label away. A real Prometheus scraping a real exposition (the snapshot renderer's).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { renderSnapshotMetrics } from '../../src/metrics/render.js';
import { snapshot, store, target } from '../helpers/snapshots.js';
import { read, skipWithout, which } from './lib.js';

const freePort = (): Promise<number> => new Promise((resolve, reject) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  }).on('error', reject);
});

let dir = '';
let exporter: Server;
let prom: ChildProcess | undefined;
let promUrl = '';
let promLog = '';

const query = async (expr: string): Promise<Record<string, string>[]> => {
  const body = (await (await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`)).json()) as { data: { result: { metric: Record<string, string> }[] } };
  return body.data.result.map((r) => r.metric);
};

describe.skipIf(skipWithout('prometheus'))('a target label named like one of ours', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kw-honor-'));
    const text = renderSnapshotMetrics(snapshot({
      stores: [store({ accountId: '222222222222', region: 'eu-west-1' })],
      targets: [target({ accountId: '222222222222', region: 'eu-west-1' })],
    }));
    exporter = createHttpServer((_req, res) => { res.setHeader('content-type', 'text/plain; version=0.0.4'); res.end(text); });
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', () => r()));
    const target_ = `127.0.0.1:${(exporter.address() as { port: number }).port}`;
    // The documented job (honor_labels and the relabel alternative as written in the example file).
    const example = (parse(read('config', 'prometheus', 'prometheus.example.yml')) as { scrape_configs: Record<string, unknown>[] }).scrape_configs[0]!;
    const relabel = [{ source_labels: ['region'], target_label: 'scrape_region' }, { regex: 'region', action: 'labeldrop' }];
    const withRegion = [{ targets: [target_], labels: { region: 'us-central-dc' } }];
    const common = { scrape_interval: '1s', scrape_timeout: '1s', static_configs: withRegion };
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    writeFileSync(join(dir, 'prometheus.yml'), stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [
        { job_name: 'default', ...common },
        { job_name: 'honor', ...common, honor_labels: example.honor_labels },
        { job_name: 'relabel', ...common, relabel_configs: relabel },
      ],
    }));
    prom = spawn(which('prometheus') ?? 'prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    prom.stdout!.on('data', (c: Buffer) => { promLog += c.toString(); });
    prom.stderr!.on('data', (c: Buffer) => { promLog += c.toString(); });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (prom.exitCode !== null) throw new Error(`prometheus exited:\n${promLog}`);
      try { if ((await query('count by(job) (kms_custom_key_store_info)')).length === 3) break; } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`no scrape of the three jobs within 60s:\n${promLog}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 90_000);

  afterAll(async () => {
    if (prom?.pid && prom.exitCode === null) { try { process.kill(-prom.pid, 'SIGKILL'); } catch { /* gone */ } }
    await new Promise<void>((r) => (exporter ? exporter.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the example job sets honor_labels: true', () => {
    const example = (parse(read('config', 'prometheus', 'prometheus.example.yml')) as { scrape_configs: Record<string, unknown>[] }).scrape_configs[0]!;
    expect(example.honor_labels).toBe(true);
  });

  it('by default the target label wins and ours becomes exported_region (the problem)', async () => {
    const [m] = await query('kms_custom_key_store_info{job="default"}');
    expect(m).toMatchObject({ region: 'us-central-dc', exported_region: 'eu-west-1' });
  });

  it('honor_labels: true keeps keystore-watch\'s region', async () => {
    const [m] = await query('kms_custom_key_store_info{job="honor"}');
    expect(m).toMatchObject({ region: 'eu-west-1', account_id: '222222222222' });
    expect(m).not.toHaveProperty('exported_region');
  });

  it('relabel_configs moving the target label keep it too, with the target\'s region beside it', async () => {
    const [m] = await query('kms_custom_key_store_info{job="relabel"}');
    expect(m).toMatchObject({ region: 'eu-west-1', scrape_region: 'us-central-dc' });
    expect(m).not.toHaveProperty('exported_region');
  });
});
