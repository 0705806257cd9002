// KMS custom key store administration: CreateCustomKeyStore, UpdateCustomKeyStore, DeleteCustomKeyStore.
// keystore-watch never calls them; they exist so that a fire drill (or an operator with the AWS CLI) can
// change a store the way people do, and CloudTrail records the call with the caller's identity, as KMS does
// (a failed call too, with errorCode). Constraints from the KMS API reference: an AWS_CLOUDHSM store must be
// DISCONNECTED for any update; an external store may change its name, proxy credential and URI path while
// CONNECTED or DISCONNECTED, anything else only DISCONNECTED; a store is deleted only when DISCONNECTED.
// Rotating the proxy credential restarts XksProxyCredentialAge at 0 ("This count begins when you enter the
// authentication credential as part of creating or updating your external key store").
import { randomBytes } from 'node:crypto';
import { AwsError } from '../errors.js';
import type { Store } from '../fleet.js';
import { callerArn, optionalString, type Input, type ServiceContext } from './service.js';

const HIDDEN = 'HIDDEN_DUE_TO_SECURITY_REASONS';
const PEM = /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/;

const required = (member: string) => new AwsError('ValidationException', `1 validation error detected: Value null at '${member[0]!.toLowerCase()}${member.slice(1)}' failed to satisfy constraint: Member must not be null`);
const notFound = (id: string) => new AwsError('CustomKeyStoreNotFoundException', `Custom key store ${id} does not exist in this account and Region.`);

/** The caller as CloudTrail records it. */
export function callerActor(ctx: ServiceContext) {
  return { arn: callerArn(ctx), accessKeyId: ctx.accessKeyId, ...(ctx.sourceIp && { sourceIp: ctx.sourceIp }), ...(ctx.userAgent && { userAgent: ctx.userAgent.slice(0, 512) }) };
}

/** Runs a key store call and records it in CloudTrail, failed or not. */
function recorded<T>(ctx: ServiceContext, store: Store, eventName: 'UpdateCustomKeyStore' | 'DeleteCustomKeyStore', params: Record<string, unknown>, run: () => T): T {
  try {
    const out = run();
    ctx.fleet.recordKeyStoreEvent(ctx.fleet.getStore(store.id) ?? store, eventName, callerActor(ctx), { changed: params });
    return out;
  } catch (err) {
    if (err instanceof AwsError) ctx.fleet.recordKeyStoreEvent(store, eventName, callerActor(ctx), { changed: params, error: { code: err.code, message: err.message } });
    throw err;
  }
}

function ownStore(ctx: ServiceContext, id: string): Store {
  const s = ctx.fleet.getStore(id);
  if (!s || s.account !== ctx.account || s.region !== ctx.region) throw notFound(id);
  return s;
}

function nameInUse(ctx: ServiceContext, name: string, except?: string): boolean {
  return ctx.fleet.storesIn(ctx.account, ctx.region, false).some((s) => s.store.name === name && s.store.id !== except);
}

function credential(input: Input): { AccessKeyId: string } | undefined {
  const c = input.XksProxyAuthenticationCredential;
  if (c === undefined || c === null) return undefined;
  const { AccessKeyId, RawSecretAccessKey } = c as Record<string, unknown>;
  if (typeof AccessKeyId !== 'string' || !/^[A-Z2-7]{20,30}$/.test(AccessKeyId)) throw new AwsError('ValidationException', "1 validation error detected: Value at 'xksProxyAuthenticationCredential.accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[A-Z2-7]+$ and have length between 20 and 30");
  if (typeof RawSecretAccessKey !== 'string' || !/^[a-zA-Z0-9/+=]{43,64}$/.test(RawSecretAccessKey)) throw new AwsError('ValidationException', "1 validation error detected: Value at 'xksProxyAuthenticationCredential.rawSecretAccessKey' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9\\/+=]+$ and have length between 43 and 64");
  return { AccessKeyId };
}

/** XksProxyCredentialAge starts again at 0 and grows a day a day, when the store publishes it. */
function restartCredentialAge(ctx: ServiceContext, id: string): void {
  if (ctx.fleet.metrics.spec(id)?.XksProxyCredentialAge === undefined) return;
  const offset = ctx.fleet.now() - ctx.fleet.startedAt;
  ctx.fleet.setMetrics(id, { XksProxyCredentialAge: { ramp: { from: 0, to: 3650, start: `${offset}ms`, over: '3650d' } } });
}

