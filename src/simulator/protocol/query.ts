// AWS query protocol helpers (STS, and CloudWatch for the AWS CLI): form-encoded requests, XML responses and ErrorResponse.
import { randomUUID } from 'node:crypto';

export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const CLOUDWATCH_NAMESPACE = 'http://monitoring.amazonaws.com/doc/2010-08-01/';

const XML_ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' };

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => XML_ENTITIES[c]!);
}

/** Renders nested plain objects as XML elements (strings escaped; undefined members left out; lists as <member> elements). */
export function toXml(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'object') return escapeXml(String(value));
  if (Array.isArray(value)) return value.map((v) => `<member>${toXml(v)}</member>`).join('');
  return Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
    .join('');
}

export function queryResponse(action: string, result: unknown, namespace = STS_NAMESPACE): Buffer {
  return Buffer.from(
    `<${action}Response xmlns="${namespace}"><${action}Result>${toXml(result)}</${action}Result>` +
      `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  );
}

export function queryError(code: string, message: string, status: number, namespace = STS_NAMESPACE): Buffer {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return Buffer.from(
    `<ErrorResponse xmlns="${namespace}"><Error><Type>${type}</Type><Code>${escapeXml(code)}</Code>` +
      `<Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  );
}

export const MALFORMED_XML = Buffer.from('<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIA');

/**
 * Form parameters as nested input: `A.member.1.B.member.2.C=x` -> { A: [{ B: [, { C: 'x' }] }] } (lists are
 * 1-based on the wire; holes are dropped). Values stay strings: handlers coerce numbers, booleans and times.
 */
export function unflattenQuery(params: URLSearchParams): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of params) {
    const parts = key.split('.');
    let node: any = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const last = i === parts.length - 1;
      if (part === 'member' && i + 1 < parts.length && /^\d+$/.test(parts[i + 1]!)) continue; // the list marker: the index follows
      const isIndex = /^\d+$/.test(part) && parts[i - 1] === 'member';
      const k = isIndex ? Number(part) - 1 : part;
      if (last) { node[k] = value; break; }
      const nextIsList = parts[i + 1] === 'member';
      if (node[k] === undefined) node[k] = nextIsList ? [] : {};
      node = node[k];
    }
  }
  const compact = (v: unknown): unknown => Array.isArray(v) ? v.filter((x) => x !== undefined).map(compact)
    : typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, compact(x)])) : v;
  return compact(root) as Record<string, unknown>;
}
