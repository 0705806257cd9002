// CloudHSM v2 (BaldrApiService, AWS JSON 1.1): DescribeClusters.
import { AwsError } from '../errors.js';
import type { Cluster, Fleet } from '../fleet.js';
import { applyOverrides, epochSeconds, optionalInt, optionalString, type Input, type Service, type ServiceContext } from './service.js';

const CERT_MEMBERS = {
  clusterCsr: 'ClusterCsr',
  hsmCertificate: 'HsmCertificate',
  awsHardwareCertificate: 'AwsHardwareCertificate',
  manufacturerHardwareCertificate: 'ManufacturerHardwareCertificate',
  clusterCertificate: 'ClusterCertificate',
} as const;
const CERT_MEMBER_ENTRIES = Object.entries(CERT_MEMBERS) as [keyof typeof CERT_MEMBERS, string][];

export function clusterEntry(fleet: Fleet, c: Cluster): Record<string, unknown> {
  const certificates: Record<string, string> = {};
  for (const [name, member] of CERT_MEMBER_ENTRIES) {
    const pem = fleet.pem(c.certificates[name], `keystore-watch simulator ${name} ${c.id}`);
    if (pem) certificates[member] = pem;
  }
  const e: Record<string, unknown> = {
    BackupPolicy: 'DEFAULT',
    BackupRetentionPolicy: { Type: 'DAYS', Value: '90' },
    ClusterId: c.id,
    CreateTimestamp: epochSeconds(c.createdAt),
    HsmType: c.hsmType,
    Hsms: c.hsms.map((h) => ({
      AvailabilityZone: h.az,
      ClusterId: c.id,
      SubnetId: h.subnetId,
      EniId: h.eniId,
      EniIp: h.eniIp,
      HsmId: h.id,
      HsmType: c.hsmType,
      State: h.state,
      ...(h.stateMessage && { StateMessage: h.stateMessage }),
    })),
    Mode: 'FIPS',
    NetworkType: 'IPV4',
    SecurityGroup: c.securityGroup,
    State: c.state,
    ...(c.stateMessage && { StateMessage: c.stateMessage }),
    SubnetMapping: c.subnets,
    VpcId: c.vpcId,
    TagList: [],
  };
  if (Object.keys(certificates).length > 0) e.Certificates = certificates;
  return applyOverrides(e, c.overrides);
}

const FILTER_KEYS = new Set(['clusterIds', 'vpcIds', 'states']);
const invalid = (message: string) => new AwsError('CloudHsmInvalidRequestException', message);

function stringList(filters: Record<string, unknown>, key: string): string[] | undefined {
  const v = filters[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new AwsError('SerializationException', `Unexpected value type for Filters.${key}`);
  return v as string[];
}

function describeClusters(input: Input, ctx: ServiceContext) {
  const max = optionalInt(input, 'MaxResults', 1, 25);
  const token = optionalString(input, 'NextToken', 0, 256);
  const filters = input.Filters ?? {};
  if (typeof filters !== 'object' || Array.isArray(filters)) throw new AwsError('SerializationException', 'Unexpected value type for Filters');
  for (const key of Object.keys(filters)) {
    if (!FILTER_KEYS.has(key)) throw invalid(`Invalid filter key: ${key}. Valid filter keys are clusterIds, vpcIds and states.`);
  }
  const f = filters as Record<string, unknown>;
  const ids = stringList(f, 'clusterIds');
  const vpcs = stringList(f, 'vpcIds');
  const states = stringList(f, 'states');
  let clusters = ctx.fleet.clustersIn(ctx.account, ctx.region, ctx.stale).filter(({ cluster: c }) =>
    (!ids || ids.includes(c.id)) && (!vpcs || vpcs.includes(c.vpcId)) && (!states || states.includes(c.state)));
  const scope = `cloudhsm/${ctx.account}/${ctx.region}`;
  if (token) {
    const after = ctx.fleet.readMarker(scope, token);
    if (after === undefined) throw invalid('The NextToken is not valid.');
    clusters = clusters.filter((c) => c.seq > after);
  }
  const page = max === undefined ? clusters : clusters.slice(0, max);
  const more = page.length < clusters.length;
  return {
    Clusters: page.map((c) => clusterEntry(ctx.fleet, c.cluster)),
    ...(more && { NextToken: ctx.fleet.marker(scope, page[page.length - 1]!.seq) }),
  };
}

export const cloudhsm: Service = {
  name: 'cloudhsm',
  messageKey: 'Message',
  operations: { DescribeClusters: describeClusters },
};