export function updateCustomKeyStore(input: Input, ctx: ServiceContext) {
  const id = optionalString(input, 'CustomKeyStoreId', 1, 64);
  if (id === undefined) throw required('CustomKeyStoreId');
  const store = ownStore(ctx, id);
  const name = optionalString(input, 'NewCustomKeyStoreName', 1, 256);
  const clusterId = optionalString(input, 'CloudHsmClusterId', 19, 24);
  const password = optionalString(input, 'KeyStorePassword', 7, 32);
  const uriEndpoint = optionalString(input, 'XksProxyUriEndpoint', 10, 128);
  const uriPath = optionalString(input, 'XksProxyUriPath', 10, 128);
  const vpce = optionalString(input, 'XksProxyVpcEndpointServiceName', 20, 64);
  const connectivity = optionalString(input, 'XksProxyConnectivity', 1, 64);
  const cred = credential(input);
  // What CloudTrail shows: the parameters given, secrets hidden.
  const params: Record<string, unknown> = {
    ...(name !== undefined && { newCustomKeyStoreName: name }),
    ...(clusterId !== undefined && { cloudHsmClusterId: clusterId }),
    ...(password !== undefined && { keyStorePassword: HIDDEN }),
    ...(uriEndpoint !== undefined && { xksProxyUriEndpoint: uriEndpoint }),
    ...(uriPath !== undefined && { xksProxyUriPath: uriPath }),
    ...(vpce !== undefined && { xksProxyVpcEndpointServiceName: vpce }),
    ...(connectivity !== undefined && { xksProxyConnectivity: connectivity }),
    ...(cred && { xksProxyAuthenticationCredential: { accessKeyId: HIDDEN, rawSecretAccessKey: HIDDEN } }),
  };
  return recorded(ctx, store, 'UpdateCustomKeyStore', params, () => {
    const xks = store.type === 'EXTERNAL_KEY_STORE';
    if (xks && (clusterId !== undefined || password !== undefined)) throw new AwsError('ValidationException', 'CloudHsmClusterId and KeyStorePassword apply only to an AWS_CLOUDHSM key store.');
    if (!xks && (uriEndpoint ?? uriPath ?? vpce ?? connectivity ?? cred) !== undefined) throw new AwsError('ValidationException', 'XksProxy parameters apply only to an EXTERNAL_KEY_STORE key store.');
    const onlyLive = uriEndpoint === undefined && vpce === undefined && connectivity === undefined;
    const allowed = xks && onlyLive ? ['CONNECTED', 'DISCONNECTED'] : ['DISCONNECTED'];
    if (!allowed.includes(store.state)) {
      throw new AwsError('CustomKeyStoreInvalidStateException', `Custom key store ${id} has a ConnectionState of ${store.state}. ${allowed.length === 1 ? 'Disconnect it (DisconnectCustomKeyStore) before updating these properties.' : 'It must be CONNECTED or DISCONNECTED.'}`);
    }
    if (name !== undefined && nameInUse(ctx, name, id)) throw new AwsError('CustomKeyStoreNameInUseException', `A custom key store named ${name} already exists in this account and Region.`);
    if (clusterId !== undefined) {
      const c = ctx.fleet.getCluster(clusterId);
      if (!c || c.account !== ctx.account || c.region !== ctx.region) throw new AwsError('CloudHsmClusterNotFoundException', `CloudHSM cluster ${clusterId} was not found.`);
    }
    const xksPatch = { ...(uriEndpoint !== undefined && { uriEndpoint }), ...(uriPath !== undefined && { uriPath }), ...(vpce !== undefined && { vpcEndpointServiceName: vpce }), ...(connectivity !== undefined && { connectivity }), ...(cred && { accessKeyId: cred.AccessKeyId }) };
    ctx.fleet.setStore(id, { ...(name !== undefined && { name }), ...(clusterId !== undefined && { clusterId }), ...(Object.keys(xksPatch).length > 0 && { xks: xksPatch }) });
    if (cred) restartCredentialAge(ctx, id);
    return {};
  });
}

export function deleteCustomKeyStore(input: Input, ctx: ServiceContext) {
  const id = optionalString(input, 'CustomKeyStoreId', 1, 64);
  if (id === undefined) throw required('CustomKeyStoreId');
  const store = ownStore(ctx, id);
  return recorded(ctx, store, 'DeleteCustomKeyStore', {}, () => {
    if (store.state !== 'DISCONNECTED') throw new AwsError('CustomKeyStoreInvalidStateException', `Custom key store ${id} has a ConnectionState of ${store.state}. Disconnect it (DisconnectCustomKeyStore) before deleting it.`);
    ctx.fleet.removeStore(id);
    return {};
  });
}

