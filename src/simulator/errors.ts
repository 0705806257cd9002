// Errors a handler throws: AwsError becomes the service's wire error; SimError is a control-API
// (or programmatic Fleet) misuse such as an unknown id.

export class AwsError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400, readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = code;
  }
}

export class SimError extends Error {
  constructor(message: string, readonly status = 400, readonly issues?: { path: string; message: string }[]) {
    super(message);
    this.name = 'SimError';
  }
}
