// KMS (TrentService, AWS JSON 1.1): the custom key store operations keystore-watch uses, and the
// administration calls (./kms-admin.ts) that fire drills use to change a store the way people do.
import { randomBytes } from 'node:crypto';
import { AwsError } from '../errors.js';
import { injectedStatus } from '../faults.js';
import type { Fleet, Store } from '../fleet.js';
import { callerActor, createCustomKeyStore, deleteCustomKeyStore, updateCustomKeyStore } from './kms-admin.js';
import { applyOverrides, epochSeconds, optionalInt, optionalString, type Input, type Service, type ServiceContext } from './service.js';

/** Page size when the caller sends no Limit. */
const DEFAULT_LIMIT = 100;

const notFound = (what: string) => new AwsError('CustomKeyStoreNotFoundException', `Custom key store ${what} does not exist in this account and Region.`);

/** A CustomKeyStoresListEntry with every member that applies to the store's type. */
export function storeEntry(fleet: Fleet, s: Store): Record<string, unknown> {
  const e: Record<string, unknown> = {
    CustomKeyStoreId: s.id,
    CustomKeyStoreName: s.name,
    CustomKeyStoreType: s.type,
    ConnectionState: s.state,
    CreationDate: epochSeconds(s.createdAt),
  };
  if (s.state === 'FAILED' && s.errorCode) e.ConnectionErrorCode = s.errorCode;
  if (s.type === 'AWS_CLOUDHSM') {
    e.CloudHsmClusterId = s.clusterId;
    const pem = fleet.pem(s.trustAnchor, `keystore-watch simulator trust anchor ${s.id}`);
    if (pem) e.TrustAnchorCertificate = pem;
  } else if (s.xks) {
    e.XksProxyConfiguration = {
      Connectivity: s.xks.connectivity,
      AccessKeyId: s.xks.accessKeyId,
      UriEndpoint: s.xks.uriEndpoint,
      UriPath: s.xks.uriPath,
      ...(s.xks.vpcEndpointServiceName && { VpcEndpointServiceName: s.xks.vpcEndpointServiceName }),
    };
  }
  return applyOverrides(e, s.overrides);
}

/** A store of the caller's account and region, as a write operation sees it (never stale). */
function ownStore(ctx: ServiceContext, id: string): Store {
  const s = ctx.fleet.getStore(id);
  if (!s || s.account !== ctx.account || s.region !== ctx.region) throw notFound(id);
  return s;
}

function describeCustomKeyStores(input: Input, ctx: ServiceContext) {
  const id = optionalString(input, 'CustomKeyStoreId', 1, 64);
  const name = optionalString(input, 'CustomKeyStoreName', 1, 256);
  const limit = optionalInt(input, 'Limit', 1, 1000) ?? DEFAULT_LIMIT;
  const marker = optionalString(input, 'Marker', 1, 1024);
  if (id !== undefined && name !== undefined) {
    // Not a modeled error: KMS's request validation rejects the pair with a 400.
    throw new AwsError('ValidationException', 'You cannot specify both CustomKeyStoreId and CustomKeyStoreName. Specify one or neither.');
  }
  let stores = ctx.fleet.storesIn(ctx.account, ctx.region, ctx.stale);
  if (id !== undefined) {
    stores = stores.filter((s) => s.store.id === id);
    if (stores.length === 0) throw notFound(id);
  } else if (name !== undefined) {
    stores = stores.filter((s) => s.store.name === name);
    if (stores.length === 0) throw notFound(`named ${name}`);
  }
  const scope = `kms/${ctx.account}/${ctx.region}`;
  if (marker !== undefined) {
    const after = ctx.fleet.readMarker(scope, marker);
    if (after === undefined) throw new AwsError('InvalidMarkerException', 'The request was rejected because the marker that specifies where pagination should next begin is not valid.');
    // Positions, not indexes: a store deleted between two pages shifts nothing.
    stores = stores.filter((s) => s.seq > after);
  }
  const page = stores.slice(0, limit);
  const truncated = stores.length > limit;
  return {
    CustomKeyStores: page.map((s) => storeEntry(ctx.fleet, s.store)),
    ...(truncated && { NextMarker: ctx.fleet.marker(scope, page[page.length - 1]!.seq) }),
    Truncated: truncated,
  };
}

