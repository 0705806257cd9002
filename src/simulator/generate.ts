// A deterministic synthetic fleet for scale work: the same seed always yields the same
// accounts, stores and clusters (ids included); a different seed yields a different fleet.
import type { ConnectionErrorCodeType } from '@aws-sdk/client-kms';
import { BASE32ISH, HEX, pick, randomChars, seededRng } from './random.js';
import { regionInfo } from './regions.js';
import type { AccountSpec, ClusterSpec, GenerateSpec, StoreSpec } from './scenario.js';

const CLOUDHSM_ERRORS: ConnectionErrorCodeType[] = ['CLUSTER_NOT_FOUND', 'INSUFFICIENT_CLOUDHSM_HSMS', 'INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET', 'INTERNAL_ERROR', 'INVALID_CREDENTIALS', 'NETWORK_ERRORS', 'SUBNET_NOT_FOUND', 'USER_LOCKED_OUT', 'USER_LOGGED_IN', 'USER_NOT_FOUND'];
const XKS_ERRORS: ConnectionErrorCodeType[] = ['INTERNAL_ERROR', 'INVALID_CREDENTIALS', 'NETWORK_ERRORS', 'XKS_PROXY_ACCESS_DENIED', 'XKS_PROXY_INVALID_CONFIGURATION', 'XKS_PROXY_INVALID_RESPONSE', 'XKS_PROXY_INVALID_TLS_CONFIGURATION', 'XKS_PROXY_NOT_REACHABLE', 'XKS_PROXY_TIMED_OUT', 'XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION', 'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND'];
const TEAMS = ['payments', 'ledger', 'identity', 'billing', 'search', 'risk', 'data', 'platform', 'mobile', 'checkout'];
const ENVS = ['prod', 'staging', 'dev', 'dr'];
const EPOCH_2023 = Date.UTC(2023, 0, 1);
const YEAR_MS = 365 * 86_400_000;

const title = (s: string) => s[0]!.toUpperCase() + s.slice(1);

/** Generated accounts, never colliding with `taken` (the scenario's own account ids). */
export function generateFleet(spec: GenerateSpec, taken: ReadonlySet<string> = new Set()): AccountSpec[] {
  const rng = seededRng(spec.seed);
  const ids = new Set(taken);
  const accounts: AccountSpec[] = [];
  // Generated accounts have enabled every opt-in region the fleet spans.
  const optInRegions = spec.regions.filter((r) => regionInfo(r)?.optIn);
  for (let i = 0; i < spec.accounts; i++) {
    let id: string;
    do id = String(100_000_000_000 + Math.floor(rng() * 899_999_999_999)); while (ids.has(id));
    ids.add(id);
    const team = pick(rng, TEAMS);
    const env = pick(rng, ENVS);
    const name = `${team}-${env}-${i}`;
    const regions: AccountSpec['regions'] = {};
    for (const region of spec.regions) {
      // Expected value storesPerRegion: the integer part always, the fraction by chance.
      const count = Math.floor(spec.storesPerRegion) + (rng() < spec.storesPerRegion % 1 ? 1 : 0);
      if (count === 0) continue;
      const stores: StoreSpec[] = [];
      const clusters: ClusterSpec[] = [];
      for (let n = 0; n < count; n++) {
        const cloudHsm = rng() < spec.cloudHsmFraction;
        const roll = rng();
        const state = roll < spec.failedFraction ? 'FAILED' : roll < spec.failedFraction + spec.disconnectedFraction ? 'DISCONNECTED' : 'CONNECTED';
        const createdAt = EPOCH_2023 + Math.floor(rng() * 2 * YEAR_MS / 1000) * 1000;
        const store: StoreSpec = {
          id: `cks-${randomChars(rng, HEX, 17)}`,
          name: `${team}-${cloudHsm ? 'hsm' : 'xks'}-${region}-${n}`,
          type: cloudHsm ? 'AWS_CLOUDHSM' : 'EXTERNAL_KEY_STORE',
          state,
          errorCode: state === 'FAILED' ? pick(rng, cloudHsm ? CLOUDHSM_ERRORS : XKS_ERRORS) : null,
          createdAt,
        };
        if (cloudHsm) {
          const clusterId = `cluster-${randomChars(rng, BASE32ISH, 11)}`;
          store.clusterId = clusterId;
          const hsms = Array.from({ length: spec.hsmsPerCluster }, (_, h) => ({
            id: `hsm-${randomChars(rng, BASE32ISH, 11)}`,
            az: `${region}${'abc'[h % 3]}`,
            state: 'ACTIVE' as const,
          }));
          clusters.push({ id: clusterId, state: 'ACTIVE', hsms, hsmType: 'hsm1.medium', createdAt });
        } else {
          store.xks = {
            connectivity: rng() < 0.5 ? 'PUBLIC_ENDPOINT' : 'VPC_ENDPOINT_SERVICE',
            uriEndpoint: `https://xks-${n}.${team}.example.com`,
            uriPath: `/kms/xks/v1`,
            accessKeyId: randomChars(rng, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 20),
          };
        }
        stores.push(store);
      }
      regions[region] = { stores, clusters };
    }
    accounts.push({
      id,
      name,
      email: `aws+${name}@example.com`,
      status: rng() < spec.suspendedFraction ? 'SUSPENDED' : 'ACTIVE',
      denyAssumeRole: false,
      optInRegions,
      roles: {},
      missingPermissions: [],
      // No extra random draws: the same seed still yields the same accounts and stores as before.
      ou: `/${title(env)}/${title(team)}`,
      tags: { owner: team, environment: env },
      joinedAt: EPOCH_2023 + Math.floor(rng() * YEAR_MS / 1000) * 1000,
      regions,
    });
  }
  return accounts;
}
