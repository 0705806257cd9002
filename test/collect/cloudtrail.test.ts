// The pure parts of "who changed it": change detection, identity classification, event parsing and
// matching, and the request parameters that may be shown (never a credential or a password).
import type { Event as TrailEvent } from '@aws-sdk/client-cloudtrail';
import { describe, expect, it } from 'vitest';
import { classifyIdentity, detectChanges, firstSightChanges, matchEvent, parseEvent, safeParameters } from '../../src/collect/cloudtrail.js';
import type { StoreRecord } from '../../src/model.js';

const store = (id: string, over: Partial<StoreRecord> = {}) => ({
  id, state: 'CONNECTED', name: id, clusterId: null, trustAnchorSha256: null, createdAt: 0,
  xks: { connectivity: 'PUBLIC_ENDPOINT', uriEndpoint: 'https://x', uriPath: '/kms/xks/v1', vpcEndpointServiceName: null, accessKeyIdLast4: 'ABCD' },
  ...over,
}) as Pick<StoreRecord, 'id' | 'state' | 'name' | 'clusterId' | 'xks' | 'trustAnchorSha256' | 'createdAt'>;

describe('detectChanges', () => {
  it('DISCONNECTED, CONNECTING, created, deleted, configuration (a rotated credential included)', () => {
    const prev = [store('a'), store('b', { state: 'DISCONNECTED' }), store('c'), store('gone'), store('d')];
    const next = [
      store('a', { state: 'DISCONNECTED' }), store('b', { state: 'CONNECTING' }), store('c', { name: 'renamed' }), store('new', { state: 'DISCONNECTED' }),
      store('d', { xks: { ...store('d').xks!, accessKeyIdLast4: 'WXYZ' } }),
    ];
    expect(detectChanges(prev, next, true)).toEqual([
      { storeId: 'a', change: 'DISCONNECTED' },
      { storeId: 'b', change: 'CONNECTING' },
      { storeId: 'c', change: 'configuration' },
      { storeId: 'new', change: 'created' },
      { storeId: 'd', change: 'configuration' },
      { storeId: 'gone', change: 'deleted' },
    ]);
  });

  it('nothing without a baseline, and DISCONNECTED -> DISCONNECTING is not a new disconnect', () => {
    expect(detectChanges([], [store('a')], false)).toEqual([]);
    expect(detectChanges([store('a', { state: 'DISCONNECTING' })], [store('a', { state: 'DISCONNECTED' })], true)).toEqual([]);
  });

  it('first sight: only DISCONNECTED stores are looked up', () => {
    expect(firstSightChanges([store('a'), store('b', { state: 'DISCONNECTED' })])).toEqual([{ storeId: 'b', change: 'DISCONNECTED' }]);
  });
});

describe('classifyIdentity', () => {
  it.each([
    [{ type: 'IAMUser', arn: 'arn:aws:iam::1:user/alice' }, 'person'],
    [{ type: 'Root', arn: 'arn:aws:iam::1:root' }, 'person'],
    [{ type: 'AssumedRole', arn: 'arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_abc/alice' }, 'person'],
    [{ type: 'AssumedRole', arn: 'arn:aws:sts::1:assumed-role/Admin/alice@example.com' }, 'person'],
    [{ type: 'AssumedRole', arn: 'arn:aws:sts::1:assumed-role/Deployer/i-0abc' }, 'role'],
    [{ type: 'AWSService', invokedBy: 'cloudformation.amazonaws.com' }, 'service'],
    [{ type: 'AssumedRole', arn: 'arn:aws:sts::1:assumed-role/X/y', invokedBy: 'cloudformation.amazonaws.com' }, 'service'],
  ])('%j is a %s', (id, kind) => {
    expect(classifyIdentity(id)).toBe(kind);
  });
});

describe('safeParameters', () => {
  it('drops credentials and passwords at any depth, keeps the rest, redacts secret shapes', () => {
    const out = safeParameters({
      customKeyStoreId: 'cks-1',
      newCustomKeyStoreName: 'orders',
      xksProxyAuthenticationCredential: { accessKeyId: 'AKIAEXAMPLE123456789', rawSecretAccessKey: 'very-secret-value-0123456789' },
      XksProxyAuthenticationCredential: 'x',
      keyStorePassword: 'kmsuser-password',
      nested: { password: 'p', keep: 'k' },
    });
    expect(out).toEqual({ customKeyStoreId: 'cks-1', newCustomKeyStoreName: 'orders', nested: '{"keep":"k"}' });
    expect(JSON.stringify(out)).not.toMatch(/secret|password|AKIA/i);
  });
});

describe('parseEvent / matchEvent', () => {
  const ev = (name: string, storeId: string, time: number, extra: Record<string, unknown> = {}): TrailEvent => ({
    EventId: `e-${name}-${storeId}-${time}`, EventName: name, EventTime: new Date(time),
    CloudTrailEvent: JSON.stringify({
      userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::111111111111:user/alice' }, sourceIPAddress: '203.0.113.7', userAgent: 'aws-cli/2',
      requestParameters: { customKeyStoreId: storeId }, ...extra,
    }),
  });

  it('names the principal, source and time; matches by name, store and window; skips failed calls', () => {
    const events = [
      ev('DisconnectCustomKeyStore', 'cks-1', 1_000),
      ev('DisconnectCustomKeyStore', 'cks-1', 5_000),
      ev('DisconnectCustomKeyStore', 'cks-1', 6_000, { errorCode: 'CustomKeyStoreInvalidStateException' }),
      ev('ConnectCustomKeyStore', 'cks-1', 5_500),
      ev('DisconnectCustomKeyStore', 'cks-2', 5_200),
      ev('DisconnectCustomKeyStore', 'cks-1', 90_000),
    ].map((e) => parseEvent(e)!);
    const m = matchEvent(events, 'cks-1', 'DISCONNECTED', 0, 10_000)!;
    expect(m.actor).toMatchObject({ principal: 'arn:aws:iam::111111111111:user/alice', kind: 'person', identityType: 'IAMUser', source: '203.0.113.7', eventTime: 5_000, eventName: 'DisconnectCustomKeyStore' });
    expect(matchEvent(events, 'cks-3', 'DISCONNECTED', 0, 10_000)).toBeNull();
    expect(matchEvent(events, 'cks-1', 'deleted', 0, 10_000)).toBeNull();
  });

  it('CreateCustomKeyStore names the store only in responseElements', () => {
    const e = parseEvent({ EventId: 'x', EventName: 'CreateCustomKeyStore', EventTime: new Date(1000), CloudTrailEvent: JSON.stringify({ userIdentity: { type: 'AWSService', invokedBy: 'cloudformation.amazonaws.com' }, requestParameters: { customKeyStoreName: 'n' }, responseElements: { customKeyStoreId: 'cks-9' } }) })!;
    expect(matchEvent([e], 'cks-9', 'created', 0, 2000)?.actor).toMatchObject({ kind: 'service', principal: 'cloudformation.amazonaws.com' });
  });
});