export function createCustomKeyStore(input: Input, ctx: ServiceContext) {
  const name = optionalString(input, 'CustomKeyStoreName', 1, 256);
  if (name === undefined) throw required('CustomKeyStoreName');
  const type = optionalString(input, 'CustomKeyStoreType', 1, 64) ?? 'AWS_CLOUDHSM';
  if (type !== 'AWS_CLOUDHSM' && type !== 'EXTERNAL_KEY_STORE') throw new AwsError('ValidationException', `1 validation error detected: Value '${type}' at 'customKeyStoreType' failed to satisfy constraint: Member must satisfy enum value set: [EXTERNAL_KEY_STORE, AWS_CLOUDHSM]`);
  const id = `cks-${randomBytes(9).toString('hex').slice(0, 17)}`;
  const provisional = { id, name, type, account: ctx.account, region: ctx.region } as Store;
  const fail = (err: AwsError): never => {
    ctx.fleet.recordKeyStoreEvent(provisional, 'CreateCustomKeyStore', callerActor(ctx), { error: { code: err.code, message: err.message } });
    throw err;
  };
  if (nameInUse(ctx, name)) fail(new AwsError('CustomKeyStoreNameInUseException', `A custom key store named ${name} already exists in this account and Region.`));
  let spec: Record<string, unknown>;
  if (type === 'AWS_CLOUDHSM') {
    const clusterId = optionalString(input, 'CloudHsmClusterId', 19, 24);
    const password = optionalString(input, 'KeyStorePassword', 7, 32);
    const anchor = optionalString(input, 'TrustAnchorCertificate', 1, 5000);
    if (clusterId === undefined || password === undefined || anchor === undefined) fail(new AwsError('ValidationException', 'An AWS_CLOUDHSM key store needs CloudHsmClusterId, KeyStorePassword and TrustAnchorCertificate.'));
    const c = ctx.fleet.getCluster(clusterId!);
    if (!c || c.account !== ctx.account || c.region !== ctx.region) fail(new AwsError('CloudHsmClusterNotFoundException', `CloudHSM cluster ${clusterId} was not found.`));
    if (c!.state !== 'ACTIVE') fail(new AwsError('CloudHsmClusterNotActiveException', `CloudHSM cluster ${clusterId} is not active (state ${c!.state}).`));
    if (ctx.fleet.storesIn(ctx.account, ctx.region, false).some((s) => s.store.clusterId === clusterId)) fail(new AwsError('CloudHsmClusterInUseException', `CloudHSM cluster ${clusterId} is already associated with a custom key store.`));
    if (!PEM.test(anchor!)) fail(new AwsError('IncorrectTrustAnchorException', 'The trust anchor certificate is not the PEM-encoded certificate that signed the cluster certificate.'));
    spec = { clusterId, trustAnchorCertificate: anchor };
  } else {
    const uriEndpoint = optionalString(input, 'XksProxyUriEndpoint', 10, 128);
    const uriPath = optionalString(input, 'XksProxyUriPath', 10, 128);
    const connectivity = optionalString(input, 'XksProxyConnectivity', 1, 64);
    const vpce = optionalString(input, 'XksProxyVpcEndpointServiceName', 20, 64);
    const cred = credential(input);
    if (uriEndpoint === undefined || uriPath === undefined || connectivity === undefined || !cred) fail(new AwsError('ValidationException', 'An EXTERNAL_KEY_STORE key store needs XksProxyUriEndpoint, XksProxyUriPath, XksProxyConnectivity and XksProxyAuthenticationCredential.'));
    if (connectivity === 'VPC_ENDPOINT_SERVICE' && vpce === undefined) fail(new AwsError('XksProxyInvalidConfigurationException', 'XksProxyVpcEndpointServiceName is required for VPC_ENDPOINT_SERVICE connectivity.'));
    spec = { xks: { connectivity, uriEndpoint, uriPath, accessKeyId: cred!.AccessKeyId, ...(vpce && { vpcEndpointServiceName: vpce }) } };
  }
  const store = ctx.fleet.addStore(ctx.account, ctx.region, { id, name, type, state: 'DISCONNECTED', createdAt: new Date(ctx.fleet.now()).toISOString(), ...spec });
  ctx.fleet.recordKeyStoreEvent(store, 'CreateCustomKeyStore', callerActor(ctx));
  return { CustomKeyStoreId: id };
}

