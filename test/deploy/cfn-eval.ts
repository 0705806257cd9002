// A small, strict evaluator of the CloudFormation intrinsics our templates use (Ref, Fn::Sub, Fn::If,
// Fn::Join, Fn::GetAtt, Fn::Equals/Not/And/Or, Condition): it resolves a template for one set of
// parameter values into the concrete resources CloudFormation would create, so the tests can read
// the IAM policies as IAM will see them. An intrinsic it does not know is an error, never a guess.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** cfn-lint's own parser: YAML with the short-form tags (!Ref, !Sub, ...) turned into Fn:: objects. */
export const openTemplate = (file: string): any => (require('cfn-lint/lib/parser.js') as { openFile(p: string): any }).openFile(file);

export const NO_VALUE = Symbol('AWS::NoValue');

export interface Context {
  params: Record<string, string>;
  pseudo: Record<string, string>;
  conditions: Record<string, boolean>;
  resources: Set<string>;
}

export function context(template: any, given: Record<string, string>, pseudo: Partial<Record<string, string>> = {}): Context {
  const params: Record<string, string> = {};
  for (const [name, p] of Object.entries<any>(template.Parameters ?? {})) {
    const v = given[name] ?? (p.Default === undefined ? undefined : String(p.Default));
    if (v === undefined) throw new Error(`parameter ${name} has no value and no default`);
    params[name] = v;
  }
  for (const k of Object.keys(given)) if (!(k in params)) throw new Error(`unknown parameter ${k}`);
  const ctx: Context = {
    params,
    pseudo: { 'AWS::Partition': 'aws', 'AWS::AccountId': '123456789012', 'AWS::Region': 'us-east-1', 'AWS::StackName': 'keystore-watch', ...pseudo } as Record<string, string>,
    conditions: {},
    resources: new Set(Object.keys(template.Resources ?? {})),
  };
  for (const [name, c] of Object.entries<any>(template.Conditions ?? {})) ctx.conditions[name] = condition(c, ctx, template);
  return ctx;
}

function condition(node: any, ctx: Context, template: any): boolean {
  const [fn, arg] = single(node);
  switch (fn) {
    case 'Fn::Equals': return String(resolve(arg[0], ctx)) === String(resolve(arg[1], ctx));
    case 'Fn::Not': return !condition(arg[0], ctx, template);
    case 'Fn::And': return arg.every((a: any) => condition(a, ctx, template));
    case 'Fn::Or': return arg.some((a: any) => condition(a, ctx, template));
    case 'Condition': {
      if (!(arg in ctx.conditions)) ctx.conditions[arg] = condition(template.Conditions[arg], ctx, template);
      return ctx.conditions[arg]!;
    }
    default: throw new Error(`unsupported condition function ${fn}`);
  }
}

function single(node: any): [string, any] {
  const keys = Object.keys(node ?? {});
  if (keys.length !== 1) throw new Error(`expected one intrinsic, got ${JSON.stringify(node)}`);
  return [keys[0]!, node[keys[0]!]];
}

const isIntrinsic = (node: any): boolean => {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return false;
  const keys = Object.keys(node);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
};

function ref(name: string, ctx: Context): unknown {
  if (name === 'AWS::NoValue') return NO_VALUE;
  if (name in ctx.params) return ctx.params[name];
  if (name in ctx.pseudo) return ctx.pseudo[name];
  if (ctx.resources.has(name)) return `ref:${name}`;
  throw new Error(`Ref to unknown ${name}`);
}

function sub(text: string, vars: Record<string, unknown>, ctx: Context): string {
  return text.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (name in vars) return String(vars[name]);
    if (name.includes('.') && !name.startsWith('AWS::')) {
      const [res, attr] = name.split('.') as [string, string];
      if (!ctx.resources.has(res)) throw new Error(`Fn::Sub: unknown resource ${res}`);
      return `getatt:${res}.${attr}`;
    }
    const v = ref(name, ctx);
    if (v === NO_VALUE) throw new Error('Fn::Sub of AWS::NoValue');
    return String(v);
  });
}

export function resolve(node: any, ctx: Context): any {
  if (Array.isArray(node)) return node.map((n) => resolve(n, ctx)).filter((n) => n !== NO_VALUE);
  if (node === null || typeof node !== 'object') return node;
  if (!isIntrinsic(node)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const r = resolve(v, ctx);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }
  const [fn, arg] = single(node);
  switch (fn) {
    case 'Ref': return ref(arg, ctx);
    case 'Fn::If': {
      if (!(arg[0] in ctx.conditions)) throw new Error(`Fn::If on unknown condition ${arg[0]}`);
      return resolve(ctx.conditions[arg[0]] ? arg[1] : arg[2], ctx);
    }
    case 'Fn::Sub': {
      if (typeof arg === 'string') return sub(arg, {}, ctx);
      const vars: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(arg[1] ?? {})) vars[k] = resolve(v, ctx);
      return sub(arg[0], vars, ctx);
    }
    case 'Fn::Join': return (resolve(arg[1], ctx) as unknown[]).map(String).join(arg[0]);
    case 'Fn::GetAtt': {
      const [res, attr] = Array.isArray(arg) ? arg : String(arg).split('.');
      if (!ctx.resources.has(res)) throw new Error(`Fn::GetAtt: unknown resource ${res}`);
      return `getatt:${res}.${attr}`;
    }
    default: throw new Error(`unsupported intrinsic ${fn}`);
  }
}

/** Every parameter a template refers to (Ref and ${Name} in Fn::Sub, outside pseudo parameters). */
export function referencedNames(node: any, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) { for (const n of node) referencedNames(n, out); return out; }
  if (node === null || typeof node !== 'object') return out;
  for (const [k, v] of Object.entries<any>(node)) {
    if (k === 'Ref' && typeof v === 'string') out.add(v);
    else if (k === 'Fn::Sub') {
      const [text, vars] = typeof v === 'string' ? [v, {}] : [v[0], v[1] ?? {}];
      for (const m of String(text).matchAll(/\$\{([^!}][^}.]*)\}/g)) if (!(m[1]! in vars)) out.add(m[1]!);
      referencedNames(vars, out);
    } else referencedNames(v, out);
  }
  return out;
}

/** All combinations of the given parameter values (a cartesian product). */
export function combinations(choices: Record<string, readonly string[]>): Record<string, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const [k, vs] of Object.entries(choices)) out = out.flatMap((o) => vs.map((v) => ({ ...o, [k]: v })));
  return out;
}
