// One HTTP server for every simulated service plus the /_sim/ control API. Per request:
// resolve service and operation, authenticate from the SigV4 scope, apply the rate limit and
// injected faults, run the handler, then answer after the configured latency (a timer).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleControl } from './control.js';
import { AwsError } from './errors.js';
import { injectedStatus, type Outcome, type RequestKey } from './faults.js';
import { baseAccessKeyId, Fleet } from './fleet.js';
import type { SimClock } from './clock.js';
import { jsonBody, jsonError, MALFORMED_JSON, writeJson, JSON_CONTENT_TYPE } from './protocol/json.js';
import { MALFORMED_XML, queryError, queryResponse, unflattenQuery } from './protocol/query.js';
import { parseAuthorization } from './protocol/sigv4.js';
import { IAM_PREFIX, refusalMessage } from './policies.js';
import { regionInfo } from './regions.js';
import { callerArn } from './services/service.js';
import { DEMO_SCENARIO_PATH, loadScenarioFile, parseScenario, type Scenario, type ScenarioInput, type ServiceName } from './scenario.js';
import { cloudhsm } from './services/cloudhsm.js';
import { kms } from './services/kms.js';
import { organizations } from './services/organizations.js';
import { account, ACCOUNT_ROUTES } from './services/account.js';
import type { Input, Service } from './services/service.js';
import { sts } from './services/sts.js';
import { cloudwatch } from './services/cloudwatch.js';
import { cloudtrail } from './services/cloudtrail.js';

export { baseAccessKeyId } from './fleet.js';

export interface StartSimulatorOptions {
  /** A parsed scenario, a scenario object to parse, or a YAML file path; default: the demo scenario. */
  scenario?: Scenario | ScenarioInput | string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = a random free port (default). */
  port?: number;
  /** Default: real time (advanceable). Pass manualClock() for fully deterministic tests. */
  clock?: SimClock;
}

export interface RunningSimulator {
  url: string;
  port: number;
  fleet: Fleet;
  /**
   * The base credentials (any secret is accepted): of `credentials.baseAccount` (default the management
   * account), an IAM user's AKIA keys or, with `credentials.baseIdentity: role`, a role session's ASIA keys.
   */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  close(): Promise<void>;
}

const TARGET_PREFIXES: Record<string, Service> = {
  TrentService: kms,
  BaldrApiService: cloudhsm,
  AWSOrganizationsV20161128: organizations,
  GraniteServiceVersion20100801: cloudwatch,
  // The JS SDK sends CloudTrail_20131101.<Op>; botocore (the AWS CLI) the model's full targetPrefix.
  CloudTrail_20131101: cloudtrail,
  'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101': cloudtrail,
};
/** Query-protocol services by API version (the SigV4 scope's service name decides first). */
const QUERY_SERVICES: Record<string, Service> = { '2011-06-15': sts, '2010-08-01': cloudwatch };
const QUERY_SCOPES: Record<string, Service> = { sts, monitoring: cloudwatch };
const THROTTLING_CODES = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);
const MAX_BODY = 1 << 20;

interface Reply { status: number; body: Buffer; headers: Record<string, string>; contentType: string }

