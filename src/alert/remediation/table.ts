// The remediation table: what each finding means and what on-call does about it. This is data, not
// logic: guidance.ts fills the command templates with the alert's ids, and runbooks.ts renders the
// same entries into docs/runbooks.md, so Slack, PagerDuty, the console and the runbooks can never
// disagree. Text is the project's own wording of the facts in the AWS KMS and CloudHSM guides.
//
// Template placeholders (commands only; guidance.ts shell-quotes every value it fills in):
//   {storeId} {region} {accountId} {clusterId} {az} {az2} {hsmId} {roleArn} {action} {dnsSuffix}
// ({dnsSuffix} is the partition's: amazonaws.com, amazonaws.com.cn in China.)
// Values only the operator knows are written as shell variables ("$NEW_CLUSTER_ID"), so a command
// can be pasted after exporting them and passwords never land in the shell history.
//
// Text fields may use `backticks` for inline code: every renderer shows them as code or verbatim.
import type { ConnectionErrorCodeType } from '@aws-sdk/client-kms';
import type { Condition } from '../../model.js';

export type KnownStoreType = 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE';
export const KNOWN_STORE_TYPES: readonly KnownStoreType[] = ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'];
/** How store types are named in titles and runbook headings: "INVALID_CREDENTIALS (CloudHSM)". */
export const STORE_TYPE_LABEL: Record<KnownStoreType, string> = { AWS_CLOUDHSM: 'CloudHSM', EXTERNAL_KEY_STORE: 'external' };

export interface DocLink {
  title: string;
  url: string;
}

export interface GuidanceTemplate {
  /** One line: what happened and what it means for the keys. */
  summary: string;
  /** The likely cause, in a sentence or two. */
  cause: string;
  /** Ordered steps; the commands below are referenced in the same order. */
  steps: string[];
  /** AWS CLI (or shell) command templates, in the order they are run. */
  commands: string[];
  docs: DocLink[];
}

