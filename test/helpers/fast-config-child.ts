// Run by test/collect/fast-config.test.ts as
//   node --allow-natives-syntax --import tsx test/helpers/fast-config-child.ts
// Prints, as JSON, whether each SDK client's resolved configuration has V8 fast properties as the SDK
// builds it and after withFastConfig, and for the clients AwsClients lends.
import { KMSClient } from '@aws-sdk/client-kms';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { STSClient } from '@aws-sdk/client-sts';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { AccountClient } from '@aws-sdk/client-account';
import { withFastConfig } from '../../src/collect/fast-config.js';
import { AwsClients } from '../../src/collect/aws-clients.js';
import { parseConfig } from '../../src/config/load.js';

// V8's own check, available only under --allow-natives-syntax (hence a child process).
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

const opts = { region: 'us-east-1', credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'x' } };
const out: Record<string, unknown> = {};
for (const [name, C] of Object.entries({ KMSClient, CloudWatchClient, CloudTrailClient, STSClient, OrganizationsClient, AccountClient })) {
  const built = new (C as new (o: typeof opts) => { config: object })(opts);
  const before = hasFastProperties(built.config);
  out[name] = { built: before, withFastConfig: hasFastProperties(withFastConfig(built).config) };
}
const config = parseConfig({ accounts: [{ id: '111111111111' }], regions: ['us-east-1'], aws: { endpoint: 'http://127.0.0.1:9', sdkThreads: 0 } }, 'test', {});
const clients = new AwsClients({ aws: config.aws, credentials: opts.credentials });
const target = { region: 'us-east-1', roleArn: null, externalId: null };
out.lent = {
  kms: await clients.withKms(target, async (c) => hasFastProperties(c.config)),
  cloudwatch: await clients.withCloudWatch(target, async (c) => hasFastProperties(c.config)),
  cloudtrail: await clients.withCloudTrail(target, async (c) => hasFastProperties(c.config)),
};
clients.close();
process.stdout.write(JSON.stringify(out));
