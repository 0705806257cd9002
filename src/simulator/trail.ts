// CloudTrail in the simulator: the management events KMS records for custom key store changes
// (ConnectCustomKeyStore, DisconnectCustomKeyStore, UpdateCustomKeyStore, CreateCustomKeyStore,
// DeleteCustomKeyStore), who made them, and when LookupEvents can see them.
//
// Records follow the KMS developer guide's CloudTrail examples (ct-disconnect-keystore and friends):
// eventSource kms.amazonaws.com, requestParameters { customKeyStoreId }, additionalEventData
// { customKeyStoreName, clusterId }, readOnly false, eventType AwsApiCall, and no `resources` block — so
// LookupEvents' Resources list is empty for these events and a ResourceName lookup does not find them
// (look up by EventName and match requestParameters.customKeyStoreId). A call that fails is recorded too,
// with errorCode and errorMessage. Events become visible to LookupEvents only `deliveryDelay` after the call
// (AWS: event history typically shows an event within minutes; never at once).
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { roleUniqueId, uniqueId } from './services/sts.js';

const IAM_ARN = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(user\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)|root|assumed-role\/([\w+=,.@-]+)\/([\w+=,.@-]+)|role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+))$/;

/** Who made a change: an IAM principal (user, root, role session) or an AWS service, and from where. */
export const actorSchema = z.strictObject({
  /** arn:aws:iam::<acct>:user/<name>, arn:aws:sts::<acct>:assumed-role/<role>/<session>, arn:aws:iam::<acct>:root */
  arn: z.string().regex(IAM_ARN, 'must be an IAM user, root or assumed-role ARN such as arn:aws:sts::111111111111:assumed-role/Admin/alice').optional(),
  /** An AWS service acting (e.g. cloudformation.amazonaws.com): userIdentity type AWSService. */
  service: z.string().regex(/^[a-z0-9-]+\.amazonaws\.com$/, 'must be a service principal such as cloudformation.amazonaws.com').optional(),
  sourceIp: z.string().min(1).optional(),
  userAgent: z.string().min(1).optional(),
  accessKeyId: z.string().regex(/^(AKIA|ASIA)[A-Z0-9]{12,124}$/, 'must be an access key id (AKIA… or ASIA…)').optional(),
}).refine((a) => (a.arn === undefined) !== (a.service === undefined), 'give arn (a person or role) or service (an AWS service), exactly one');
export type Actor = z.infer<typeof actorSchema>;

export const KEY_STORE_EVENTS = ['ConnectCustomKeyStore', 'DisconnectCustomKeyStore', 'UpdateCustomKeyStore', 'CreateCustomKeyStore', 'DeleteCustomKeyStore'] as const;
export type KeyStoreEventName = (typeof KEY_STORE_EVENTS)[number];

export interface TrailEvent {
  seq: number;
  eventId: string;
  account: string;
  region: string;
  eventName: string;
  eventSource: string;
  /** Epoch ms, whole seconds. */
  eventTime: number;
  /** When LookupEvents starts returning it (epoch ms). */
  deliverAt: number;
  readOnly: boolean;
  accessKeyId?: string | undefined;
  username?: string | undefined;
  resources: { ResourceType: string; ResourceName: string }[];
  /** The record as CloudTrail stores it (LookupEvents serialises it as the CloudTrailEvent string). */
  record: Record<string, unknown>;
}

export interface RecordInput {
  account: string;
  region: string;
  partition: string;
  eventName: string;
  at: number;
  actor: Actor;
  requestParameters?: Record<string, unknown> | null;
  responseElements?: Record<string, unknown> | null;
  additionalEventData?: Record<string, unknown>;
  error?: { code: string; message: string } | undefined;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The userIdentity block and LookupEvents' Username for an actor. */
export function identityOf(actor: Actor, partition: string, eventTime: number): { userIdentity: Record<string, unknown>; username?: string; accessKeyId?: string } {
  if (actor.service) return { userIdentity: { type: 'AWSService', invokedBy: actor.service } };
  const m = IAM_ARN.exec(actor.arn!)!;
  const [, part = partition, , account = ''] = m;
  const accessKeyId = actor.accessKeyId ?? `${m[6] ? 'ASIA' : 'AKIA'}${createHash('sha256').update(`key/${actor.arn}`).digest('hex').slice(0, 16).toUpperCase()}`;
  if (m[6] && m[7]) {
    const role = m[6];
    const session = m[7];
    const roleId = roleUniqueId(part, account, role);
    return {
      username: session,
      accessKeyId,
      userIdentity: {
        type: 'AssumedRole',
        principalId: `${roleId}:${session}`,
        arn: actor.arn,
        accountId: account,
        accessKeyId,
        sessionContext: {
          sessionIssuer: { type: 'Role', principalId: roleId, arn: `arn:${part}:iam::${account}:role/${role}`, accountId: account, userName: role },
          webIdFederationData: {},
          attributes: { creationDate: iso(eventTime - 600_000), mfaAuthenticated: 'false' },
        },
      },
    };
  }
  if (m[4] === 'root') return { username: 'root', accessKeyId, userIdentity: { type: 'Root', principalId: account, arn: actor.arn, accountId: account, accessKeyId } };
  if (m[5]) return { username: m[5], accessKeyId, userIdentity: { type: 'IAMUser', principalId: uniqueId('AIDA', actor.arn!), arn: actor.arn, accountId: account, accessKeyId, userName: m[5] } };
  // A role ARN (not a session): CloudTrail names sessions, so treat it as a session named after the role.
  const role = m[8]!;
  return identityOf({ ...actor, arn: `arn:${part}:sts::${account}:assumed-role/${role}/${role}` }, partition, eventTime);
}

/** The management events of every account and region, in recording order. */
export class Trail {
  private events = new Map<string, TrailEvent[]>();
  private seq = 0;

