// AWS JSON 1.1 wire helpers (KMS, CloudHSM v2, Organizations): bodies, errors, malformed replies.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

/** Which error-message member a service uses: KMS `message`, CloudHSM and Organizations `Message`. */
export type MessageKey = 'message' | 'Message';

export function jsonBody(body: unknown): Buffer {
  return Buffer.from(JSON.stringify(body ?? {}));
}

export function writeJson(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': String(body.length),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(body);
}

/** The error body and headers: the code in both `__type` and `x-amzn-errortype` (old clients read the header first). */
export function jsonError(code: string, message: string, messageKey: MessageKey, extra: Record<string, unknown> = {}): { body: Buffer; headers: Record<string, string> } {
  return { body: jsonBody({ __type: code, [messageKey]: message, ...extra }), headers: { 'x-amzn-errortype': code } };
}

/** A 200 whose JSON is cut off mid-value: the client's parser must fail. */
export const MALFORMED_JSON = Buffer.from('{"CustomKeyStores":[{"CustomKeyStoreId":"cks-');