export const DOCS = {
  fixKeystore: { title: 'AWS KMS: Troubleshooting a custom key store', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html' },
  fixFailed: { title: 'AWS KMS: How to fix a connection failure', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html#fix-keystore-failed' },
  kmsuserLogout: { title: 'AWS KMS: How to log out and reconnect (kmsuser)', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html#login-kmsuser-2' },
  xksTroubleshooting: { title: 'AWS KMS: Troubleshooting external key stores', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/xks-troubleshooting.html' },
  disconnect: { title: 'AWS KMS: Connecting and disconnecting a custom key store', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/disconnect-keystore.html' },
  listEntry: { title: 'AWS KMS API: CustomKeyStoresListEntry (ConnectionState, ConnectionErrorCode)', url: 'https://docs.aws.amazon.com/kms/latest/APIReference/API_CustomKeyStoresListEntry.html' },
  xksRequirements: { title: 'AWS KMS: External key store prerequisites', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/create-xks-keystore.html#xks-requirements' },
  endpointService: { title: 'Amazon VPC: Create an endpoint service', url: 'https://docs.aws.amazon.com/vpc/latest/privatelink/create-endpoint-service.html' },
  verifyDomains: { title: 'Amazon VPC: Verify the private DNS name of an endpoint service', url: 'https://docs.aws.amazon.com/vpc/latest/privatelink/verify-domains.html' },
  cloudHsmClusters: { title: 'AWS CloudHSM: Clusters', url: 'https://docs.aws.amazon.com/cloudhsm/latest/userguide/clusters.html' },
  cloudHsmSecurityGroup: { title: 'AWS CloudHSM: Cluster security group', url: 'https://docs.aws.amazon.com/cloudhsm/latest/userguide/configure-sg.html' },
  cloudHsmInitialize: { title: 'AWS CloudHSM: Initialize the cluster (trust anchor, cluster certificate)', url: 'https://docs.aws.amazon.com/cloudhsm/latest/userguide/initialize-cluster.html' },
  createHsm: { title: 'AWS CloudHSM API: CreateHsm', url: 'https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_CreateHsm.html' },
  describeClusters: { title: 'AWS CloudHSM API: DescribeClusters', url: 'https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_DescribeClusters.html' },
  clusterState: { title: 'AWS CloudHSM API: Cluster (State values)', url: 'https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_Cluster.html' },
  hsmState: { title: 'AWS CloudHSM API: Hsm (State values)', url: 'https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_Hsm.html' },
  generateRandom: { title: 'AWS KMS API: GenerateRandom (required permissions)', url: 'https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html' },
  kmsIam: { title: 'AWS KMS: Permissions reference', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html' },
  scp: { title: 'AWS Organizations: Service control policies (SCPs)', url: 'https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html' },
  xksMonitoring: { title: 'AWS KMS: Monitoring an external key store', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/xks-monitoring.html' },
  kmsCloudWatch: { title: 'AWS KMS: Monitoring with Amazon CloudWatch (external key store metrics)', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/monitoring-cloudwatch.html' },
  updateXks: { title: 'AWS KMS: Edit external key store properties (proxy authentication credential)', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/update-xks-keystore.html' },
  xksCredential: { title: 'AWS KMS: External key store proxy authentication credential', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/keystore-external.html#concept-xks-credential' },
  kmsQuotas: { title: 'AWS KMS: Request quotas (custom key store request quota)', url: 'https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html#rps-key-stores' },
  cloudHsmMetrics: { title: 'AWS CloudHSM: CloudWatch metrics (HsmUnhealthy)', url: 'https://docs.aws.amazon.com/cloudhsm/latest/userguide/hsm-metrics-cw.html' },
  scpRegions: { title: 'AWS Organizations: Deny access to AWS based on the requested Region (example SCP)', url: 'https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples_general.html' },
} as const satisfies Record<string, DocLink>;

// Command templates used by many entries.
const DISCONNECT = 'aws kms disconnect-custom-key-store --custom-key-store-id {storeId} --region {region}';
const CONNECT = 'aws kms connect-custom-key-store --custom-key-store-id {storeId} --region {region}';
const DESCRIBE = 'aws kms describe-custom-key-stores --custom-key-store-id {storeId} --region {region}';
const DESCRIBE_CLUSTER = 'aws cloudhsmv2 describe-clusters --filters clusterIds={clusterId} --region {region}';
const DESCRIBE_BACKUPS = 'aws cloudhsmv2 describe-backups --filters clusterIds={clusterId} --region {region}';
const CREATE_HSM = 'aws cloudhsmv2 create-hsm --cluster-id {clusterId} --availability-zone {az} --region {region}';
const SUBNET_ROOM = `aws ec2 describe-subnets --subnet-ids "$SUBNET_ID" --query 'Subnets[].[SubnetId,AvailabilityZone,AvailableIpAddressCount]' --region {region}`;
const RESTORE_CLUSTER = 'aws cloudhsmv2 create-cluster --hsm-type "$HSM_TYPE" --subnet-ids "$SUBNET_ID_1" "$SUBNET_ID_2" --source-backup-id "$BACKUP_ID" --region {region}';
const CREATE_HSM_NEW_CLUSTER = 'aws cloudhsmv2 create-hsm --cluster-id "$NEW_CLUSTER_ID" --availability-zone "$AVAILABILITY_ZONE" --region {region}';
const UPDATE_CLUSTER = 'aws kms update-custom-key-store --custom-key-store-id {storeId} --cloud-hsm-cluster-id "$NEW_CLUSTER_ID" --region {region}';
const UPDATE_PASSWORD = 'aws kms update-custom-key-store --custom-key-store-id {storeId} --key-store-password "$KMSUSER_PASSWORD" --region {region}';
const UPDATE_XKS_CREDENTIAL = 'aws kms update-custom-key-store --custom-key-store-id {storeId} --xks-proxy-authentication-credential AccessKeyId="$XKS_ACCESS_KEY_ID",RawSecretAccessKey="$XKS_SECRET_ACCESS_KEY" --region {region}';
const XKS_SETTINGS = `aws kms describe-custom-key-stores --custom-key-store-id {storeId} --query 'CustomKeyStores[].XksProxyConfiguration' --region {region}`;
const VPC_SERVICE = 'aws ec2 describe-vpc-endpoint-service-configurations --filters Name=service-name,Values="$VPC_ENDPOINT_SERVICE_NAME" --region {region}';
const VPC_PERMISSIONS = 'aws ec2 describe-vpc-endpoint-service-permissions --service-id "$VPC_ENDPOINT_SERVICE_ID" --region {region}';
const TLS_CHECK = 'openssl s_client -connect "$XKS_PROXY_HOST:443" -servername "$XKS_PROXY_HOST" </dev/null | openssl x509 -noout -subject -issuer -dates';
const XKS_METRIC = (name: string) => `aws cloudwatch list-metrics --namespace AWS/KMS --metric-name ${name} --dimensions Name=CustomKeyStoreId,Value={storeId} --region {region}`;
const XKS_ERRORS_NOW = `aws cloudwatch get-metric-statistics --namespace AWS/KMS --metric-name XksProxyErrors --dimensions Name=CustomKeyStoreId,Value={storeId} --statistics Sum --period 300 --start-time "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --region {region}`;
const DISCONNECT_EVENTS = 'aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=DisconnectCustomKeyStore --max-results 5 --region {region}';

const FAILED_FINISH = 'Connect the key store again, then watch it: it goes CONNECTING and should reach CONNECTED (CloudHSM stores can take up to about 20 minutes, external stores about 5). If it returns to FAILED, read the new error code.';
const FAILED_FINISH_XKS = 'Connect the key store again, then watch it: it goes CONNECTING and should reach CONNECTED within about 5 minutes. If it returns to FAILED, read the new error code.';
const DISCONNECT_FIRST = 'Disconnect the key store: a FAILED store cannot be connected again until it is DISCONNECTED. Its KMS keys are unusable until it is CONNECTED again either way.';

/**
 * FAILED, refined by ConnectionErrorCode and store type. Keys are the SDK's enum values, so adding
 * one to the SDK without a row here fails the type check, and test/alert/remediation.test.ts
 * checks every value at run time too.
 */
export const ERROR_CODE_GUIDANCE: Record<ConnectionErrorCodeType, Partial<Record<KnownStoreType, GuidanceTemplate>>> = {
  INTERNAL_ERROR: {
    AWS_CLOUDHSM: {
      summary: 'KMS hit an internal error while connecting the CloudHSM key store; its keys are unusable until it reconnects.',
      cause: 'A fault inside AWS KMS, not in your cluster or configuration. It is usually transient.',
      steps: [
        DISCONNECT_FIRST,
        'Check that the cluster is ACTIVE and has at least one ACTIVE HSM, so a fresh attempt is not doomed for another reason.',
        FAILED_FINISH,
        'If the same error comes back after a couple of attempts, open an AWS Support case with the key store id, region and the time of the failure.',
      ],
      commands: [DISCONNECT, DESCRIBE_CLUSTER, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.listEntry],
    },
    EXTERNAL_KEY_STORE: {
      summary: 'KMS hit an internal error while connecting the external key store; its keys are unusable until it reconnects.',
      cause: 'A fault inside AWS KMS, not in your proxy or external key manager. It is usually transient.',
      steps: [
        DISCONNECT_FIRST,
        FAILED_FINISH_XKS,
        'If the same error comes back after a couple of attempts, open an AWS Support case with the key store id, region and the time of the failure.',
      ],
      commands: [DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.xksTroubleshooting, DOCS.listEntry],
    },
  },
  NETWORK_ERRORS: {
    AWS_CLOUDHSM: {
      summary: 'KMS could not reach the CloudHSM cluster over the network; the key store is FAILED and its keys are unusable.',
      cause: 'Network trouble between KMS and the HSMs in the cluster VPC: often transient, otherwise a security group, network ACL or route that blocks the traffic.',
      steps: [
        DISCONNECT_FIRST,
        'Wait a few minutes; most network errors clear by themselves.',
        FAILED_FINISH,
        'If it fails again: check that the cluster security group (shown by describe-clusters) still allows traffic between the HSM network interfaces, and that no network ACL or route table change in the cluster subnets blocks it.',
      ],
      commands: [DISCONNECT, DESCRIBE_CLUSTER, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.cloudHsmSecurityGroup],
    },
    EXTERNAL_KEY_STORE: {
      summary: 'KMS could not reach the external key store proxy over the network; the key store is FAILED and its keys are unusable.',
      cause: 'Network trouble on the path from KMS to the XKS proxy (internet endpoint or VPC endpoint service), often transient.',
      steps: [
        DISCONNECT_FIRST,
        'Wait a few minutes; most network errors clear by themselves.',
        FAILED_FINISH_XKS,
        'If it fails again: check that the proxy answers on port 443 at its endpoint, and for VPC connectivity that the endpoint service, its load balancer and targets are healthy.',
      ],
      commands: [DISCONNECT, XKS_SETTINGS, CONNECT, DESCRIBE],
      docs: [DOCS.xksTroubleshooting, DOCS.listEntry],
    },
  },
  CLUSTER_NOT_FOUND: {
    AWS_CLOUDHSM: {
      summary: 'KMS cannot find the CloudHSM cluster behind the key store; its keys are unusable until the store points at a working related cluster.',
      cause: 'The cluster id recorded in the key store is wrong, or the cluster was deleted.',
      steps: [
        'Confirm the cluster is gone: describe-clusters returns nothing (or state DELETED) for its id.',
        'Find the most recent READY backup of that cluster and create a new cluster from it, in subnets of two or more Availability Zones. Only a cluster that shares the original backup history (same cluster certificate) can replace it.',
        'Add HSMs to the new cluster (two, in different Availability Zones) and wait until the cluster is ACTIVE.',
        'Disconnect the key store, point it at the new cluster id, then connect it again.',
        'Watch the store until it is CONNECTED.',
      ],
      commands: [DESCRIBE_CLUSTER, DESCRIBE_BACKUPS, RESTORE_CLUSTER, CREATE_HSM_NEW_CLUSTER, DISCONNECT, UPDATE_CLUSTER, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.describeClusters, DOCS.cloudHsmClusters],
    },
  },
  INSUFFICIENT_CLOUDHSM_HSMS: {
    AWS_CLOUDHSM: {
      summary: 'The CloudHSM cluster behind the key store has no ACTIVE HSM, so KMS cannot connect; its keys are unusable.',
      cause: 'Every HSM in the cluster was deleted or failed. A key store needs at least one ACTIVE HSM to connect, and two in different Availability Zones to create keys.',
      steps: [
        'Look at the cluster: which HSMs exist, their state, and which Availability Zones have subnets.',
        'Create an HSM in a cluster Availability Zone, and a second one in another zone; wait until they are ACTIVE (this takes several minutes).',
        DISCONNECT_FIRST,
        FAILED_FINISH,
      ],
      commands: [DESCRIBE_CLUSTER, CREATE_HSM, 'aws cloudhsmv2 create-hsm --cluster-id {clusterId} --availability-zone {az2} --region {region}', DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.createHsm, DOCS.describeClusters],
    },
  },
  INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET: {
    AWS_CLOUDHSM: {
      summary: 'A subnet of the CloudHSM cluster has no free IP address, so KMS cannot connect the key store; its keys are unusable.',
      cause: 'KMS needs one free address in each cluster subnet to connect (two are better), and at least one subnet is full.',
      steps: [
        'List the cluster subnets (describe-clusters, SubnetMapping) and the free addresses in each.',
        'Free addresses in the full subnets: remove unused network interfaces or instances. If that is not possible, create a cluster from the latest backup in roomier subnets and point the key store at it (see CLUSTER_NOT_FOUND).',
        DISCONNECT_FIRST,
        FAILED_FINISH,
      ],
      commands: [DESCRIBE_CLUSTER, SUBNET_ROOM, DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.cloudHsmClusters],
    },
  },
  SUBNET_NOT_FOUND: {
    AWS_CLOUDHSM: {
      summary: 'A subnet in the CloudHSM cluster configuration no longer exists, so KMS cannot connect the key store; its keys are unusable.',
      cause: 'One of the cluster subnets was deleted. KMS must find every subnet of the cluster configuration to connect, and a cluster subnet cannot be replaced in place.',
      steps: [
        'Confirm which subnet of the cluster SubnetMapping is missing.',
        'Create a cluster from the most recent backup, in existing subnets of two or more Availability Zones, and add HSMs to it.',
        'Disconnect the key store, point it at the new cluster id, and connect it again.',
        'Watch the store until it is CONNECTED.',
      ],
      commands: [DESCRIBE_CLUSTER, SUBNET_ROOM, DESCRIBE_BACKUPS, RESTORE_CLUSTER, CREATE_HSM_NEW_CLUSTER, DISCONNECT, UPDATE_CLUSTER, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.cloudHsmClusters],
    },
  },
  INVALID_CREDENTIALS: {
    AWS_CLOUDHSM: {
      summary: 'The key store password no longer matches the `kmsuser` password in the CloudHSM cluster; KMS cannot log in and the keys are unusable.',
      cause: 'The `kmsuser` crypto user password was changed in the cluster, or the key store was given a different password.',
      steps: [
        DISCONNECT_FIRST,
        'Set a known password for the `kmsuser` crypto user in the cluster (CloudHSM CLI: `user change-password --username kmsuser --role crypto-user`).',
        'Export it as KMSUSER_PASSWORD and give the same password to the key store with update-custom-key-store.',
        FAILED_FINISH,
      ],
      commands: [DISCONNECT, UPDATE_PASSWORD, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.fixKeystore],
    },
    EXTERNAL_KEY_STORE: {
      summary: 'The XKS proxy rejects the authentication credential KMS signs with; the external key store is FAILED and its keys are unusable.',
      cause: 'The proxy authentication credential (access key id / secret) held by KMS is not valid on the proxy, typically after a rotation on one side only.',
      steps: [
        DISCONNECT_FIRST,
        'Find the credential the proxy currently accepts (or create a new one on the proxy), and export it as XKS_ACCESS_KEY_ID and XKS_SECRET_ACCESS_KEY.',
        'Give KMS the same access key id and secret with update-custom-key-store (both values are required, even to change one).',
        FAILED_FINISH_XKS,
      ],
      commands: [DISCONNECT, UPDATE_XKS_CREDENTIAL, CONNECT, DESCRIBE],
      docs: [DOCS.xksTroubleshooting, DOCS.listEntry],
    },
  },
  USER_LOCKED_OUT: {
    AWS_CLOUDHSM: {
      summary: 'The `kmsuser` crypto user is locked out of the CloudHSM cluster after too many failed logins; the keys are unusable.',
      cause: 'Repeated logins with a wrong password, for example after a password change that was not given to the key store.',
      steps: [
        DISCONNECT_FIRST,
        'Change the `kmsuser` password in the cluster (as a crypto officer, CloudHSM CLI: `user change-password --username kmsuser --role crypto-user`).',
        'Export it as KMSUSER_PASSWORD and give the same password to the key store with update-custom-key-store.',
        FAILED_FINISH,
      ],
      commands: [DISCONNECT, UPDATE_PASSWORD, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.fixKeystore],
    },
  },
  USER_LOGGED_IN: {
    AWS_CLOUDHSM: {
      summary: 'The `kmsuser` crypto user is logged in to the CloudHSM cluster, which stops KMS from rotating its password and connecting; the keys are unusable.',
      cause: 'Someone (or a tool) logged in to the cluster as `kmsuser` and did not log out.',
      steps: [
        DISCONNECT_FIRST,
        'Log `kmsuser` out of the cluster (end the CloudHSM CLI session that uses it with `logout`).',
        'If the `kmsuser` password was changed to log in, export it as KMSUSER_PASSWORD and update the key store password.',
        FAILED_FINISH,
      ],
      commands: [DISCONNECT, UPDATE_PASSWORD, CONNECT, DESCRIBE],
      docs: [DOCS.kmsuserLogout, DOCS.fixFailed],
    },
  },
  USER_NOT_FOUND: {
    AWS_CLOUDHSM: {
      summary: 'There is no `kmsuser` crypto user in the CloudHSM cluster, so KMS cannot log in; the keys are unusable.',
      cause: 'The `kmsuser` crypto user was deleted, or the key store points at a cluster where it was never created.',
      steps: [
        DISCONNECT_FIRST,
        'Create the `kmsuser` crypto user in the cluster (CloudHSM CLI, as admin: `user create --username kmsuser --role crypto-user`).',
        'Export its password as KMSUSER_PASSWORD and give it to the key store with update-custom-key-store.',
        FAILED_FINISH,
      ],
      commands: [DISCONNECT, UPDATE_PASSWORD, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.fixKeystore],
    },
  },
  XKS_PROXY_ACCESS_DENIED: {
    EXTERNAL_KEY_STORE: {
      summary: 'The XKS proxy denies the requests KMS makes on your behalf; the external key store is FAILED and its keys are unusable.',
      cause: 'Authorization rules on the proxy do not allow KMS (or this key store) to call it.',
      steps: [
        'Review the proxy authorization rules and allow KMS requests for this key store (see your proxy vendor documentation).',
        DISCONNECT_FIRST,
        FAILED_FINISH_XKS,
      ],
      commands: [DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.xksTroubleshooting, DOCS.listEntry],
    },
  },
  XKS_PROXY_INVALID_CONFIGURATION: {
    EXTERNAL_KEY_STORE: {
      summary: 'A configuration error stops the external key store from talking to its proxy; the keys are unusable.',
      cause: 'Most often the proxy URI path is wrong: it must start with `/` and end with `/kms/xks/v1` (an optional prefix may sit in between).',
      steps: [
        'Compare the key store XksProxyUriPath with the path your proxy documents.',
        DISCONNECT_FIRST,
        'Correct the path with update-custom-key-store (export XKS_URI_PATH first).',
        FAILED_FINISH_XKS,
      ],
      commands: [XKS_SETTINGS, DISCONNECT, 'aws kms update-custom-key-store --custom-key-store-id {storeId} --xks-proxy-uri-path "$XKS_URI_PATH" --region {region}', CONNECT, DESCRIBE],
      docs: [DOCS.xksTroubleshooting, DOCS.xksRequirements],
    },
  },
  XKS_PROXY_INVALID_RESPONSE: {
    EXTERNAL_KEY_STORE: {
      summary: 'KMS cannot make sense of what the XKS proxy answers; the external key store is FAILED and its keys are unusable.',
      cause: 'The proxy returns responses that do not follow the XKS proxy API, typically a proxy bug or an incompatible proxy version.',
      steps: [
        'Check the proxy logs around the time of the failure.',
        DISCONNECT_FIRST,
        FAILED_FINISH_XKS,
        'If it keeps happening, raise it with your XKS proxy vendor.',
      ],
      commands: [DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.xksTroubleshooting],
    },
  },
  XKS_PROXY_INVALID_TLS_CONFIGURATION: {
    EXTERNAL_KEY_STORE: {
      summary: 'KMS refuses the TLS set-up of the XKS proxy; the external key store is FAILED and its keys are unusable.',
      cause: 'The proxy TLS is not acceptable to KMS: an old protocol version, an expired certificate, a certificate whose name does not match the endpoint host, or an issuer KMS does not trust.',
      steps: [
        'Check the proxy certificate: TLS 1.2 or 1.3, not expired, subject or SAN matching the endpoint host name, issued by a public CA that KMS trusts.',
        'Fix the certificate or TLS settings on the proxy (or its load balancer).',
        DISCONNECT_FIRST,
        FAILED_FINISH_XKS,
      ],
      commands: [XKS_SETTINGS, TLS_CHECK, DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.xksTroubleshooting, DOCS.xksRequirements],
    },
  },
  XKS_PROXY_NOT_REACHABLE: {
    EXTERNAL_KEY_STORE: {
      summary: 'KMS cannot reach the XKS proxy; the external key store is FAILED and its keys are unusable.',
      cause: 'The proxy is down, the endpoint or path is wrong, port 443 is blocked, or the external key manager behind the proxy is unavailable.',
      steps: [
        'Check the endpoint and path configured on the key store.',
        'Check that the proxy is running and answers on port 443 at that endpoint, and that its external key manager instances are available.',
        DISCONNECT_FIRST,
        FAILED_FINISH_XKS,
      ],
      commands: [XKS_SETTINGS, TLS_CHECK, DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.xksTroubleshooting],
    },
  },
  XKS_PROXY_TIMED_OUT: {
    EXTERNAL_KEY_STORE: {
      summary: 'The XKS proxy answers too slowly for KMS; the external key store is FAILED and its keys are unusable.',
      cause: 'Requests through the proxy to the external key manager take longer than KMS allows (250 ms), from load, distance or a struggling key manager.',
      steps: [
        'Look at the XksProxyLatency metric of the store (250 means timed out).',
        DISCONNECT_FIRST,
        FAILED_FINISH_XKS,
        'If it persists, bring the proxy closer to the external key manager or add capacity, and involve the proxy vendor.',
      ],
      commands: [
        `aws cloudwatch get-metric-statistics --namespace AWS/KMS --metric-name XksProxyLatency --dimensions Name=CustomKeyStoreId,Value={storeId} --statistics Maximum --period 300 --start-time "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --region {region}`,
        DISCONNECT,
        CONNECT,
        DESCRIBE,
      ],
      docs: [DOCS.xksTroubleshooting],
    },
  },
  XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION: {
    EXTERNAL_KEY_STORE: {
      summary: 'The VPC endpoint service in front of the XKS proxy does not meet KMS requirements; the external key store is FAILED and its keys are unusable.',
      cause: 'Something in the endpoint service set-up is off: another account, a load balancer in fewer than two Availability Zones, the KMS principal not allowed, acceptance required, or a private DNS name that is not verified or does not match the TLS certificate.',
      steps: [
        'Check the endpoint service: same account as the key store, network load balancer in two or more Availability Zones, acceptance not required, private DNS name verified and unique.',
        'Allow the principal `cks.kms.<region>.amazonaws.com` on the endpoint service.',
        'Make sure the proxy TLS certificate matches the private DNS name.',
        DISCONNECT_FIRST,
        FAILED_FINISH_XKS,
      ],
      commands: [
        XKS_SETTINGS,
        VPC_SERVICE,
        VPC_PERMISSIONS,
        'aws ec2 modify-vpc-endpoint-service-permissions --service-id "$VPC_ENDPOINT_SERVICE_ID" --add-allowed-principals cks.kms.{region}.{dnsSuffix} --region {region}',
        DISCONNECT,
        CONNECT,
        DESCRIBE,
      ],
      docs: [DOCS.xksTroubleshooting, DOCS.xksRequirements, DOCS.endpointService, DOCS.verifyDomains],
    },
  },
  XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND: {
    EXTERNAL_KEY_STORE: {
      summary: 'KMS cannot find the VPC endpoint service of the external key store; the store is FAILED and its keys are unusable.',
      cause: 'The endpoint service name on the key store is wrong, the service was deleted, or the KMS principal is not allowed to use it.',
      steps: [
        'Compare XksProxyVpcEndpointServiceName on the key store with the endpoint services in the account, and check the principal `cks.kms.<region>.amazonaws.com` is allowed on the right one.',
        DISCONNECT_FIRST,
        'Correct the name with update-custom-key-store (export VPC_ENDPOINT_SERVICE_NAME first), or re-create the endpoint service.',
        FAILED_FINISH_XKS,
      ],
      commands: [
        XKS_SETTINGS,
        VPC_SERVICE,
        DISCONNECT,
        'aws kms update-custom-key-store --custom-key-store-id {storeId} --xks-proxy-vpc-endpoint-service-name "$VPC_ENDPOINT_SERVICE_NAME" --region {region}',
        CONNECT,
        DESCRIBE,
      ],
      docs: [DOCS.xksTroubleshooting, DOCS.endpointService],
    },
  },
};

/** FAILED with an error code this table does not know (AWS adds codes), or none at all. */
export const GENERIC_FAILED: Record<KnownStoreType | 'UNKNOWN', GuidanceTemplate> = {
  AWS_CLOUDHSM: {
    summary: 'The CloudHSM key store is FAILED with an error code keystore-watch does not know yet; its keys are unusable.',
    cause: 'A connection failure AWS reports with a code newer than this release. The AWS troubleshooting guide lists the current codes.',
    steps: [
      'Look up the error code in the AWS KMS troubleshooting guide and the API reference.',
      'Check the cluster: ACTIVE, at least one ACTIVE HSM, subnets present, the `kmsuser` crypto user present and logged out.',
      DISCONNECT_FIRST,
      'Fix what the error code points at; then connect the key store again and watch it until it is CONNECTED.',
    ],
    commands: [DESCRIBE, DESCRIBE_CLUSTER, DISCONNECT, CONNECT, DESCRIBE],
    docs: [DOCS.fixFailed, DOCS.listEntry],
  },
  EXTERNAL_KEY_STORE: {
    summary: 'The external key store is FAILED with an error code keystore-watch does not know yet; its keys are unusable.',
    cause: 'A connection failure AWS reports with a code newer than this release. The AWS troubleshooting guide lists the current codes.',
    steps: [
      'Look up the error code in the AWS KMS external key store troubleshooting guide and the API reference.',
      'Check the proxy: reachable on 443, valid TLS certificate, correct URI path, credential valid, external key manager available.',
      DISCONNECT_FIRST,
      'Fix what the error code points at; then connect the key store again and watch it until it is CONNECTED.',
    ],
    commands: [XKS_SETTINGS, DISCONNECT, CONNECT, DESCRIBE],
    docs: [DOCS.xksTroubleshooting, DOCS.listEntry],
  },
  UNKNOWN: {
    summary: 'The custom key store is FAILED; its keys are unusable until it is connected again.',
    cause: 'The last connection attempt failed. The error code (if any) says why; the AWS troubleshooting guides list the codes.',
    steps: [
      'Read the store type and error code with describe-custom-key-stores, and look the code up in the AWS KMS troubleshooting guide.',
      DISCONNECT_FIRST,
      'Fix what the error code points at; then connect the key store again and watch it until it is CONNECTED.',
    ],
    commands: [DESCRIBE, DISCONNECT, CONNECT, DESCRIBE],
    docs: [DOCS.fixFailed, DOCS.xksTroubleshooting, DOCS.listEntry],
  },
};

/** Conditions other than FAILED. A condition that differs by store type has one entry per type plus a default. */
export type ConditionGuidance = { default: GuidanceTemplate } & Partial<Record<KnownStoreType, GuidanceTemplate>>;

export const CONDITION_GUIDANCE: Record<Exclude<Condition, 'FAILED'>, ConditionGuidance> = {
  CONNECTING_TOO_LONG: {
    default: {
      summary: 'The custom key store has been CONNECTING for longer than expected; its keys stay unusable until it is CONNECTED.',
      cause: 'The backing key store does not answer the connection attempt, or the attempt is stuck.',
      steps: [
        'Check the state and how long it has been CONNECTING.',
        'If it is still CONNECTING well past the usual time, disconnect it, wait for DISCONNECTED, and connect it again.',
        'If it then goes FAILED, follow the guidance for its error code.',
      ],
      commands: [DESCRIBE, DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.disconnect, DOCS.fixKeystore],
    },
    AWS_CLOUDHSM: {
      summary: 'The CloudHSM key store has been CONNECTING for longer than the usual 20 minutes; its keys stay unusable until it is CONNECTED.',
      cause: 'Usually a cluster problem: no ACTIVE HSM, a cluster that is not ACTIVE, or subnets without free addresses.',
      steps: [
        'Check the cluster: state ACTIVE, at least one ACTIVE HSM, free addresses in every cluster subnet.',
        'If it is still CONNECTING well past 20 minutes, disconnect it, wait for DISCONNECTED, and connect it again.',
        'If it then goes FAILED, follow the guidance for its error code.',
      ],
      commands: [DESCRIBE, DESCRIBE_CLUSTER, DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.disconnect, DOCS.fixKeystore],
    },
    EXTERNAL_KEY_STORE: {
      summary: 'The external key store has been CONNECTING for longer than the usual 5 minutes; its keys stay unusable until it is CONNECTED.',
      cause: 'The XKS proxy or the external key manager behind it does not answer the connection attempt in time.',
      steps: [
        'Check that the proxy is up and answers on port 443, and that the external key manager is available.',
        'If it is still CONNECTING well past 5 minutes, disconnect it, wait for DISCONNECTED, and connect it again.',
        'If it then goes FAILED, follow the guidance for its error code.',
      ],
      commands: [DESCRIBE, XKS_SETTINGS, DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.disconnect, DOCS.xksTroubleshooting],
    },
  },
  DISCONNECTED: {
    default: {
      summary: 'The custom key store is DISCONNECTED: every KMS key in it is unavailable, creating keys and cryptographic calls fail.',
      cause: 'Someone disconnected it (maintenance, incident response) or it was never connected after creation.',
      steps: [
        'Find out whether the disconnect was intended: CloudTrail records DisconnectCustomKeyStore calls with the caller.',
        'If it is meant to stay disconnected, add its id to `alerting.expectDisconnected` so keystore-watch stops alerting.',
        'Otherwise connect it and watch it until it is CONNECTED; its keys return to their previous states.',
      ],
      commands: [DISCONNECT_EVENTS, CONNECT, DESCRIBE],
      docs: [DOCS.disconnect, DOCS.listEntry],
    },
  },
  PROBE_FAILING: {
    default: {
      summary: 'The key store reports CONNECTED but a test GenerateRandom call against it keeps failing: applications using its keys are probably failing too.',
      cause: 'CONNECTED does not prove the store works: the cluster may have lost its HSMs, or the HSMs may be unhealthy or overloaded.',
      steps: [
        'Repeat the probe by hand to see the error.',
        'Check the cluster: ACTIVE, at least one ACTIVE HSM, and the HsmUnhealthy metric in CloudWatch (namespace AWS/CloudHSM).',
        'Replace unhealthy HSMs. If the cluster looks healthy but the probe still fails, disconnect and connect the key store.',
      ],
      commands: ['aws kms generate-random --number-of-bytes 1 --custom-key-store-id {storeId} --region {region}', DESCRIBE_CLUSTER, DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.fixKeystore, DOCS.cloudHsmClusters],
    },
  },
  TRUST_ANCHOR_EXPIRING: {
    default: {
      summary: 'The trust anchor certificate of the CloudHSM key store expires soon.',
      cause: 'The trust anchor is the issuing CA certificate (customerCA.crt) created when the cluster was initialized; it has a fixed validity period, and update-custom-key-store cannot change it.',
      steps: [
        'Confirm the expiry date from the certificate the key store holds.',
        'Involve the owner of the CA that issued it and plan the change before the date, following the CloudHSM cluster initialization documentation; open an AWS Support case if unsure how the key store is affected.',
        'Track the date on the keystore-watch dashboard until it is resolved.',
      ],
      commands: [`aws kms describe-custom-key-stores --custom-key-store-id {storeId} --query 'CustomKeyStores[0].TrustAnchorCertificate' --output text --region {region} | openssl x509 -noout -subject -enddate`],
      docs: [DOCS.cloudHsmInitialize, DOCS.listEntry],
    },
  },
  CLUSTER_NOT_ACTIVE: {
    default: {
      summary: 'The CloudHSM cluster behind the key store is not ACTIVE; the store may fail at its next connection attempt.',
      cause: 'The cluster is DEGRADED, stuck in an update, or being deleted. A key store needs an ACTIVE cluster.',
      steps: [
        'Read the cluster state and state message.',
        'DEGRADED: check the HSMs and replace the unhealthy ones. UPDATE_IN_PROGRESS for long: open an AWS Support case. DELETE_IN_PROGRESS or DELETED: restore the latest backup into a new cluster and plan to point the key store at it (see CLUSTER_NOT_FOUND).',
        'Check the key store itself is still CONNECTED.',
      ],
      commands: [DESCRIBE_CLUSTER, DESCRIBE_BACKUPS, DESCRIBE],
      docs: [DOCS.cloudHsmClusters, DOCS.describeClusters],
    },
  },
  NO_ACTIVE_HSMS: {
    default: {
      summary: 'The CloudHSM cluster behind a CONNECTED key store has no ACTIVE HSM: its keys cannot work, and the next reconnect will fail with INSUFFICIENT_CLOUDHSM_HSMS.',
      cause: 'The HSMs of the cluster were deleted or failed.',
      steps: [
        'Confirm the HSM list of the cluster.',
        'Create an HSM in a cluster Availability Zone, and a second in another zone (two zones are needed to create keys). Wait until they are ACTIVE.',
        'Check the key store is CONNECTED and working; if it went FAILED meanwhile, follow the INSUFFICIENT_CLOUDHSM_HSMS guidance.',
      ],
      commands: [DESCRIBE_CLUSTER, CREATE_HSM, 'aws cloudhsmv2 create-hsm --cluster-id {clusterId} --availability-zone {az2} --region {region}', DESCRIBE],
      docs: [DOCS.createHsm, DOCS.describeClusters, DOCS.fixKeystore],
    },
  },
  SINGLE_AZ: {
    default: {
      summary: 'The ACTIVE HSMs of the cluster behind the key store are all in one Availability Zone: KMS cannot create new keys in the store, and one zone outage takes it down.',
      cause: 'HSMs in the other zones were deleted or failed, or were never created.',
      steps: [
        'See which zones have ACTIVE HSMs and which cluster subnets (zones) have none.',
        'Create an HSM in a zone that has none and wait until it is ACTIVE.',
      ],
      commands: [DESCRIBE_CLUSTER, CREATE_HSM],
      docs: [DOCS.createHsm, DOCS.cloudHsmClusters],
    },
  },
  HSM_DEGRADED: {
    default: {
      summary: 'An HSM in the cluster behind the key store is DEGRADED; the cluster has less capacity and redundancy than it should.',
      cause: 'A hardware or service problem with that HSM.',
      steps: [
        'Confirm the HSM state and the other HSMs of the cluster.',
        'Create a replacement HSM in the same Availability Zone and wait until it is ACTIVE.',
        'Delete the degraded HSM.',
      ],
      commands: [DESCRIBE_CLUSTER, CREATE_HSM, 'aws cloudhsmv2 delete-hsm --cluster-id {clusterId} --hsm-id {hsmId} --region {region}'],
      docs: [DOCS.cloudHsmClusters, DOCS.createHsm],
    },
  },
  CLUSTER_MISSING: {
    default: {
      summary: 'The CloudHSM cluster the key store points at does not exist: the store will fail with CLUSTER_NOT_FOUND at its next connection attempt.',
      cause: 'The cluster was deleted, or the key store points at the wrong cluster id.',
      steps: [
        'Confirm the cluster is gone, and list the clusters of the account and region.',
        'Find its most recent backup and create a cluster from it (only a related cluster, sharing the backup history, can replace it). Add two HSMs in different zones.',
        'When the new cluster is ACTIVE, disconnect the key store, point it at the new cluster, and connect it again.',
      ],
      commands: ['aws cloudhsmv2 describe-clusters --region {region}', DESCRIBE_CLUSTER, DESCRIBE_BACKUPS, RESTORE_CLUSTER, CREATE_HSM_NEW_CLUSTER, DISCONNECT, UPDATE_CLUSTER, CONNECT, DESCRIBE],
      docs: [DOCS.fixFailed, DOCS.describeClusters, DOCS.cloudHsmClusters],
    },
  },
  CLUSTER_CERT_EXPIRING: {
    default: {
      summary: 'The cluster certificate of the CloudHSM cluster behind the key store expires soon.',
      cause: 'The cluster certificate was signed by your issuing CA when the cluster was initialized and has a fixed validity period.',
      steps: [
        'Confirm the expiry date from describe-clusters.',
        'Involve the owner of the issuing CA and plan the renewal before the date, following the CloudHSM cluster initialization documentation; open an AWS Support case if unsure how the key store is affected.',
      ],
      commands: [`aws cloudhsmv2 describe-clusters --filters clusterIds={clusterId} --query 'Clusters[0].Certificates.ClusterCertificate' --output text --region {region} | openssl x509 -noout -subject -enddate`],
      docs: [DOCS.cloudHsmInitialize, DOCS.describeClusters],
    },
  },
  UNKNOWN_STATE: {
    default: {
      summary: 'The custom key store reports a ConnectionState this release of keystore-watch does not know. Only CONNECTED means its KMS keys work, so treat them as unusable until it is CONNECTED.',
      cause: 'AWS added a connection state after this release. The alert shows the raw value; the AWS API reference lists the current states.',
      steps: [
        'Read the store\'s state and error code as AWS reports them, and look the state up in the AWS KMS API reference (CustomKeyStoresListEntry).',
        'Check whether applications using the store\'s keys are failing (KMSInvalidStateException, CustomKeyStoreInvalidStateException in their logs or in CloudTrail).',
        'If the state means the store is down, disconnect it, fix the cause, connect it again and watch it until it is CONNECTED. Then upgrade keystore-watch so it knows the state.',
      ],
      commands: [DESCRIBE, DISCONNECT_EVENTS, DISCONNECT, CONNECT, DESCRIBE],
      docs: [DOCS.listEntry, DOCS.fixKeystore],
    },
  },
  FLAPPING: {
    default: {
      summary: 'The custom key store keeps changing its connection state: its KMS keys work only part of the time, and each alert for a single state would come and go.',
      cause: 'An intermittent fault: for CloudHSM, HSMs failing or being replaced, a cluster near its limits, network or security-group changes; for external stores, an XKS proxy or external key manager that times out or restarts; or automation connecting and disconnecting the store.',
      steps: [
        'Read the recent states and the error codes of the FAILED periods (the alert shows the last states; /api/v1/events has the history).',
        'Look for someone or something connecting and disconnecting the store: CloudTrail ConnectCustomKeyStore and DisconnectCustomKeyStore events.',
        'CloudHSM: check the cluster and HSM health (HsmUnhealthy in CloudWatch, namespace AWS/CloudHSM) and replace unhealthy HSMs. External: check the proxy\'s logs, latency and certificate.',
        'Fix the cause of the FAILED periods as the error code says; the alert resolves once the store has not changed state for a whole window.',
      ],
      commands: [DESCRIBE, 'aws cloudtrail lookup-events --lookup-attributes AttributeKey=ResourceName,AttributeValue={storeId} --max-results 20 --region {region}', DESCRIBE_CLUSTER],
      docs: [DOCS.fixKeystore, DOCS.xksTroubleshooting, DOCS.listEntry],
    },
  },
  CLUSTER_UNKNOWN_STATE: {
    default: {
      summary: 'The CloudHSM cluster behind the key store, or one of its HSMs, reports a state this release of keystore-watch does not know; the key store may stop working.',
      cause: 'AWS added a cluster or HSM state after this release. The alert shows the raw value; the AWS CloudHSM API reference lists the current states.',
      steps: [
        'Read the cluster state, state message and HSM states, and look the value up in the AWS CloudHSM API reference.',
        'Check the key store is still CONNECTED and its keys work (a GenerateRandom call against the store is a cheap test).',
        'If the cluster or the HSM is unhealthy, act as for a DEGRADED cluster or HSM: replace the HSM, or restore the cluster from its latest backup. Then upgrade keystore-watch so it knows the state.',
      ],
      commands: [DESCRIBE_CLUSTER, 'aws kms generate-random --number-of-bytes 1 --custom-key-store-id {storeId} --region {region}', DESCRIBE],
      docs: [DOCS.clusterState, DOCS.hsmState, DOCS.cloudHsmClusters],
    },
  },
  PROBE_NOT_PERMITTED: {
    default: {
      summary: 'The GenerateRandom probe is denied in this account and region, so keystore-watch cannot tell whether CONNECTED CloudHSM key stores there really work. The stores themselves are not affected.',
      cause: 'The monitoring role lacks `kms:GenerateRandom`, or a service control policy, permissions boundary or session policy denies it (the error message says which).',
      steps: [
        'Read the error message on the alert: an "explicit deny in a service control policy" needs the SCP changed by the organization\'s administrators; otherwise grant the action to the role.',
        'Add `kms:GenerateRandom` (Resource "*") to the monitoring role\'s policy (config/iam-policy.json has it), or set probe.enabled to false if the probe is not wanted.',
        'Check with the same role; the alert resolves once a probe is allowed again.',
      ],
      commands: [
        'aws iam simulate-principal-policy --policy-source-arn "$ROLE_ARN" --action-names kms:GenerateRandom',
        'aws kms generate-random --number-of-bytes 1 --region {region}',
      ],
      docs: [DOCS.generateRandom, DOCS.kmsIam, DOCS.scp],
    },
  },
  TARGET_DOWN: {
    default: {
      summary: 'keystore-watch cannot read the custom key stores of this account and region: a blind spot, any failure there goes unnoticed.',
      cause: 'The monitoring role cannot be assumed (trust policy, external id, SCP), lacks kms:DescribeCustomKeyStores, KMS throttles or fails, or the network path to AWS is broken. The alert shows the last error.',
      steps: [
        'Read the error on the alert and in the keystore-watch logs.',
        'AccessDenied: the alert\'s "Denied action" is the IAM action the role lacks: grant it (config/iam-policy.json has the complete policy); on an AssumeRole denial check the role trust policy and external id. Throttling: look for other heavy KMS callers. Timeouts or connection errors: check egress, proxies and VPC endpoints.',
        'Reproduce with the same role from the keystore-watch host, and ask IAM whether the role is allowed the denied action.',
      ],
      commands: [
        'aws sts assume-role --role-arn {roleArn} --role-session-name keystore-watch-check --region {region}',
        `aws kms describe-custom-key-stores --region {region} --query 'CustomKeyStores[].[CustomKeyStoreId,ConnectionState]'`,
        'aws iam simulate-principal-policy --policy-source-arn {roleArn} --action-names {action}',
      ],
      docs: [DOCS.listEntry],
    },
  },
  SCP_DENIED: {
    default: {
      summary: 'A service control policy of the organization denies keystore-watch in some regions of this account: key stores there, if any, are not watched.',
      cause: 'An SCP (often a region deny list using aws:RequestedRegion) explicitly denies the call in those regions. No IAM permission in the account can override an explicit SCP deny; only the organization\'s management account can change it.',
      steps: [
        'See the denied regions and the denied action on the finding.',
        'From the management account (or a delegated administrator), list the service control policies attached to the account and to its OUs up to the root, and find the statement denying the action in those regions.',
        'If the regions are denied on purpose and hold no key stores, leave them out of keystore-watch with `excludeRegions`. Otherwise add an exception for the monitoring role (a condition on aws:PrincipalArn) to the deny statement.',
      ],
      commands: [
        'aws organizations list-policies-for-target --target-id {accountId} --filter SERVICE_CONTROL_POLICY',
        'aws organizations list-parents --child-id {accountId}',
        'aws organizations describe-policy --policy-id "$POLICY_ID"',
        `aws kms describe-custom-key-stores --region {region} --query 'CustomKeyStores[].[CustomKeyStoreId,ConnectionState]'`,
      ],
      docs: [DOCS.scp, DOCS.scpRegions],
    },
  },
  XKS_CERT_EXPIRING: {
    default: {
      summary: 'The TLS certificate of the external key store proxy endpoint expires soon (CloudWatch XksProxyCertificateDaysToExpire). When it expires KMS cannot talk to the proxy and every KMS key in the store becomes unusable.',
      cause: 'The server certificate the XKS proxy presents on XksProxyUriEndpoint has a fixed validity period and has not been renewed yet.',
      steps: [
        'Confirm the expiry date and the subject name on the certificate the proxy presents (the alert\'s "Days left" is what KMS last reported).',
        'Renew the certificate with a CA that KMS trusts, for the same host name as XksProxyUriEndpoint (or the private DNS name of the VPC endpoint service), and install it on the proxy before the date; KMS needs TLS 1.2 or 1.3.',
        'Once installed, KMS reports the new expiry in XksProxyCertificateDaysToExpire within a few minutes; the alert resolves on its own.',
      ],
      commands: [TLS_CHECK, XKS_SETTINGS, XKS_METRIC('XksProxyCertificateDaysToExpire')],
      docs: [DOCS.xksTroubleshooting, DOCS.xksRequirements, DOCS.kmsCloudWatch],
    },
  },
  XKS_CREDENTIAL_OLD: {
    default: {
      summary: 'The external key store proxy authentication credential is older than the configured maximum age (CloudWatch XksProxyCredentialAge): rotate it.',
      cause: 'KMS counts the days since the credential was associated with the store (created or last updated). A long-lived shared secret between KMS and the proxy is a standing risk; rotating it regularly limits what a leak exposes.',
      steps: [
        'Create a new access key id and secret access key on the XKS proxy (keep the old one valid until KMS uses the new one).',
        'Give KMS the new credential with update-custom-key-store. An external key store must be disconnected for some updates, but the proxy authentication credential can be changed while it is connected; export the two values first so they stay out of the shell history.',
        'Check the store is still CONNECTED and the proxy accepts requests, then retire the old credential on the proxy. XksProxyCredentialAge restarts from 0 and the alert resolves.',
      ],
      commands: [UPDATE_XKS_CREDENTIAL, DESCRIBE, XKS_METRIC('XksProxyCredentialAge')],
      docs: [DOCS.updateXks, DOCS.xksCredential, DOCS.kmsCloudWatch],
    },
  },
  XKS_KEY_MANAGER_UNHEALTHY: {
    default: {
      summary: 'The XKS proxy reports external key manager instances DEGRADED or UNAVAILABLE (CloudWatch XksExternalKeyManagerStates): the store still says CONNECTED, but requests may be slow or failing.',
      cause: 'The external key manager (HSM or key management service behind the proxy) has unhealthy instances: maintenance, a failed node, network trouble between the proxy and the key manager, or overload. Degraded instances still serve traffic; unavailable ones do not.',
      steps: [
        'Read the proxy logs to see which key manager instances are degraded or unavailable and why (each proxy measures health in its own way).',
        'Restore or replace the unhealthy instances with the key manager vendor\'s tools; check the network path from the proxy to them.',
        'Watch XksProxyErrors and XksProxyLatency meanwhile: applications using the store\'s keys get KMSInvalidStateException when the proxy cannot serve them.',
      ],
      commands: [XKS_METRIC('XksExternalKeyManagerStates'), XKS_ERRORS_NOW, DESCRIBE],
      docs: [DOCS.xksMonitoring, DOCS.xksTroubleshooting, DOCS.kmsCloudWatch],
    },
  },
  XKS_PROXY_UNHEALTHY: {
    default: {
      summary: 'The external key store is CONNECTED but its proxy fails or times out on a share of KMS requests (CloudWatch XksProxyErrors, XksProxyLatency): applications using its keys see KMSInvalidStateException.',
      cause: 'ConnectionState only says the last connection worked. The proxy or the external key manager behind it answers with errors, or slower than the 250 ms KMS allows (a timed-out request counts as an error and records 250 ms): overload, an unhealthy key manager, network latency between the proxy and the key manager, or a proxy misconfiguration (non-retryable errors).',
      steps: [
        'See the error and latency figures on the alert: non-retryable errors point at configuration (keys missing or disabled in the key manager, authorization rules on the proxy); retryable errors and latency near 250 ms at load or health.',
        'Check the proxy and key manager health and logs; move the proxy closer to the key manager if latency is the problem.',
        'If the proxy cannot keep up with the request rate, ask AWS to lower the custom key store request quota, so KMS throttles quickly instead of timing out at the proxy.',
      ],
      commands: [XKS_ERRORS_NOW, XKS_METRIC('XksProxyLatency'), DESCRIBE],
      docs: [DOCS.xksTroubleshooting, DOCS.xksMonitoring, DOCS.kmsQuotas],
    },
  },
  KEY_STORE_THROTTLED: {
    default: {
      summary: 'KMS throttles cryptographic requests for the KMS keys in this custom key store (ThrottlingException): the custom key store request quota is reached.',
      cause: 'Requests using KMS keys in the store exceed the custom key store request quota of the account and region (CloudHSMKeyStoreThrottle or ExternalKeyStoreThrottle in CloudWatch). Callers retry, so latency rises before anything fails.',
      steps: [
        'Find the callers: CloudTrail or the applications\' own metrics show which operations (the KmsOperation dimension) are throttled.',
        'Reduce the request rate (data key caching in the AWS Encryption SDK, fewer GenerateDataKey calls), or request a higher quota in Service Quotas.',
        'For an external key store, check first that the proxy and the external key manager can take a higher rate; for a CloudHSM store, that the cluster has enough HSMs.',
      ],
      commands: [
        `aws cloudwatch list-metrics --namespace AWS/KMS --dimensions Name=CustomKeyStoreId,Value={storeId} --region {region} --query 'Metrics[?contains(MetricName, \`Throttle\`)]'`,
        'aws service-quotas list-service-quotas --service-code kms --region {region} --query \'Quotas[?contains(QuotaName, `key store`)]\'',
      ],
      docs: [DOCS.kmsQuotas, DOCS.kmsCloudWatch],
    },
  },
  HSM_UNHEALTHY: {
    default: {
      summary: 'CloudWatch reports unhealthy HSMs in the CloudHSM cluster behind the key store (AWS/CloudHSM HsmUnhealthy).',
      cause: 'An HSM instance is not performing properly. CloudHSM replaces unhealthy instances by itself, but until it has, the cluster has less capacity and, with one HSM per zone, less redundancy.',
      steps: [
        'Check the cluster and its HSMs: an HSM being replaced shows as DEGRADED or a new one as CREATE_IN_PROGRESS.',
        'If the cluster is left with one ACTIVE HSM, add one in another Availability Zone to keep the store available during the replacement.',
        'If HsmUnhealthy persists for hours, open an AWS Support case with the cluster id.',
      ],
      commands: [DESCRIBE_CLUSTER, 'aws cloudwatch list-metrics --namespace AWS/CloudHSM --metric-name HsmUnhealthy --dimensions Name=ClusterId,Value={clusterId} --region {region}', CREATE_HSM],
      docs: [DOCS.cloudHsmMetrics, DOCS.cloudHsmClusters],
    },
  },
  SELF: {
    default: {
      summary: 'keystore-watch reports a problem with itself that can make it miss or delay alerts: the message title names it (state that cannot be persisted, a poll that is overdue, notifications dead-lettered).',
      cause: 'Cannot persist state: the volume under stateDir is full, was remounted read-only after a disk error, or its permissions changed; alerts are still evaluated and sent from memory, but a restart now would forget what was sent. Other self-alerts name their cause in the message.',
      steps: [
        'Read the message title and /readyz: each problem is listed there with its reason.',
        'Cannot persist state: free space on the stateDir volume or remount it read-write (check dmesg for disk errors); keystore-watch writes its in-memory state back by itself within seconds and resolves this alert. Do not restart it before that.',
        'Read the keystore-watch logs around the time the alert fired.',
      ],
      commands: [
        'curl -sS "http://$KEYSTORE_WATCH_HOST:9464/readyz"',
        `curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/metrics" | grep -E '^keystore_watch_(self_alert|state_errors)'`,
        'kubectl exec deploy/keystore-watch -n keystore-watch -- df -h /var/lib/keystore-watch',
      ],
      docs: [],
    },
  },
};

/** Alerts only Prometheus raises (keystore-watch cannot report its own absence). */
export const SELF_MONITORING_ALERTS = ['KeystoreWatchAbsent', 'KeystoreWatchNotPolling', 'KeystoreWatchPollOverdue', 'KeystoreWatchNotificationsFailing', 'KeystoreWatchConfigReloadFailed'] as const;
export type SelfMonitoringAlert = (typeof SELF_MONITORING_ALERTS)[number];

export const SELF_MONITORING_GUIDANCE: Record<SelfMonitoringAlert, GuidanceTemplate> = {
  KeystoreWatchAbsent: {
    summary: 'Prometheus cannot scrape keystore-watch: no key store in any account is being watched.',
    cause: 'The process or pod is down or crash-looping (a container killed for memory restarts and is killed again at the same point of each poll), the scrape target is misconfigured, or the network between Prometheus and keystore-watch is broken.',
    steps: [
      'Check that the keystore-watch pod or container is running and not restarting. A restart reason OOMKilled (exit code 137) means a poll outgrew the container\'s memory limit: raise the limit (the memory-headroom self-alert, raised from 85 % of it, names the peak and a limit to ask for).',
      'Read its recent logs: a configuration error exits with code 2 and names the key.',
      'From the Prometheus host, fetch /healthz and /metrics on the keystore-watch port (9464 by default).',
    ],
    commands: [
      'kubectl get pods -l app.kubernetes.io/name=keystore-watch --all-namespaces',
      'kubectl logs -l app.kubernetes.io/name=keystore-watch --all-namespaces --tail=200',
      'curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/healthz"',
    ],
    docs: [],
  },
  KeystoreWatchNotPolling: {
    summary: 'keystore-watch is running but has not finished a poll recently: its view of the key stores is going stale.',
    cause: 'Polls hang or fail as a whole (credentials of the caller expired, AWS endpoint unreachable), or the schedule is wrong.',
    steps: [
      'Check readiness and the last poll time in the metrics.',
      'Read the logs for the failing poll step.',
      'Check the caller credentials (IRSA or instance role) and the `schedule` setting.',
    ],
    commands: [
      'curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/readyz"',
      `curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/metrics" | grep -E '^keystore_watch_(last_poll|poll_)'`,
      'aws sts get-caller-identity',
    ],
    docs: [],
  },
  KeystoreWatchPollOverdue: {
    summary: 'keystore-watch\'s watchdog reports that a poll due more than its grace ago has not started: the key store view is going stale.',
    cause: 'A poll hangs (every later tick is skipped behind it), the event loop is starved, or the scheduler stopped. The watchdog measures on the monotonic clock, so a wrong or stepped wall clock neither causes nor hides this.',
    steps: [
      'Check the watchdog and poll metrics: keystore_watch_poll_overdue, keystore_watch_polls_skipped_total, keystore_watch_poll_duration_seconds.',
      'Read the logs around the "poll overdue" line: the last "poll finished", target timeouts, "wall clock stepped".',
      'If a poll hangs, check the AWS endpoint and aws.targetTimeout; restarting the process starts polling again.',
    ],
    commands: [
      `curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/metrics" | grep -E '^keystore_watch_(poll_|polls_|clock_steps)'`,
      'kubectl logs -l app.kubernetes.io/name=keystore-watch --all-namespaces --tail=200',
    ],
    docs: [],
  },
  KeystoreWatchNotificationsFailing: {
    summary: 'keystore-watch cannot deliver notifications to a channel: alerts are queued in the outbox instead of reaching on-call.',
    cause: 'The channel rejects or cannot be reached: a revoked Slack webhook, a wrong PagerDuty routing key, a receiver down, or rate limiting.',
    steps: [
      'See which channel fails and how many notifications are pending in the metrics.',
      'Read the logs for the delivery errors (secrets are redacted).',
      'Fix the channel (rotate the webhook URL or routing key in the secret and restart), then check the outbox drains. Nothing is lost meanwhile, except notifications dead-lettered at alerting.outboxMaxAttempts / outboxMaxAge or refused for good (4xx).',
      'List pending and dead-lettered notifications (attempts, last error, next attempt) in /api/v1/outbox, and tell on-call about any dead-lettered firing that still matters.',
    ],
    commands: [
      `curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/metrics" | grep -E '^keystore_watch_(notification|outbox)'`,
      'curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/api/v1/outbox"',
      'kubectl logs -l app.kubernetes.io/name=keystore-watch --all-namespaces --tail=200',
    ],
    docs: [],
  },
  KeystoreWatchConfigReloadFailed: {
    summary: 'keystore-watch could not reload its configuration: the file on disk is invalid and the daemon still runs the previous configuration.',
    cause: 'A configuration change (a ConfigMap update, an edited file) with an error in it was reloaded by SIGHUP or POST /-/reload. The change is not in effect, and a restart would exit 2 on the same file.',
    steps: [
      'Read the daemon log lines of the failed reload: each problem is named by file and key.',
      'Check the file with check-config, fix it, and reload again (SIGHUP or POST /-/reload); keystore_watch_config_last_reload_successful returns to 1.',
      'Do not restart keystore-watch before the file is valid: it would refuse to start.',
    ],
    commands: [
      'kubectl exec deploy/keystore-watch -n keystore-watch -- keystore-watch check-config --config /etc/keystore-watch/config.yaml',
      `curl -fsS "http://$KEYSTORE_WATCH_HOST:9464/metrics" | grep -E '^keystore_watch_config_last_reload'`,
      'kubectl logs -l app.kubernetes.io/name=keystore-watch --all-namespaces --tail=200',
    ],
    docs: [],
  },
};

/** Message titles per condition (FAILED titles add the error code). */
export const CONDITION_TITLES: Record<Condition, string> = {
  FAILED: 'KMS custom key store FAILED',
  CONNECTING_TOO_LONG: 'KMS custom key store stuck in CONNECTING',
  DISCONNECTED: 'KMS custom key store DISCONNECTED',
  PROBE_FAILING: 'KMS custom key store CONNECTED but failing',
  TRUST_ANCHOR_EXPIRING: 'KMS custom key store trust anchor certificate expiring',
  CLUSTER_NOT_ACTIVE: 'CloudHSM cluster not ACTIVE',
  NO_ACTIVE_HSMS: 'CloudHSM cluster has no ACTIVE HSM',
  SINGLE_AZ: 'CloudHSM cluster HSMs in a single Availability Zone',
  HSM_DEGRADED: 'CloudHSM HSM DEGRADED',
  CLUSTER_MISSING: 'CloudHSM cluster not found',
  CLUSTER_CERT_EXPIRING: 'CloudHSM cluster certificate expiring',
  TARGET_DOWN: 'Monitoring target down: account and region not polled',
  UNKNOWN_STATE: 'KMS custom key store in a connection state keystore-watch does not know',
  FLAPPING: 'KMS custom key store flapping',
  CLUSTER_UNKNOWN_STATE: 'CloudHSM cluster or HSM in a state keystore-watch does not know',
  PROBE_NOT_PERMITTED: 'GenerateRandom probe not permitted',
  SCP_DENIED: 'Regions denied to keystore-watch by a service control policy',
  XKS_CERT_EXPIRING: 'External key store proxy TLS certificate expiring',
  XKS_CREDENTIAL_OLD: 'External key store proxy authentication credential due for rotation',
  XKS_KEY_MANAGER_UNHEALTHY: 'External key manager unhealthy',
  XKS_PROXY_UNHEALTHY: 'External key store',
  KEY_STORE_THROTTLED: 'KMS custom key store requests throttled',
  HSM_UNHEALTHY: 'CloudHSM cluster has unhealthy HSMs',
  SELF: 'keystore-watch degraded: it reports a problem with itself',
};

export const SELF_MONITORING_TITLES: Record<SelfMonitoringAlert, string> = {
  KeystoreWatchAbsent: 'keystore-watch is not being scraped',
  KeystoreWatchNotPolling: 'keystore-watch is not polling',
  KeystoreWatchPollOverdue: 'keystore-watch poll overdue',
  KeystoreWatchNotificationsFailing: 'keystore-watch notifications failing',
  KeystoreWatchConfigReloadFailed: 'keystore-watch configuration reload failed',
};
