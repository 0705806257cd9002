// Where AWS has a FIPS endpoint, per service and region. The SDK does not know: with useFipsEndpoint it
// builds "<service>-fips.<region>.<suffix>" for any region, and where AWS runs no such host every call
// fails with a DNS error. So keystore-watch asks for FIPS only where the endpoint exists and uses the
// standard endpoint elsewhere (README "FIPS endpoints" has the same table).
//
// Sources (AWS General Reference, "<service> endpoints and quotas", and the endpoint test cases in the
// Smithy models under ../shared/reference/aws-models, which list the real FIPS hosts):
//  - KMS: kms-fips.<region>.amazonaws.com in every commercial region (opt-in ones included) and both
//    GovCloud regions.
//  - CloudHSM v2: FIPS hosts only as dual-stack names, cloudhsmv2-fips.<region>.api.aws, and only in
//    some regions: us-east-1 and us-east-2 were verified; other regions use the standard endpoint.
//  - STS: sts-fips.<region>.amazonaws.com in the four US commercial regions; in GovCloud the standard
//    STS endpoints are the FIPS ones (the SDK resolves them so).
//  - Organizations: organizations-fips.us-east-1.amazonaws.com; GovCloud: organizations.us-gov-west-1.
//  - Account: no FIPS host verified; the standard endpoint.
//  - CloudWatch, CloudTrail: monitoring-fips / cloudtrail-fips in the four US commercial regions.
import { partitionOfRegion } from '../config/partitions.js';

export type FipsService = 'kms' | 'cloudhsmv2' | 'sts' | 'organizations' | 'account' | 'cloudwatch' | 'cloudtrail';

const US_COMMERCIAL = new Set(['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2']);
const GOVCLOUD = new Set(['us-gov-east-1', 'us-gov-west-1']);

export interface EndpointVariant {
  useFipsEndpoint: boolean;
  /** CloudHSM's FIPS hosts are dual-stack names only. */
  useDualstackEndpoint?: boolean;
}

/** True when AWS has a FIPS endpoint for the service in the region. */
export function hasFipsEndpoint(service: FipsService, region: string): boolean {
  switch (service) {
    case 'kms': {
      const p = partitionOfRegion(region)?.name;
      return p === 'aws' || p === 'aws-us-gov';
    }
    case 'cloudhsmv2': return region === 'us-east-1' || region === 'us-east-2';
    case 'sts': return US_COMMERCIAL.has(region) || GOVCLOUD.has(region);
    case 'organizations': return region === 'us-east-1' || region === 'us-gov-west-1';
    case 'account': return false;
    // monitoring-fips.<region> and cloudtrail-fips.<region> in the four US commercial regions (verified); elsewhere the standard endpoint.
    case 'cloudwatch':
    case 'cloudtrail': return US_COMMERCIAL.has(region);
  }
}

/**
 * The endpoint settings of one client. `wanted` is the operator's choice (aws.useFipsEndpoint, else the
 * SDK's AWS_USE_FIPS_ENDPOINT / use_fips_endpoint); `dualstack` the SDK's dual-stack setting.
 */
export function endpointVariant(service: FipsService, region: string, wanted: boolean, dualstack = false): EndpointVariant {
  if (!wanted || !hasFipsEndpoint(service, region)) return { useFipsEndpoint: false, useDualstackEndpoint: dualstack };
  return { useFipsEndpoint: true, useDualstackEndpoint: service === 'cloudhsmv2' ? true : dualstack };
}