  constructor(private deliveryDelay: number) {}

  get delay(): number {
    return this.deliveryDelay;
  }

  set delay(ms: number) {
    this.deliveryDelay = ms;
  }

  record(e: RecordInput): TrailEvent {
    const eventTime = Math.floor(e.at / 1000) * 1000;
    const { userIdentity, username, accessKeyId } = identityOf(e.actor, e.partition, eventTime);
    const eventId = randomUUID();
    const service = e.actor.service;
    const record: Record<string, unknown> = {
      eventVersion: '1.09',
      userIdentity,
      eventTime: iso(eventTime),
      eventSource: 'kms.amazonaws.com',
      eventName: e.eventName,
      awsRegion: e.region,
      sourceIPAddress: service ?? e.actor.sourceIp ?? '192.0.2.10',
      userAgent: service ?? e.actor.userAgent ?? 'aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12 prompt/off command/kms',
      ...(e.error && { errorCode: e.error.code, errorMessage: e.error.message }),
      requestParameters: e.requestParameters ?? null,
      responseElements: e.responseElements ?? null,
      ...(e.additionalEventData && { additionalEventData: e.additionalEventData }),
      requestID: randomUUID(),
      eventID: eventId,
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: e.account,
      eventCategory: 'Management',
    };
    const ev: TrailEvent = {
      seq: ++this.seq,
      eventId,
      account: e.account,
      region: e.region,
      eventName: e.eventName,
      eventSource: 'kms.amazonaws.com',
      eventTime,
      deliverAt: e.at + this.deliveryDelay,
      readOnly: false,
      accessKeyId,
      username,
      resources: [],
      record,
    };
    const key = `${e.account}/${e.region}`;
    let list = this.events.get(key);
    if (!list) this.events.set(key, (list = []));
    list.push(ev);
    return ev;
  }

  /** Events of one account and region, delivered by `now` unless `all`, newest first (eventTime, then recording order). */
  list(account: string, region: string, now: number, all = false): TrailEvent[] {
    const list = this.events.get(`${account}/${region}`) ?? [];
    return list.filter((e) => all || e.deliverAt <= now).sort((a, b) => b.eventTime - a.eventTime || b.seq - a.seq);
  }

  /** Every recorded event (control API), delivered or not, oldest first. */
  everything(filter: { account?: string | undefined; region?: string | undefined } = {}): TrailEvent[] {
    const out: TrailEvent[] = [];
    for (const list of this.events.values()) for (const e of list) if ((!filter.account || e.account === filter.account) && (!filter.region || e.region === filter.region)) out.push(e);
    return out.sort((a, b) => a.eventTime - b.eventTime || a.seq - b.seq);
  }
}

/** The requestParameters / additionalEventData KMS records for a key store event. */
export function keyStoreEventDetails(eventName: string, store: { id: string; name: string; type: string; clusterId?: string | undefined; xks?: { uriEndpoint: string; uriPath: string; connectivity: string } | undefined }, changed: Record<string, unknown> = {}): Pick<RecordInput, 'requestParameters' | 'responseElements' | 'additionalEventData'> {
  const additionalEventData: Record<string, unknown> = { customKeyStoreName: store.name, ...(store.clusterId && { clusterId: store.clusterId }) };
  switch (eventName) {
    case 'CreateCustomKeyStore':
      return {
        requestParameters: {
          customKeyStoreName: store.name,
          customKeyStoreType: store.type,
          ...(store.clusterId && { cloudHsmClusterId: store.clusterId, trustAnchorCertificate: '-----BEGIN CERTIFICATE-----…', keyStorePassword: 'HIDDEN_DUE_TO_SECURITY_REASONS' }),
          ...(store.xks && {
            xksProxyUriEndpoint: store.xks.uriEndpoint,
            xksProxyUriPath: store.xks.uriPath,
            xksProxyConnectivity: store.xks.connectivity,
            xksProxyAuthenticationCredential: { accessKeyId: 'HIDDEN_DUE_TO_SECURITY_REASONS', rawSecretAccessKey: 'HIDDEN_DUE_TO_SECURITY_REASONS' },
          }),
        },
        responseElements: { customKeyStoreId: store.id },
        additionalEventData,
      };
    case 'UpdateCustomKeyStore':
      return { requestParameters: { customKeyStoreId: store.id, ...changed }, responseElements: null, additionalEventData };
    default:
      return { requestParameters: { customKeyStoreId: store.id }, responseElements: null, additionalEventData };
  }
}
