// FIPS endpoints only where AWS runs them: the table (fips.ts) and the clients AwsClients builds, resolved
// by the real SDK's endpoint rules (no request is sent).
import { describe, expect, it } from 'vitest';
import { AwsClients } from '../../src/collect/aws-clients.js';
import { endpointVariant, hasFipsEndpoint } from '../../src/collect/fips.js';
import { parseConfig } from '../../src/config/load.js';

type Resolvable = { config: { endpointProvider: (p: Record<string, unknown>) => { url: URL }; useFipsEndpoint: () => Promise<boolean>; useDualstackEndpoint: () => Promise<boolean>; region: () => Promise<string> } };

/** The host the SDK would call with the client's own settings. */
async function host(client: unknown): Promise<string> {
  const c = (client as Resolvable).config;
  const region = await c.region();
  return c.endpointProvider({ Region: region, UseFIPS: await c.useFipsEndpoint(), UseDualStack: await c.useDualstackEndpoint() }).url.host;
}

function clients(useFipsEndpoint: boolean | null, homeRegion = 'us-east-1') {
  // sdkThreads 0: the test reads the configuration of the clients lent on this thread. With threads, the
  // same AwsClients code builds them on the thread (sdk-thread-main.ts) from the same aws settings.
  const config = parseConfig({ accounts: [{ id: '111111111111' }], regions: [homeRegion], aws: { useFipsEndpoint, homeRegion, sdkThreads: 0 } }, 't.yaml', {});
  return new AwsClients({ aws: config.aws, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' } });
}

const own = { roleArn: null, externalId: null };

describe('FIPS endpoint table', () => {
  it('KMS in every commercial and GovCloud region, not in China', () => {
    for (const r of ['us-east-1', 'eu-west-1', 'me-central-1', 'af-south-1', 'us-gov-west-1']) expect(hasFipsEndpoint('kms', r), r).toBe(true);
    expect(hasFipsEndpoint('kms', 'cn-north-1')).toBe(false);
  });

  it('CloudHSM only where verified, as dual-stack names; STS only in US regions', () => {
    expect(endpointVariant('cloudhsmv2', 'us-east-1', true)).toEqual({ useFipsEndpoint: true, useDualstackEndpoint: true });
    expect(endpointVariant('cloudhsmv2', 'eu-west-1', true)).toEqual({ useFipsEndpoint: false, useDualstackEndpoint: false });
    expect(hasFipsEndpoint('sts', 'us-west-2')).toBe(true);
    expect(hasFipsEndpoint('sts', 'eu-west-1')).toBe(false);
    expect(endpointVariant('kms', 'us-east-1', false)).toEqual({ useFipsEndpoint: false, useDualstackEndpoint: false });
  });
});

describe('clients follow the table', () => {
  it('with useFipsEndpoint: true, each service uses FIPS only where it exists', async () => {
    const c = clients(true);
    try {
      const kmsHost = (region: string) => c.withKms({ region, ...own }, (k) => host(k));
      const hsmHost = (region: string) => c.withCloudHsm({ region, ...own }, (k) => host(k));
      expect(await kmsHost('eu-west-1')).toBe('kms-fips.eu-west-1.amazonaws.com');
      expect(await kmsHost('me-central-1')).toBe('kms-fips.me-central-1.amazonaws.com');
      expect(await hsmHost('us-east-1')).toBe('cloudhsmv2-fips.us-east-1.api.aws');
      expect(await hsmHost('eu-west-1')).toBe('cloudhsmv2.eu-west-1.amazonaws.com');
      expect(await host(c.organizations())).toBe('organizations-fips.us-east-1.amazonaws.com');
      expect(await host(c.account(own))).toBe('account.us-east-1.amazonaws.com');
      expect(await host((c as unknown as { sts(): unknown }).sts())).toBe('sts-fips.us-east-1.amazonaws.com');
    } finally {
      c.close();
    }
  });

  it('STS outside the US stays on the standard endpoint; false turns FIPS off everywhere', async () => {
    const eu = clients(true, 'eu-west-1');
    const off = clients(false);
    try {
      expect(await host((eu as unknown as { sts(): unknown }).sts())).toBe('sts.eu-west-1.amazonaws.com');
      expect(await off.withKms({ region: 'us-east-1', ...own }, (k) => host(k))).toBe('kms.us-east-1.amazonaws.com');
    } finally {
      eu.close();
      off.close();
    }
  });
});