function generateRandom(input: Input, ctx: ServiceContext) {
  const n = optionalInt(input, 'NumberOfBytes', 1, 1024);
  const id = optionalString(input, 'CustomKeyStoreId', 1, 64);
  if (n === undefined) throw new AwsError('ValidationException', 'NumberOfBytes is required.');
  if (id !== undefined) {
    const s = ownStore(ctx, id);
    if (s.type !== 'AWS_CLOUDHSM') throw new AwsError('UnsupportedOperationException', `GenerateRandom is not supported for external key store ${id}.`);
    if (s.state !== 'CONNECTED') throw new AwsError('CustomKeyStoreInvalidStateException', `Custom key store ${id} has a ConnectionState of ${s.state}; it must be CONNECTED.`);
    if (s.probeFailure) throw new AwsError(s.probeFailure, `GenerateRandom failed in the CloudHSM cluster of custom key store ${id}.`, injectedStatus('kms', s.probeFailure));
    // CONNECTED says nothing about the cluster now: the bytes come from an ACTIVE HSM of the store's cluster.
    // With none (cluster deleted, or every HSM gone or not ACTIVE) KMS cannot serve the call; AWS documents
    // no error specific to this case, and of GenerateRandom's modeled errors the retryable
    // KMSInternalException (500) is what an unreachable backend surfaces as.
    const cluster = ctx.fleet.getCluster(s.clusterId!);
    const usable = cluster && cluster.account === s.account && cluster.region === s.region && cluster.hsms.some((h) => h.state === 'ACTIVE');
    if (!usable) throw new AwsError('KMSInternalException', `KMS could not reach an active HSM in the CloudHSM cluster associated with custom key store ${id}.`, 500);
  }
  return { Plaintext: randomBytes(n).toString('base64') };
}

/**
 * ConnectCustomKeyStore and DisconnectCustomKeyStore: a required store id of the caller's, then the state
 * machine. CloudTrail records the call with the caller's identity, with errorCode/errorMessage when it fails.
 */
function stateChange(eventName: 'ConnectCustomKeyStore' | 'DisconnectCustomKeyStore', change: (fleet: Fleet, id: string) => void) {
  return (input: Input, ctx: ServiceContext) => {
    const id = optionalString(input, 'CustomKeyStoreId', 1, 64);
    if (id === undefined) throw new AwsError('ValidationException', "1 validation error detected: Value null at 'customKeyStoreId' failed to satisfy constraint: Member must not be null");
    const store = ownStore(ctx, id);
    try {
      change(ctx.fleet, id);
    } catch (err) {
      if (err instanceof AwsError) ctx.fleet.recordKeyStoreEvent(store, eventName, callerActor(ctx), { error: { code: err.code, message: err.message } });
      throw err;
    }
    ctx.fleet.recordKeyStoreEvent(ctx.fleet.getStore(id) ?? store, eventName, callerActor(ctx));
    return {};
  };
}

export const kms: Service = {
  name: 'kms',
  messageKey: 'message',
  operations: {
    DescribeCustomKeyStores: describeCustomKeyStores,
    GenerateRandom: generateRandom,
    ConnectCustomKeyStore: stateChange('ConnectCustomKeyStore', (fleet, id) => fleet.connect(id)),
    DisconnectCustomKeyStore: stateChange('DisconnectCustomKeyStore', (fleet, id) => fleet.disconnect(id)),
    CreateCustomKeyStore: createCustomKeyStore,
    UpdateCustomKeyStore: updateCustomKeyStore,
    DeleteCustomKeyStore: deleteCustomKeyStore,
  },
};
