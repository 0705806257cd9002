// AWS query protocol helpers (STS): form-encoded requests, XML responses and ErrorResponse.
import { randomUUID } from 'node:crypto';

export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

const XML_ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' };

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => XML_ENTITIES[c]!);
}

/** Renders nested plain objects as XML elements (strings escaped; undefined members left out). */
export function toXml(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'object') return escapeXml(String(value));
  return Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
    .join('');
}

export function queryResponse(action: string, result: unknown): Buffer {
  return Buffer.from(
    `<${action}Response xmlns="${STS_NAMESPACE}"><${action}Result>${toXml(result)}</${action}Result>` +
      `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  );
}

export function queryError(code: string, message: string, status: number): Buffer {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return Buffer.from(
    `<ErrorResponse xmlns="${STS_NAMESPACE}"><Error><Type>${type}</Type><Code>${escapeXml(code)}</Code>` +
      `<Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  );
}

export const MALFORMED_XML = Buffer.from('<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIA');
