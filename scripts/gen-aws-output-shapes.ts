// Extracts, from the official Smithy models in ../shared/reference/aws-models, the shapes of every
// operation's output (members, their targets, and the smithy.api#sensitive trait) into
// test/fixtures/aws-models/output-shapes.json, so test/collect/sensitive.test.ts can derive the
// sensitive members of what the daemon reads without the 2.5 MB of models in the repository.
//
//   npx tsx scripts/gen-aws-output-shapes.ts          # write the file
//   npx tsx scripts/gen-aws-output-shapes.ts --check  # exit 1 when it differs from the models
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeOrCheck } from './generated-file.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const OUTPUT_SHAPES_PATH = join(HERE, '..', 'test', 'fixtures', 'aws-models', 'output-shapes.json');
export const MODELS_DIR = join(HERE, '..', '..', 'shared', 'reference', 'aws-models');
export const MODEL_FILES = {
  kms: 'kms-2014-11-01.json',
  cloudhsmv2: 'cloudhsm-v2-2017-04-28.json',
  sts: 'sts-2011-06-15.json',
  organizations: 'organizations-2016-11-28.json',
  account: 'account-2021-02-01.json',
} as const;

interface SmithyShape {
  type: string;
  members?: Record<string, { target: string; traits?: Record<string, unknown> }>;
  member?: { target: string };
  value?: { target: string };
  output?: { target: string };
  traits?: Record<string, unknown>;
}

export interface OutputShape {
  sensitive?: true;
  member?: string;
  value?: string;
  members?: Record<string, { target: string; sensitive?: true }>;
}

export interface ServiceOutputs { operations: Record<string, string>; shapes: Record<string, OutputShape> }

const SENSITIVE = 'smithy.api#sensitive';

export function extract(model: { shapes: Record<string, SmithyShape> }): ServiceOutputs {
  const operations: Record<string, string> = {};
  const shapes: Record<string, OutputShape> = {};
  const visit = (id: string): void => {
    if (id in shapes) return;
    const s = model.shapes[id];
    if (!s) return; // smithy.api#String and other prelude shapes
    const out: OutputShape = {};
    shapes[id] = out;
    if (s.traits && SENSITIVE in s.traits) out.sensitive = true;
    if (s.member) { out.member = s.member.target; visit(s.member.target); }
    if (s.value) { out.value = s.value.target; visit(s.value.target); }
    if (s.members) {
      out.members = {};
      for (const [name, m] of Object.entries(s.members)) {
        out.members[name] = m.traits && SENSITIVE in m.traits ? { target: m.target, sensitive: true } : { target: m.target };
        visit(m.target);
      }
    }
  };
  for (const [id, s] of Object.entries(model.shapes).sort(([a], [b]) => a.localeCompare(b))) {
    if (s.type !== 'operation' || !s.output) continue;
    operations[id.split('#')[1]!] = s.output.target;
    visit(s.output.target);
  }
  return { operations, shapes: Object.fromEntries(Object.entries(shapes).sort(([a], [b]) => a.localeCompare(b))) };
}

export function renderOutputShapes(): string {
  const all = Object.fromEntries(Object.entries(MODEL_FILES).map(([k, f]) => [k, extract(JSON.parse(readFileSync(join(MODELS_DIR, f), 'utf8')))]));
  return JSON.stringify(all) + '\n';
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) writeOrCheck(OUTPUT_SHAPES_PATH, renderOutputShapes(), process.argv, 'npx tsx scripts/gen-aws-output-shapes.ts');