export async function startSimulator(opts: StartSimulatorOptions = {}): Promise<RunningSimulator> {
  const scenario = typeof opts.scenario === 'string' ? loadScenarioFile(opts.scenario)
    : opts.scenario === undefined ? loadScenarioFile(DEMO_SCENARIO_PATH)
    : parseScenario(opts.scenario);
  const fleet = new Fleet(scenario, opts.clock ? { clock: opts.clock } : {});
  const timers = new Set<NodeJS.Timeout>();
  // Never before `ms` of real time: node arms a timer from the event loop's cached time (taken when the
  // turn began, in whole milliseconds), so a request handled late in a busy turn would be answered up to
  // that turn's length early, kinder than the latency drawn for it. Such a timer is re-armed for the rest.
  const later = (ms: number, fn: () => void) => {
    if (ms <= 0) return fn();
    const due = performance.now() + ms;
    const arm = (wait: number) => {
      const t = setTimeout(() => {
        timers.delete(t);
        const left = due - performance.now();
        if (left > 0) arm(left);
        else fn();
      }, wait);
      timers.add(t);
    };
    arm(ms);
  };

  const server = createServer((req, res) => {
    const arrived = performance.now();
    readBody(req).then(
      (body) => {
        if ((req.url ?? '').startsWith('/_sim')) return handleControl(fleet, req, res, body);
        handleAws(fleet, req, res, body, later, arrived);
      },
      () => { if (!res.headersSent) { res.writeHead(413); res.end(); } },
    ).catch((err: unknown) => {
      // Never crash the server on one bad request.
      process.stderr.write(`simulator: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
      if (!res.headersSent) writeJson(res, 500, jsonError('InternalFailure', 'The simulator failed to process the request.', 'message').body);
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    port,
    fleet,
    credentials: baseCredentials(fleet),
    close: () => new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

const pathOf = (url: string | undefined) => {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
};

function baseCredentials(fleet: Fleet): RunningSimulator['credentials'] {
  const role = fleet.scenario.credentials.baseIdentity === 'role';
  return { accessKeyId: baseAccessKeyId(fleet.baseAccountId, role ? 'role' : 'user'), secretAccessKey: 'simulator', ...(role && { sessionToken: 'simulator-base-session' }) };
}

/** A JSON request body as the operation's input ({} when empty), or the error AWS answers for one that is not an object. */
function jsonInput(raw: Buffer): Input | AwsError {
  if (raw.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Input;
  } catch {
    // answered below
  }
  return new AwsError('SerializationException', 'Start of structure or map found where not expected.');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

type Protocol = 'json' | 'query' | 'rest-json';
const REST_JSON_CONTENT_TYPE = 'application/json';

const jsonContentType = (service: Service | undefined) => (service?.jsonVersion === '1.0' ? 'application/x-amz-json-1.0' : JSON_CONTENT_TYPE);

/** An AWS error in the wire format of the request's protocol. */
function errorReply(protocol: Protocol, service: Service | undefined, err: AwsError): Reply {
  const compat = service?.queryCompatible;
  if (protocol === 'query') {
    // A service spoken in both protocols names its errors by query code (InvalidParameterValue, not ...Exception).
    const code = compat?.[err.code] ?? err.code;
    return { status: err.status, body: queryError(code, err.message, err.status, service?.query?.namespace), headers: {}, contentType: 'text/xml' };
  }
  if (compat) {
    // awsQueryCompatible JSON (CloudWatch): the JSON type in __type, the query code in x-amzn-query-error.
    const queryCode = compat[err.code] ?? err.code;
    const jsonType = Object.entries(compat).find(([, q]) => q === err.code)?.[0] ?? err.code;
    const body = Buffer.from(JSON.stringify({ __type: `${service.errorTypePrefix ?? ''}${jsonType}`, message: err.message, ...err.extra }));
    return { status: err.status, body, headers: { 'x-amzn-query-error': `${queryCode};${err.status >= 500 ? 'Receiver' : 'Sender'}` }, contentType: jsonContentType(service) };
  }
  const { body, headers } = jsonError(err.code, err.message, service?.messageKey ?? 'message', err.extra);
  return { status: err.status, body, headers, contentType: protocol === 'rest-json' ? REST_JSON_CONTENT_TYPE : jsonContentType(service) };
}

/** What AWS answers for credentials it does not know in this region (an opt-in region not enabled, another partition). */
function invalidTokenError(protocol: Protocol): AwsError {
  return protocol === 'query'
    ? new AwsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403)
    : new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.', 400);
}

function throttlingError(service: ServiceName): AwsError {
  switch (service) {
    case 'kms': return new AwsError('ThrottlingException', 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.');
    case 'cloudhsm': return new AwsError('ThrottlingException', 'Rate exceeded');
    case 'organizations': return new AwsError('TooManyRequestsException', 'You have sent too many requests in too short a period of time. The quota helps protect against denial-of-service attacks. Try again later.', 429, { Type: 'TooManyRequests' });
    case 'sts': return new AwsError('Throttling', 'Rate exceeded', 400);
    case 'account': return new AwsError('TooManyRequestsException', 'Rate exceeded', 429);
    // CloudWatch (query code; JSON clients see ThrottlingException with x-amzn-query-error Throttling;Sender).
    case 'cloudwatch': return new AwsError('Throttling', 'Rate exceeded', 400);
    // CloudTrail's common ThrottlingException is a 400, not a 429.
    case 'cloudtrail': return new AwsError('ThrottlingException', 'Rate exceeded', 400);
  }
}

function handleAws(fleet: Fleet, req: IncomingMessage, res: ServerResponse, raw: Buffer, later: (ms: number, fn: () => void) => void, arrived: number): void {
  const target = req.headers['x-amz-target'];
  const scope = parseAuthorization(req.headers.authorization);
  let protocol: Protocol = 'json';
  let service: Service | undefined;
  let operation = '';
  let input: Input = {};
  let parseError: AwsError | undefined;

  if (typeof target === 'string' && target.includes('.')) {
    const dot = target.lastIndexOf('.');
    service = TARGET_PREFIXES[target.slice(0, dot)];
    operation = target.slice(dot + 1);
    const body = jsonInput(raw);
    if (body instanceof AwsError) parseError = body;
    else input = body;
  } else if (String(req.headers['content-type'] ?? '').includes('x-www-form-urlencoded') || (req.url ?? '').includes('Action=')) {
    protocol = 'query';
    const params = new URLSearchParams(raw.length > 0 ? raw.toString('utf8') : new URL(req.url ?? '/', 'http://sim').search);
    service = QUERY_SCOPES[scope?.service ?? ''] ?? QUERY_SERVICES[params.get('Version') ?? ''] ?? sts;
    input = service === sts ? Object.fromEntries(params) : unflattenQuery(params);
    operation = String(input.Action ?? '');
  } else if (scope?.service === 'account' || ACCOUNT_ROUTES[pathOf(req.url)] !== undefined) {
    // REST-JSON (Account): the operation is the path, the body its JSON input.
    protocol = 'rest-json';
    service = account;
    operation = ACCOUNT_ROUTES[pathOf(req.url)] ?? '';
    const body = jsonInput(raw);
    if (body instanceof AwsError) parseError = body;
    else input = body;
  }

  // Counted under account "-" until the caller is identified.
  const key: RequestKey = { service: service?.name ?? 'kms', operation: operation || '-', account: '-', region: scope?.region ?? '-' };
  const finish = (reply: Reply, outcome: Outcome) => {
    fleet.requestCounters.record(key, outcome);
    const delay = fleet.faults.delayMs();
    // Real time (not the fleet's clock, which tests may step): how long this answer was held in all.
    res.once('finish', () => fleet.requestCounters.answered(delay, performance.now() - arrived));
    later(delay, () => {
      if (res.destroyed) return;
      res.writeHead(reply.status, { 'content-type': reply.contentType, 'content-length': String(reply.body.length), 'x-amzn-requestid': randomUUID(), ...reply.headers });
      res.end(reply.body);
    });
  };
  const fail = (err: AwsError) => {
    const outcome: Outcome = THROTTLING_CODES.has(err.code) || err.status === 429 ? 'throttled' : 'failed';
    finish(errorReply(protocol, service, err), outcome);
  };

  // awsQueryCompatible services (CloudWatch JSON) answer with the query protocol's codes and statuses.
  const queryStyle = protocol === 'query' || Boolean(service?.queryCompatible);
  // Authentication comes first, as at AWS: an unsigned request to an unknown operation is still "missing token".
  if (scope === undefined) {
    return fail(queryStyle
      ? new AwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403)
      : new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token', 400));
  }
  if (scope === null) {
    return fail(queryStyle
      ? new AwsError('IncompleteSignature', 'Authorization header requires \'Credential\' parameter.', 400)
      : new AwsError('IncompleteSignatureException', 'Authorization header requires \'Credential\' parameter.', 400));
  }
  const regional = !service?.global;
  if (regional && regionInfo(scope.region) === undefined) {
    // No partition has this region: the real SDK would not even resolve kms.<region>.amazonaws.com.
    // The nearest a local server gets to a DNS failure is a connection that dies without an answer.
    fleet.requestCounters.record(key, 'failed');
    return void (req.socket.resetAndDestroy ? req.socket.resetAndDestroy() : req.socket.destroy());
  }
  const who = fleet.identify(scope.accessKeyId, req.headers['x-amz-security-token'] as string | undefined);
  if ('error' in who) {
    if (who.error === 'expired') {
      return fail(queryStyle
        ? new AwsError('ExpiredToken', 'The security token included in the request is expired', 403)
        : new AwsError('ExpiredTokenException', 'The security token included in the request is expired', 400));
    }
    return fail(invalidTokenError(queryStyle ? 'query' : protocol));
  }
  key.account = who.account;
  // An opt-in region the account has not enabled, or a region of another partition, does not know
  // the account's credentials: the same answer as an unknown access key.
  if (regional && fleet.regionAccess(who.account, scope.region) !== 'ok') return fail(invalidTokenError(queryStyle ? 'query' : protocol));
  if (parseError) return fail(parseError);
  const handler = service?.operations[operation];
  if (!service || !handler) {
    return fail(protocol === 'query'
      ? new AwsError('InvalidAction', `Could not find operation ${operation} for version ${service?.query?.version ?? '2011-06-15'}`, 400)
      : protocol === 'rest-json'
        ? new AwsError('UnknownOperationException', `No operation at ${req.method ?? 'POST'} ${pathOf(req.url)}`, 404)
        : new AwsError('UnknownOperationException', operation ? `Unknown operation ${String(target)}` : 'Missing or unknown x-amz-target.', 400));
  }

  // IAM: a service control policy's explicit deny, or a permission the caller's identities lack.
  const action = fleet.policies.empty ? '' : `${IAM_PREFIX[service.name]}:${operation}`;
  const refusal = action && fleet.policies.refusal(who.account, scope.region, action, who.account === fleet.managementAccountId);
  if (refusal) {
    const caller = callerArn({ account: who.account, partition: who.partition, ...(who.roleName !== undefined && { roleName: who.roleName, sessionName: who.sessionName }) });
    const message = refusalMessage(caller, action, refusal, action === 'sts:AssumeRole' && typeof input.RoleArn === 'string' ? input.RoleArn : undefined);
    // KMS, CloudHSM and CloudTrail (Coral JSON 1.1) answer 400; CloudWatch's JSON carries AccessDenied in x-amzn-query-error.
    return fail(protocol === 'query' || service.queryCompatible ? new AwsError('AccessDenied', message, 403) : new AwsError('AccessDeniedException', message, service.name === 'kms' || service.name === 'cloudhsm' || service.name === 'cloudtrail' ? 400 : 403));
  }

  fleet.tick();
  const now = fleet.now();
  if (fleet.faults.throttled(key, now)) return fail(throttlingError(service.name));

  const fault = fleet.faults.pick(key);
  if (fault) {
    switch (fault.error) {
      case 'hang':
        fleet.requestCounters.record(key, 'failed');
        return; // never answer: the client's timeout (or close()) ends it
      case 'reset':
        fleet.requestCounters.record(key, 'failed');
        return later(fleet.faults.delayMs(), () => (req.socket.resetAndDestroy ? req.socket.resetAndDestroy() : req.socket.destroy()));
      case 'malformed':
        return finish({ status: 200, body: protocol === 'query' ? MALFORMED_XML : MALFORMED_JSON, headers: {}, contentType: protocol === 'query' ? 'text/xml' : jsonContentType(service) }, 'failed');
      case 'truncated': {
        fleet.requestCounters.record(key, 'failed');
        const body = protocol === 'query' ? MALFORMED_XML : MALFORMED_JSON;
        return later(fleet.faults.delayMs(), () => {
          res.writeHead(200, { 'content-type': protocol === 'query' ? 'text/xml' : jsonContentType(service), 'content-length': String(body.length + 512) });
          res.write(body, () => res.destroy());
        });
      }
      default:
        return fail(new AwsError(fault.error, fault.message ?? `Injected ${fault.error} (simulator fault).`, fault.status ?? injectedStatus(service.name, fault.error)));
    }
  }

  let result: unknown;
  try {
    result = handler(input, {
      fleet,
      operation,
      account: who.account,
      region: scope.region,
      accessKeyId: scope.accessKeyId,
      partition: who.partition,
      ...(who.roleName !== undefined && { roleName: who.roleName, sessionName: who.sessionName }),
      stale: fleet.faults.staleRead(),
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
      userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined,
    });
  } catch (err) {
    if (err instanceof AwsError) return fail(err);
    process.stderr.write(`simulator: ${service.name}.${operation} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    return fail(new AwsError(service.name === 'kms' ? 'KMSInternalException' : service.name === 'cloudwatch' ? 'InternalServiceError' : 'InternalFailure', 'The simulator failed to process the request.', 500));
  }
  if (protocol === 'query') {
    const body = service.query ? queryResponse(operation, service.query.result ? service.query.result(operation, result) : result, service.query.namespace) : queryResponse(operation, result);
    finish({ status: 200, body, headers: {}, contentType: 'text/xml' }, 'ok');
  } else finish({ status: 200, body: jsonBody(result), headers: {}, contentType: protocol === 'rest-json' ? REST_JSON_CONTENT_TYPE : jsonContentType(service) }, 'ok');
}
