// Every member the KMS, CloudHSM v2, STS, Organizations and Account models mark @sensitive
// (smithy.api#sensitive) in the answers of the operations src/ calls must have a decision in
// src/collect/sensitive.ts. The operations are read from src/ (SDK command and paginator imports), the
// members from the Smithy models' output shapes (test/fixtures/aws-models/output-shapes.json, extracted
// from ../shared/reference/aws-models by scripts/gen-aws-output-shapes.ts and checked against them
// when they are present), so a new call or a newly sensitive member fails here.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SENSITIVE_MEMBERS, accessKeyIdLast4 } from '../../src/collect/sensitive.js';
import { toObservedStore } from '../../src/collect/key-stores.js';
import { MODELS_DIR, OUTPUT_SHAPES_PATH, renderOutputShapes, type ServiceOutputs } from '../../scripts/gen-aws-output-shapes.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const OUTPUTS = JSON.parse(readFileSync(OUTPUT_SHAPES_PATH, 'utf8')) as Record<string, ServiceOutputs>;
const SERVICE_OF: Record<string, string> = {
  '@aws-sdk/client-kms': 'kms',
  '@aws-sdk/client-cloudhsm-v2': 'cloudhsmv2',
  '@aws-sdk/client-sts': 'sts',
  '@aws-sdk/client-organizations': 'organizations',
  '@aws-sdk/client-account': 'account',
};
/** Operations the SDK's credential providers call on the daemon's behalf (not visible as imports). */
const INDIRECT: Record<string, string[]> = { fromTemporaryCredentials: ['sts:AssumeRole'] };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? (f === 'simulator' ? [] : sourceFiles(p)) : p.endsWith('.ts') ? [p] : [];
  });
}

/** "service:Operation" for every SDK command or paginator the daemon's code (not the simulator) imports and uses. */
function calledOperations(): Set<string> {
  const ops = new Set<string>();
  for (const file of sourceFiles(path.join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'(@aws-sdk\/[a-z0-9-]+)'/g)) {
      for (const name of m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!)) {
        if (!text.includes(name + '(')) continue;
        const op = /^(?:paginate([A-Z]\w+)|([A-Z]\w+)Command)$/.exec(name);
        if (op && SERVICE_OF[m[2]!]) ops.add(`${SERVICE_OF[m[2]!]}:${op[1] ?? op[2]}`);
        for (const indirect of INDIRECT[name] ?? []) ops.add(indirect);
      }
    }
  }
  return ops;
}

/** "service#Structure.Member" for every member, reachable from the operation's output, that the model marks sensitive. */
function sensitiveMembersOf(service: string, operation: string): string[] {
  const model = OUTPUTS[service]!;
  const output = model.operations[operation];
  expect(output, `${service}:${operation} in the model`).toBeDefined();
  const found = new Set<string>();
  const seen = new Set<string>();
  const walk = (id: string): void => {
    if (seen.has(id)) return;
    seen.add(id);
    const s = model.shapes[id];
    if (!s) return;
    if (s.member) walk(s.member);
    if (s.value) walk(s.value);
    for (const [name, m] of Object.entries(s.members ?? {})) {
      if (m.sensitive || model.shapes[m.target]?.sensitive) found.add(`${service}#${id.split('#')[1]}.${name}`);
      walk(m.target);
    }
  };
  walk(output!);
  return [...found];
}

describe('sensitive members of AWS answers', () => {
  const ops = calledOperations();

  it('finds the operations the daemon calls', () => {
    // The known core: if the derivation found none of these it would prove nothing.
    for (const op of ['kms:DescribeCustomKeyStores', 'kms:GenerateRandom', 'cloudhsmv2:DescribeClusters', 'organizations:ListAccounts', 'sts:AssumeRole']) {
      expect(ops, op).toContain(op);
    }
  });

  it('has a decision for every member the models mark @sensitive in those answers, and none for members it does not read', () => {
    const derived = new Set([...ops].flatMap((o) => sensitiveMembersOf(o.split(':')[0]!, o.split(':')[1]!)));
    expect(derived).toContain('kms#XksProxyConfigurationType.AccessKeyId');
    const undecided = [...derived].filter((m) => !(m in SENSITIVE_MEMBERS));
    expect(undecided, 'members marked @sensitive that src/collect/sensitive.ts does not handle').toEqual([]);
    const stale = Object.keys(SENSITIVE_MEMBERS).filter((m) => !derived.has(m));
    expect(stale, 'entries of src/collect/sensitive.ts no called operation returns').toEqual([]);
  });

  it.runIf(existsSync(MODELS_DIR))('uses output shapes extracted from the current Smithy models', () => {
    expect(readFileSync(OUTPUT_SHAPES_PATH, 'utf8'), 'regenerate with npx tsx scripts/gen-aws-output-shapes.ts').toBe(renderOutputShapes());
  });

  it('keeps only the last 4 characters of an XKS access key id', () => {
    const id = 'XKSCANARYQWERTYZ7ABCD';
    const s = toObservedStore('111111111111', 'us-east-1', {
      CustomKeyStoreId: 'cks-1234567890abcdef0', CustomKeyStoreType: 'EXTERNAL_KEY_STORE', ConnectionState: 'CONNECTED',
      XksProxyConfiguration: { Connectivity: 'PUBLIC_ENDPOINT', AccessKeyId: id, UriEndpoint: 'https://xks.example.com', UriPath: '/kms/xks/v1' },
    })!;
    expect(s.xks?.accessKeyIdLast4).toBe('ABCD');
    expect(JSON.stringify(s)).not.toContain(id.slice(0, -4));
    expect(accessKeyIdLast4(null)).toBeNull();
    expect(accessKeyIdLast4('')).toBeNull();
  });
});
